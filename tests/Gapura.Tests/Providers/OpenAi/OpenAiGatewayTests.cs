using System.Text.Json;
using Gapura.Simulators.OpenAi;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Providers.OpenAi;

/// <summary>
/// GATEWAY-LEVEL (the one such test here): a gateway configured with OpenAI and a compatible server starts,
/// lists their models beside Kiro's, and still answers Kiro models through Kiro. Chat through the OpenAI
/// providers from the front doors waits for the pipeline's multi-provider dispatch (another branch); the
/// providers themselves are tested directly in this folder and in ../Compatible.
/// </summary>
public class OpenAiGatewayTests
{
    [Fact]
    public async Task Configured_openai_and_compatible_models_are_listed_and_kiro_still_answers()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        var gateway = new GatewayFixture();
        gateway.Settings.AddRange(
        [
            $"--Providers:OpenAI:ApiKey={OpenAiSimulatorOptions.DefaultApiKey}",
            $"--Providers:OpenAI:BaseUrl={sim.ApiBaseUrl}",
            $"--Providers:Compatible:ollama:BaseUrl={sim.ApiBaseUrl}",
            "--Providers:Compatible:ollama:Models=llama3.2",
        ]);
        await gateway.InitializeAsync();
        try
        {
            using var http = gateway.Http();
            using var models = JsonDocument.Parse(await http.GetStringAsync("/v1/models"));
            var ids = models.RootElement.GetProperty("data").EnumerateArray().Select(m => m.GetProperty("id").GetString()).ToList();
            Assert.Contains(ids, id => id!.EndsWith("gpt-4o", StringComparison.Ordinal));
            Assert.Contains(ids, id => id!.EndsWith("llama3.2", StringComparison.Ordinal));
            Assert.DoesNotContain(ids, id => id!.Contains("whisper", StringComparison.Ordinal));
            Assert.Contains(ids, id => id!.Contains("claude", StringComparison.Ordinal));
            // The OpenAI key never reaches a log line.
            Assert.DoesNotContain(gateway.Logs.Lines, l => l.Contains(OpenAiSimulatorOptions.DefaultApiKey, StringComparison.Ordinal));

            using var chat = await http.PostAsync("/v1/chat/completions", new StringContent(
                """{"model":"claude-sonnet-4.5","messages":[{"role":"user","content":"still Kiro?"}]}""", System.Text.Encoding.UTF8, "application/json"));
            Assert.True(chat.IsSuccessStatusCode, await chat.Content.ReadAsStringAsync());
            Assert.Equal(0, sim.ChatCalls);
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }
}
