using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Gapura.Simulators.Kiro;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Matrix;

/// <summary>
/// The client matrix: popular client libraries no one here wrote (tests/e2e/package.json pins them), each driven through
/// every scenario by tests/e2e/matrix/clients.mjs against a real gateway over the Kiro simulator. Each case checks what
/// the client got and what the upstream received; one node process runs all of a client's scenarios.
/// </summary>
public class ClientMatrixTests(ClientMatrixTests.Fixture fixture) : IClassFixture<ClientMatrixTests.Fixture>
{
    public static readonly string[] Clients =
    [
        "openai-chat", "openai-responses", "anthropic-sdk",
        "ai-sdk-openai-responses", "ai-sdk-openai-chat", "ai-sdk-anthropic", "ai-sdk-openai-compatible",
        "langchain-openai", "langchain-anthropic",
    ];

    public static readonly string[] Scenarios = ["text", "stream", "tools", "parallel_tools", "structured", "image", "thinking", "error", "keepalive"];

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var client in Clients)
            foreach (var scenario in Scenarios) data.Add(client, scenario);
        return data;
    }

    /// <summary>One gateway for the matrix, with keep-alives every second so a 2.5 s silence carries some.</summary>
    public sealed class Fixture : IAsyncLifetime
    {
        private readonly ConcurrentDictionary<string, Lazy<Task<Dictionary<string, JsonObject>>>> _runs = new();

        public GatewayFixture Gateway { get; } = new();

        public Task InitializeAsync()
        {
            Gateway.Settings.Add("--Gateway:KeepAliveSeconds=1");
            return Gateway.InitializeAsync();
        }

        public Task DisposeAsync() => Gateway.DisposeAsync();

        /// <summary>The client's results by scenario, from its one run of the driver.</summary>
        public Task<Dictionary<string, JsonObject>> ResultsAsync(string client)
            => _runs.GetOrAdd(client, c => new Lazy<Task<Dictionary<string, JsonObject>>>(() => RunAsync(c))).Value;

        private async Task<Dictionary<string, JsonObject>> RunAsync(string client)
        {
            var e2e = Path.Combine(ClaudeCodeEndToEndTests.RepositoryRoot(), "tests", "e2e");
            var start = new ProcessStartInfo("node", ["matrix/clients.mjs", client, Gateway.BaseUrl, GatewayFixture.ApiKey, Wire.Model])
            {
                WorkingDirectory = e2e,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
            };
            var (exit, stdout, stderr) = await ClientProcess.RunAsync(start, TimeSpan.FromSeconds(150), $"client matrix driver ({client})");
            Assert.True(exit == 0, $"the driver for {client} exited with {exit}: {stderr}");
            var results = new Dictionary<string, JsonObject>();
            foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                if (line.StartsWith('{') && JsonNode.Parse(line) is JsonObject result) results[result["scenario"]!.GetValue<string>()] = result;
            return results;
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Client_scenario(string client, string scenario)
    {
        var results = await fixture.ResultsAsync(client);
        Assert.True(results.TryGetValue(scenario, out var result), $"{client} reported nothing for {scenario}");
        var got = result["got"] as JsonObject;
        if (scenario != "error") Assert.True(result["ok"]!.GetValue<bool>(), $"{client}/{scenario} failed in the client: {result["error"]}");
        var marker = $"[case:{client}/{scenario}]";
        var sent = SentToKiro(marker);

        switch (scenario)
        {
            case "text" or "stream" or "keepalive" or "image":
                Assert.Contains(KiroDefaultResponder.Greeting, Text(got));
                Assert.Contains(marker, Text(got)); // the simulated model echoes the prompt's end: the answer is this request's
                Assert.NotEmpty(sent);
                if (scenario == "stream") Assert.True(got!["chunks"]!.GetValue<int>() >= 2, $"{client}: the answer arrived in one piece, not streamed");
                if (scenario == "image")
                {
                    var images = sent[0]["conversationState"]!["currentMessage"]!["userInputMessage"]!["images"]!.AsArray();
                    Assert.Equal("png", Assert.Single(images)!["format"]!.GetValue<string>());
                    Assert.Equal(Png, images[0]!["source"]!["bytes"]!.GetValue<string>());
                }
                break;
            case "tools":
                Assert.Contains(KiroDefaultResponder.ToolEcho + "Jakarta: 31 degrees", Text(got));
                Assert.Equal(2, got!["steps"]?.GetValue<int>() ?? 2);
                Assert.Contains(sent, r => ToolResults(r).Any(t => t.Contains("Jakarta: 31 degrees")));
                break;
            case "parallel_tools":
                Assert.Contains(KiroDefaultResponder.ToolEcho, Text(got));
                // Both calls' results went back to the model in one turn, as parallel calls must.
                Assert.Contains(sent, r => ToolResults(r).Count == 2 && ToolResults(r).Any(t => t.Contains("Oslo")) && ToolResults(r).Any(t => t.Contains("Lima")));
                break;
            case "structured":
                var answer = got!["object"]!;
                Assert.Equal("simulated city", answer["city"]!.GetValue<string>());
                Assert.Equal(1, answer["celsius"]!.GetValue<double>());
                // The upstream was made to answer through a forced tool with the requested schema.
                var tools = sent[0]["conversationState"]!["currentMessage"]!["userInputMessage"]!["userInputMessageContext"]!["tools"]!.AsArray();
                Assert.Contains(tools, t => t!["toolSpecification"]!["inputSchema"]!["json"]!["properties"]?["celsius"] is not null);
                break;
            case "thinking" when client == "ai-sdk-openai-chat":
                // @ai-sdk/openai's chat model reads no reasoning_content (OpenAI's chat API has none): the thinking happens
                // upstream and the answer comes back clean of it; its Responses model and openai-compatible show it.
                Assert.Equal("", got!["reasoning"]?.GetValue<string>());
                Assert.DoesNotContain("<thinking>", Text(got));
                Assert.Contains("<thinking_mode>enabled</thinking_mode>", CurrentContent(sent[0]));
                break;
            case "thinking":
                Assert.False(string.IsNullOrWhiteSpace(got!["reasoning"]?.GetValue<string>()), $"{client}: no reasoning came back: {result} — Kiro got: {(sent.Count > 0 ? CurrentContent(sent[0])[..Math.Min(300, CurrentContent(sent[0]).Length)] : "nothing")}");
                Assert.DoesNotContain("<thinking>", Text(got));
                Assert.Contains("<thinking_mode>enabled</thinking_mode>", CurrentContent(sent[0]));
                break;
            case "error":
                Assert.Null(got?["error"]); // a thrown error, not a success
                var status = got?["status"]?.GetValue<int?>() ?? result["status"]?.GetValue<int?>();
                Assert.True(status is 400 or 404, $"{client}: an unknown model should be a 400/404 the client raises, got {status}: {result}");
                Assert.Contains("no-such-model-anywhere", got?["message"]?.GetValue<string>() ?? result["error"]!.GetValue<string>());
                Assert.Empty(sent); // refused before any upstream call
                break;
        }
    }

    private const string Png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

    private static string Text(JsonObject? got) => got?["text"]?.GetValue<string>() ?? "";

    /// <summary>The Kiro requests of one case: those whose conversation holds the case's marker, in order.</summary>
    private List<JsonNode> SentToKiro(string marker)
        => [.. fixture.Gateway.Kiro.ChatRequests.Where(r => r.Body.Contains(marker, StringComparison.Ordinal)).Select(r => r.Json!)];

    private static string CurrentContent(JsonNode request)
        => request["conversationState"]!["currentMessage"]!["userInputMessage"]!["content"]!.GetValue<string>();

    private static List<string> ToolResults(JsonNode request)
        => request["conversationState"]!["currentMessage"]!["userInputMessage"]!["userInputMessageContext"]?["toolResults"]?.AsArray()
            .Select(t => t!.ToJsonString()).ToList() ?? [];
}
