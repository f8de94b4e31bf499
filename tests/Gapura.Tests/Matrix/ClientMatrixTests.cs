using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Gapura.Simulators.Anthropic;
using Gapura.Simulators.Kiro;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Matrix;

/// <summary>
/// The client matrix: popular client libraries no one here wrote (tests/e2e/package.json pins them), each driven through
/// every scenario by tests/e2e/matrix/clients.mjs against a real gateway, over each upstream row (Kiro; Anthropic, a
/// native provider the Anthropic door reaches by passthrough and the OpenAI doors by translation). Each case checks what
/// the client got and what the upstream received; one node process runs all of a client's scenarios.
/// </summary>
public abstract class ClientMatrixTests<TRow>(TRow row) where TRow : MatrixRow
{
    public static readonly string[] Clients =
    [
        "openai-chat", "openai-responses", "anthropic-sdk",
        "ai-sdk-openai-responses", "ai-sdk-openai-chat", "ai-sdk-anthropic", "ai-sdk-openai-compatible",
        "langchain-openai", "langchain-anthropic",
        "claude-code", "codex-cli", "opencode",
    ];

    /// <summary>Scenarios a client does not offer at all, left out of the matrix (docs/clients.md says why).</summary>
    public static readonly HashSet<(string Client, string Scenario)> NotOffered = [("opencode", "structured")];

    public static readonly string[] Scenarios = ["text", "stream", "tools", "parallel_tools", "structured", "image", "thinking", "error", "keepalive"];

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var client in Clients)
            foreach (var scenario in Scenarios)
                if (!NotOffered.Contains((client, scenario))) data.Add(client, scenario);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Client_scenario(string client, string scenario)
    {
        var results = await row.ResultsAsync(client);
        Assert.True(results.TryGetValue(scenario, out var result), $"{client} reported nothing for {scenario}");
        var got = result["got"] as JsonObject;
        // A library reports a refused request by throwing; a CLI's run of the error scenario completes, showing the refusal.
        if (scenario != "error" || MatrixRow.Clis.ContainsKey(client))
            Assert.True(result["ok"]!.GetValue<bool>(), $"{client}/{scenario} failed in the client: {result["error"]}");
        var marker = $"[case:{client}/{scenario}]";
        var sent = row.Sent(marker);

        switch (scenario)
        {
            case "text" or "stream" or "keepalive" or "image":
                Assert.Contains(row.Greeting, Text(got));
                Assert.Contains(marker, Text(got)); // the simulated model echoes the prompt: the answer is this request's
                Assert.NotEmpty(sent);
                if (scenario == "stream") AssertStreamed(client, got!);
                if (scenario == "image") Assert.Contains(MatrixRow.Png, sent.Select(row.ImageData));
                break;
            case "tools":
                // What the tool returned came back in the model's answer (a CLI may frame its command's output).
                var echoed = Text(got).IndexOf(MatrixRow.ToolEcho, StringComparison.Ordinal);
                Assert.True(echoed >= 0, $"{client}: the answer does not quote the tool result: {Text(got)}");
                Assert.Contains("Jakarta: 31 degrees", Text(got)[echoed..]);
                Assert.Equal(2, got!["steps"]?.GetValue<int>() ?? 2);
                Assert.Contains(sent, r => row.ToolResults(r).Any(t => t.Contains("Jakarta: 31 degrees")));
                break;
            case "parallel_tools":
                Assert.Contains(MatrixRow.ToolEcho, Text(got));
                // Both calls' results went back to the model in one turn, as parallel calls must.
                Assert.Contains(sent, r => row.ToolResults(r) is { Count: 2 } results && results.Any(t => t.Contains("Oslo")) && results.Any(t => t.Contains("Lima")));
                break;
            case "structured":
                var answer = got!["object"]!;
                Assert.Equal("simulated city", answer["city"]!.GetValue<string>());
                Assert.Equal(1, answer["celsius"]!.GetValue<double>());
                Assert.True(sent.Any(row.AskedForSchema), $"{client}: the upstream was not asked for the schema: {Shown(sent)}");
                break;
            case "thinking" when client == "ai-sdk-openai-chat":
                // @ai-sdk/openai's chat model reads no reasoning_content (OpenAI's chat API has none): the thinking happens
                // upstream and the answer comes back clean of it; its Responses model and openai-compatible show it.
                Assert.Equal("", got!["reasoning"]?.GetValue<string>());
                Assert.DoesNotContain("<thinking>", Text(got));
                Assert.Contains(sent, row.ThinkingRequested);
                break;
            case "thinking":
                Assert.False(string.IsNullOrWhiteSpace(got!["reasoning"]?.GetValue<string>()), $"{client}: no reasoning came back: {result}");
                Assert.DoesNotContain("<thinking>", Text(got));
                Assert.True(sent.Any(row.ThinkingRequested), $"{client}: the upstream was not asked to think");
                break;
            case "error":
                Assert.Null(got?["error"]); // a thrown error, not a success
                var status = got?["status"]?.GetValue<int?>() ?? result["status"]?.GetValue<int?>();
                var message = got?["message"]?.GetValue<string>() ?? result["error"]!.GetValue<string>();
                if (MatrixRow.Clis.ContainsKey(client))
                {
                    // A CLI shows the gateway's refusal and fails; Codex prints the error body without its status.
                    Assert.True(got!["exit"]?.GetValue<int?>() is not (null or 0), $"{client} exited 0 after a refused request: {result}");
                    if (status is null) Assert.Contains("invalid_request_error", message);
                }
                else Assert.True(status is 400 or 404, $"{client}: an unknown model should be a 400/404 the client raises, got {status}: {result}");
                if (status is not null) Assert.True(status is 400 or 404, $"{client}: an unknown model should be a 400/404, got {status}: {result}");
                Assert.Contains("no-such-model-anywhere", message);
                Assert.Empty(sent); // refused before any upstream call
                break;
        }
    }

    /// <summary>
    /// The answer arrived in pieces. The CLIs that print whole messages (Codex, opencode) always ask for a stream; that they
    /// got one is what the ledger recorded for their requests.
    /// </summary>
    private void AssertStreamed(string client, JsonObject got)
    {
        if (got["chunks"] is { } chunks)
        {
            Assert.True(chunks.GetValue<int>() >= 2, $"{client}: the answer arrived in one piece, not streamed");
            return;
        }
        Assert.True(MatrixRow.Clis.TryGetValue(client, out var app), $"{client} reported no chunk count");
        var records = row.Gateway.UsageRecords.Values.Where(r => r.Client == app).ToList();
        Assert.NotEmpty(records);
        Assert.All(records, r => Assert.True(r.Stream, $"{client} sent a request that was answered without streaming"));
    }

    private static string Shown(List<JsonNode> sent)
        => sent.Count == 0 ? "(nothing)" : sent[0].ToJsonString()[..Math.Min(600, sent[0].ToJsonString().Length)];

    private static string Text(JsonObject? got) => got?["text"]?.GetValue<string>() ?? "";
}

public class KiroClientMatrixTests(KiroMatrixRow row) : ClientMatrixTests<KiroMatrixRow>(row), IClassFixture<KiroMatrixRow>;

public class AnthropicClientMatrixTests(AnthropicMatrixRow row) : ClientMatrixTests<AnthropicMatrixRow>(row), IClassFixture<AnthropicMatrixRow>;

/// <summary>One gateway and upstream for a row of the matrix, with keep-alives every second so a 2.5 s silence carries some.</summary>
public abstract class MatrixRow : IAsyncLifetime
{
    /// <summary>A 1×1 PNG, as clients.mjs sends it: the upstream must receive it byte for byte.</summary>
    public const string Png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

    /// <summary>How both simulated models answer a tool result.</summary>
    public const string ToolEcho = "Tool said: ";

    /// <summary>The coding-agent CLIs (tests/e2e/matrix/clis.mjs), by the name the ledger knows them by.</summary>
    public static readonly Dictionary<string, string> Clis = new()
    {
        ["claude-code"] = Gapura.Ledger.ClientApps.ClaudeCode,
        ["codex-cli"] = Gapura.Ledger.ClientApps.CodexCli,
        ["opencode"] = Gapura.Ledger.ClientApps.OpenCode,
    };


    private readonly ConcurrentDictionary<string, Lazy<Task<Dictionary<string, JsonObject>>>> _runs = new();

    public GatewayFixture Gateway { get; } = new();

    /// <summary>The model name the clients ask for.</summary>
    protected abstract string Model { get; }

    /// <summary>How the simulated model's plain answer begins.</summary>
    public abstract string Greeting { get; }

    /// <summary>The upstream requests of one case: those whose conversation holds the case's marker, in order.</summary>
    public abstract List<JsonNode> Sent(string marker);

    /// <summary>The one image the request carries (base64), or null when it carries none.</summary>
    public abstract string? ImageData(JsonNode request);

    public abstract List<string> ToolResults(JsonNode request);

    public abstract bool AskedForSchema(JsonNode request);

    public abstract bool ThinkingRequested(JsonNode request);

    protected virtual Task StartUpstreamAsync() => Task.CompletedTask;

    protected virtual Task StopUpstreamAsync() => Task.CompletedTask;

    public async Task InitializeAsync()
    {
        await StartUpstreamAsync();
        Gateway.Settings.Add("--Gateway:KeepAliveSeconds=1");
        await Gateway.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await StopUpstreamAsync();
    }

    /// <summary>The client's results by scenario, from its one run of the driver.</summary>
    public Task<Dictionary<string, JsonObject>> ResultsAsync(string client)
        => _runs.GetOrAdd(client, c => new Lazy<Task<Dictionary<string, JsonObject>>>(() => RunAsync(c))).Value;

    private async Task<Dictionary<string, JsonObject>> RunAsync(string client)
    {
        var e2e = Path.Combine(ClaudeCodeEndToEndTests.RepositoryRoot(), "tests", "e2e");
        var start = new ProcessStartInfo("node", ["matrix/clients.mjs", client, Gateway.BaseUrl, GatewayFixture.ApiKey, Model])
        {
            WorkingDirectory = e2e,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        // A CLI starts a process per scenario (three at a time): opencode alone takes 5–12 s of CPU for each.
        var limit = TimeSpan.FromSeconds(Clis.ContainsKey(client) ? 600 : 150);
        var (exit, stdout, stderr) = await ClientProcess.RunAsync(start, limit, $"client matrix driver ({client})");
        Assert.True(exit == 0, $"the driver for {client} exited with {exit}: {stderr}");
        var results = new Dictionary<string, JsonObject>();
        foreach (var line in stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            if (line.StartsWith('{') && JsonNode.Parse(line) is JsonObject result) results[result["scenario"]!.GetValue<string>()] = result;
        return results;
    }
}

/// <summary>Kiro: every door translated into Kiro's conversation state; structured output through the forced answer tool.</summary>
public sealed class KiroMatrixRow : MatrixRow
{
    protected override string Model => Wire.Model;

    public override string Greeting => KiroDefaultResponder.Greeting;

    public override List<JsonNode> Sent(string marker)
        => [.. Gateway.Kiro.ChatRequests.Where(r => r.Body.Contains(marker, StringComparison.Ordinal)).Select(r => r.Json!)];

    private static JsonNode Current(JsonNode request) => request["conversationState"]!["currentMessage"]!["userInputMessage"]!;

    public override string? ImageData(JsonNode request)
    {
        if (Current(request)["images"]?.AsArray() is not [{ } image]) return null;
        Assert.Equal("png", image["format"]!.GetValue<string>());
        return image["source"]!["bytes"]!.GetValue<string>();
    }

    public override List<string> ToolResults(JsonNode request)
        => Current(request)["userInputMessageContext"]?["toolResults"]?.AsArray().Select(t => t!.ToJsonString()).ToList() ?? [];

    public override bool AskedForSchema(JsonNode request)
        => Current(request)["userInputMessageContext"]?["tools"]?.AsArray()
            .Any(t => t!["toolSpecification"]!["inputSchema"]!["json"]!["properties"]?["celsius"] is not null) == true;

    public override bool ThinkingRequested(JsonNode request)
        => Current(request)["content"]!.GetValue<string>().Contains("<thinking_mode>enabled</thinking_mode>", StringComparison.Ordinal);
}

/// <summary>Anthropic's API (simulated): the Anthropic door relays bodies unchanged, the OpenAI doors are translated.</summary>
public sealed class AnthropicMatrixRow : MatrixRow
{
    private AnthropicSimulator _anthropic = null!;

    protected override string Model => "anthropic/claude-sonnet-4-5";

    public override string Greeting => "Echo: ";

    protected override async Task StartUpstreamAsync()
    {
        _anthropic = await AnthropicSimulator.StartAsync();
        Gateway.Settings.Add($"--Providers:Anthropic:ApiKey={_anthropic.ApiKey}");
        Gateway.Settings.Add($"--Providers:Anthropic:BaseUrl={_anthropic.BaseUrl}");
    }

    protected override async Task StopUpstreamAsync() => await _anthropic.DisposeAsync();

    public override List<JsonNode> Sent(string marker)
        => [.. _anthropic.MessageRequests.Where(r => r.Body.Contains(marker, StringComparison.Ordinal)).Select(r => JsonNode.Parse(r.Body)!)];

    private static IEnumerable<JsonObject> Blocks(JsonNode request)
        => request["messages"]!.AsArray().SelectMany(m => m!["content"] as JsonArray ?? []).OfType<JsonObject>();

    public override string? ImageData(JsonNode request)
        => Blocks(request).SingleOrDefault(b => (string?)b["type"] == "image")?["source"]!["data"]!.GetValue<string>();

    public override List<string> ToolResults(JsonNode request)
        => request["messages"]!.AsArray()[^1]!["content"] is JsonArray last
            ? [.. last.OfType<JsonObject>().Where(b => (string?)b["type"] == "tool_result").Select(b => b.ToJsonString())]
            : [];

    public override bool AskedForSchema(JsonNode request)
        => (request["output_config"]?["format"] ?? request["output_format"])?["schema"]?["properties"]?["celsius"] is not null
            || request["tools"]?.AsArray().Any(t => t!["input_schema"]?["properties"]?["celsius"] is not null) == true;

    public override bool ThinkingRequested(JsonNode request) => (string?)request["thinking"]?["type"] is "enabled" or "adaptive";
}
