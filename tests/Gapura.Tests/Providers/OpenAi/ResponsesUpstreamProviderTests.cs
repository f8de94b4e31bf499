using System.Text;
using System.Text.Json.Nodes;
using Gapura.Conversations;
using Gapura.Formats;
using Gapura.Providers;
using Gapura.Providers.OpenAi;
using Gapura.Simulators.OpenAi;
using static Gapura.Tests.Providers.OpenAi.OpenAiTestKit;

namespace Gapura.Tests.Providers.OpenAi;

/// <summary>
/// The provider over the Responses API, against the simulator over real sockets — in particular the stream-only
/// endpoint a ChatGPT sign-in uses (the simulator's Codex backend, which refuses anything but its own shape).
/// </summary>
public class ResponsesUpstreamProviderTests
{
    /// <summary>What a per-user sign-in does: the same provider, another endpoint for the call.</summary>
    private sealed class SignedInProvider(ChatCompletionsClient client, OpenAiEndpoint endpoint)
        : ChatCompletionsProvider(client, ProcessAccounts(client), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)
    {
        protected internal override OpenAiEndpoint EndpointFor(Gapura.Providers.Accounts.AccountSecret secret) => endpoint;
    }

    private static SignedInProvider CodexProvider(OpenAiSimulator sim, OpenAiEndpoint? endpoint = null)
        => new(Client(Account(sim.ApiBaseUrl) with { Api = OpenAiApi.Responses }),
            endpoint ?? OpenAiEndpoint.ChatGptCodex(sim.CodexBackendUrl, OpenAiSimulatorOptions.DefaultChatGptAccessToken, OpenAiSimulatorOptions.DefaultChatGptAccountId));

    private static PassthroughRequest Passthrough(string body, bool stream, string model = "gpt-5")
        => new(FrontDoors.OpenAiResponses, Encoding.UTF8.GetBytes(body), new Dictionary<string, string>(), Model(model), new ChatContext(), stream);

    [Fact]
    public async Task Stream_only_endpoint_gets_its_shape_and_the_gateway_enforces_the_cap_it_refuses()
    {
        await using var sim = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions { Split = OpenAiSplit.Random });
        var result = await ChatResultBuilder.CollectAsync(
            CodexProvider(sim).StreamAsync(Ask("one two three four five six seven eight", maxTokens: 4) with { Stream = false }, Model("gpt-5"), new ChatContext(), default), default);

        Assert.Equal(StopReason.MaxTokens, result.StopReason);
        Assert.StartsWith("Hello from", result.Text);
        Assert.DoesNotContain("eight", result.Text);
        var sent = Assert.Single(sim.CodexBackendRequests);
        Assert.Equal("Bearer " + OpenAiSimulatorOptions.DefaultChatGptAccessToken, sent.Header("Authorization"));
        Assert.Equal(OpenAiSimulatorOptions.DefaultChatGptAccountId, sent.Header("chatgpt-account-id"));
        Assert.Equal("codex_cli_rs", sent.Header("originator"));
        Assert.Empty(sim.ResponsesRequests);
    }

    [Fact]
    public async Task A_non_streaming_client_is_served_from_the_stream_of_a_stream_only_endpoint()
    {
        await using var sim = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions { Split = OpenAiSplit.Random });
        var body = """{"model":"openai/gpt-5", "instructions":"Be Codex.","input":"hello codex","stream":false,"x_keep":{"a":[1,2.50]}}""";
        var provider = CodexProvider(sim);
        Assert.True(provider.CanPassThrough(FrontDoors.OpenAiResponses));
        Assert.False(provider.CanPassThrough(FrontDoors.OpenAiChat));

        await using var response = await provider.SendAsync(Passthrough(body, stream: false), default);
        Assert.Equal(200, response.Status);
        Assert.Equal("application/json", response.ContentType);
        var whole = JsonNode.Parse(await new StreamReader(response.Body).ReadToEndAsync())!;
        Assert.Equal("completed", (string?)whole["status"]);
        Assert.Equal(OpenAiDefaultResponder.Greeting + "hello codex", (string?)whole["output"]![0]!["content"]![0]!["text"]);
        Assert.True((int)whole["usage"]!["output_tokens"]! > 0);

        // Only the model, stream and store changed; every other byte is the client's.
        var expected = """{"store":false,"model":"gpt-5", "instructions":"Be Codex.","input":"hello codex","stream":true,"x_keep":{"a":[1,2.50]}}""";
        Assert.Equal(expected, Assert.Single(sim.CodexBackendRequests).Body);
    }

    [Fact]
    public async Task A_failure_in_the_collected_stream_is_an_error_before_the_first_byte()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        sim.Enqueue(new OpenAiScenario { Answer = new OpenAiAnswer { Text = ["par", "tial"], Failure = ("rate_limit_exceeded", "Usage limit reached for this plan.") } });
        var e = await Assert.ThrowsAsync<GatewayException>(() => CodexProvider(sim).SendAsync(Passthrough("""{"model":"gpt-5","instructions":"","input":"x"}""", stream: false), default));
        Assert.Equal(ErrorKind.RateLimited, e.Kind);
        Assert.Contains("Usage limit reached", e.Message);
    }

    [Fact]
    public async Task The_codex_backend_refuses_what_it_refuses_and_the_refusal_reaches_the_caller()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        // The same backend, without the stream-only flag: the client's stream:false goes out and comes back refused.
        var plain = new OpenAiEndpoint(sim.CodexBackendUrl, OpenAiSimulatorOptions.DefaultChatGptAccessToken,
            new Dictionary<string, string> { ["chatgpt-account-id"] = OpenAiSimulatorOptions.DefaultChatGptAccountId }) { Api = OpenAiApi.Responses };
        var e = await Assert.ThrowsAsync<GatewayException>(() => CodexProvider(sim, plain).SendAsync(
            Passthrough("""{"model":"gpt-5","instructions":"","input":"x","stream":false,"store":false}""", stream: false), default));
        Assert.Equal(400, e.Status);
        Assert.Contains("Stream must be set to true", e.Message);

        using var http = new HttpClient();
        async Task<(int, string)> Post(string body, string? account = OpenAiSimulatorOptions.DefaultChatGptAccountId)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, sim.CodexBackendUrl + "/responses") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            request.Headers.Authorization = new("Bearer", OpenAiSimulatorOptions.DefaultChatGptAccessToken);
            if (account is not null) request.Headers.Add("chatgpt-account-id", account);
            using var response = await http.SendAsync(request);
            return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        Assert.Equal((400, """{"detail":"Store must be set to false"}"""), await Post("""{"model":"gpt-5","instructions":"","input":"x","stream":true}"""));
        Assert.Equal((400, """{"detail":"Instructions are required"}"""), await Post("""{"model":"gpt-5","input":"x","stream":true,"store":false}"""));
        Assert.Equal((400, """{"detail":"Unsupported parameter: max_output_tokens"}"""),
            await Post("""{"model":"gpt-5","instructions":"","input":"x","stream":true,"store":false,"max_output_tokens":5}"""));
        Assert.Equal(403, (await Post("""{"model":"gpt-5","instructions":"","input":"x","stream":true,"store":false}""", account: null)).Item1);
    }
}
