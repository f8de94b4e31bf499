using System.Net;
using Gapura.Providers;
using Gapura.Simulators.OpenAi;
using Gapura.Tests.Integration;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gapura.Tests.Providers;

/// <summary>
/// <c>MaxAttempts=1</c> means no retry: the upstream is called once, and a failure is reported as the upstream's
/// error (not an internal 500 from a retry strategy that cannot have zero retries).
/// </summary>
public class SingleAttemptTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(0)]
    public void One_attempt_or_fewer_builds_a_pipeline_without_retry(int attempts)
    {
        var pipeline = UpstreamRetry.Build("test", attempts, 10, 1, NullLogger.Instance);
        var calls = 0;
        using var answer = pipeline.Execute(() =>
        {
            calls++;
            return new HttpResponseMessage(HttpStatusCode.ServiceUnavailable);
        });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, answer.StatusCode);
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task A_gateway_with_one_attempt_answers_and_calls_the_upstream_once_on_a_503()
    {
        await using var openAi = await OpenAiSimulator.StartAsync();
        await using var compatible = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions { RequireAuth = false, Models = [new("llama3.2", "library")] });
        var gateway = new GatewayFixture();
        gateway.Settings.AddRange(
        [
            $"--Providers:OpenAI:ApiKey={OpenAiSimulatorOptions.DefaultApiKey}",
            $"--Providers:OpenAI:BaseUrl={openAi.ApiBaseUrl}",
            "--Providers:OpenAI:MaxAttempts=1",
            "--Providers:OpenAI:RetryBaseDelayMilliseconds=10",
            $"--Providers:Compatible:ollama:BaseUrl={compatible.ApiBaseUrl}",
            "--Providers:Compatible:ollama:Models=llama3.2",
            "--Providers:Compatible:ollama:MaxAttempts=1",
            "--Providers:Compatible:ollama:RetryBaseDelayMilliseconds=10",
        ]);
        await gateway.InitializeAsync();
        try
        {
            using var http = gateway.Http();
            foreach (var (sim, model) in new[] { (openAi, "openai/gpt-4o"), (compatible, "ollama/llama3.2") })
            {
                // Translated (Anthropic door) and passed through (chat door): one call each, the 503 reported as it came.
                sim.Enqueue(OpenAiScenario.Overloaded());
                var (refused, body) = await Wire.SendAsync(http, Wire.Anthropic($$"""{"model":"{{model}}","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}"""));
                Assert.True(refused.StatusCode != HttpStatusCode.InternalServerError, body);
                Assert.Equal(1, sim.ChatCalls);

                sim.Enqueue(OpenAiScenario.Overloaded());
                (refused, body) = await Wire.SendAsync(http, Wire.OpenAi($$"""{"model":"{{model}}","messages":[{"role":"user","content":"hi"}]}"""));
                Assert.True(refused.StatusCode == HttpStatusCode.ServiceUnavailable, $"{(int)refused.StatusCode}: {body}");
                Assert.Equal(2, sim.ChatCalls);

                var (answered, text) = await Wire.SendAsync(http, Wire.OpenAi($$"""{"model":"{{model}}","messages":[{"role":"user","content":"hi"}]}"""));
                Assert.True(answered.StatusCode == HttpStatusCode.OK, text);
                Assert.Equal(3, sim.ChatCalls);
            }
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }
}
