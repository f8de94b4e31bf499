using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Simulators.Copilot;
using Gapura.Simulators.OpenAi;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Providers.Copilot;

/// <summary>A real gateway configured with a Copilot account in front of the Copilot simulator.</summary>
public sealed class CopilotGateway : IAsyncLifetime
{
    public CopilotSimulator Copilot { get; private set; } = null!;
    public GatewayFixture Gateway { get; } = new();
    public string GitHubToken { get; private set; } = "";

    public async Task InitializeAsync()
    {
        Copilot = await CopilotSimulator.StartAsync();
        GitHubToken = Copilot.IssueGitHubToken();
        Gateway.Settings.AddRange(Settings(Copilot, GitHubToken));
        await Gateway.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Copilot.DisposeAsync();
    }

    public static string[] Settings(CopilotSimulator sim, string githubToken) =>
    [
        $"--Providers:Copilot:GitHubToken={githubToken}",
        $"--Providers:Copilot:GitHubBaseUrl={sim.BaseUrl}",
        $"--Providers:Copilot:GitHubApiBaseUrl={sim.BaseUrl}",
        "--Providers:Copilot:RetryBaseDelayMilliseconds=10",
    ];
}

/// <summary>
/// Copilot through the gateway's front doors: OpenAI chat (passthrough) and Anthropic messages (translated),
/// streamed and not, a tool round trip, the model list, and a refused GitHub sign-in in each caller's format.
/// </summary>
public sealed class CopilotGatewayTests(CopilotGateway fixture) : IClassFixture<CopilotGateway>
{
    private CopilotSimulator Sim => fixture.Copilot;

    [Fact]
    public async Task Models_lists_copilot_chat_models_with_context_window_and_output_cap()
    {
        using var http = fixture.Gateway.Http();
        using var models = JsonDocument.Parse(await http.GetStringAsync("/v1/models"));
        var byId = models.RootElement.GetProperty("data").EnumerateArray().ToDictionary(m => m.GetProperty("id").GetString()!, m => m.Clone());
        var gpt = byId["copilot/gpt-4.1"];
        Assert.Equal(128_000, gpt.GetProperty("context_window").GetInt32());
        Assert.Equal(16_384, gpt.GetProperty("max_output_tokens").GetInt32());
        Assert.Equal(216_000, byId["copilot/claude-sonnet-4"].GetProperty("context_window").GetInt32());
        Assert.DoesNotContain("copilot/text-embedding-3-small", byId.Keys);
        Assert.DoesNotContain(fixture.Gateway.Logs.Lines, l => l.Contains(fixture.GitHubToken, StringComparison.Ordinal));
    }

    [Fact]
    public async Task OpenAi_chat_reaches_copilot_streamed_and_not_with_the_editor_headers()
    {
        using var http = fixture.Gateway.Http();
        var (response, body) = await Wire.SendAsync(http, Wire.OpenAi("""{"model":"copilot/gpt-4.1","messages":[{"role":"user","content":"plain ask"}]}"""));
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        Assert.Equal(OpenAiDefaultResponder.Greeting + "plain ask", (string?)JsonNode.Parse(body)!["choices"]![0]!["message"]!["content"]);

        var (_, items, _) = await Wire.StreamAsync(http, Wire.OpenAi("""{"model":"copilot/gpt-4.1","stream":true,"messages":[{"role":"user","content":"streamed ask"}]}"""));
        Assert.Equal(OpenAiDefaultResponder.Greeting + "streamed ask", Wire.OpenAiText(items));
        Assert.Equal("stop", Wire.OpenAiFinishReason(items));

        var call = Sim.ChatRequests.Last(r => r.Body.Contains("streamed ask", StringComparison.Ordinal));
        Assert.Equal("gpt-4.1", (string?)call.Json!["model"]);
        Assert.StartsWith("Bearer tid=", call.Header("Authorization"));
        foreach (var header in CopilotSimulator.RequiredHeaders) Assert.False(string.IsNullOrEmpty(call.Header(header)), header);
        Assert.Equal("conversation-panel", call.Header("Openai-Intent"));
        Assert.Equal("user", call.Header("X-Initiator"));
        Assert.Equal(0, fixture.Gateway.Kiro.ChatCalls);
    }

    [Fact]
    public async Task Anthropic_messages_reach_copilot_streamed_and_not()
    {
        using var http = fixture.Gateway.Http();
        var (response, body) = await Wire.SendAsync(http, Wire.Anthropic(
            """{"model":"copilot/claude-sonnet-4","max_tokens":500,"messages":[{"role":"user","content":"via anthropic"}]}"""));
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        var message = JsonNode.Parse(body)!;
        Assert.Equal(OpenAiDefaultResponder.Greeting + "via anthropic", (string?)message["content"]![0]!["text"]);
        Assert.Equal("end_turn", (string?)message["stop_reason"]);
        Assert.True((int)message["usage"]!["output_tokens"]! > 0);

        var (_, items, _) = await Wire.StreamAsync(http, Wire.Anthropic(
            """{"model":"copilot/claude-sonnet-4","max_tokens":500,"stream":true,"messages":[{"role":"user","content":"streamed anthropic"}]}"""));
        Assert.Equal(OpenAiDefaultResponder.Greeting + "streamed anthropic", Wire.AnthropicText(items));
        Assert.Equal("end_turn", Wire.AnthropicStopReason(items));
        var call = Sim.ChatRequests.Last(r => r.Body.Contains("streamed anthropic", StringComparison.Ordinal));
        Assert.Equal("claude-sonnet-4", (string?)call.Json!["model"]);
        Assert.Equal(500, (int)call.Json!["max_tokens"]!);
    }

    [Fact]
    public async Task An_image_from_the_anthropic_door_goes_as_a_vision_request()
    {
        using var http = fixture.Gateway.Http();
        const string png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
        var body = $$$"""{"model":"copilot/gpt-4o","max_tokens":100,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"{{{png}}}"}},{"type":"text","text":"what is in the picture"}]}]}""";
        var (response, text) = await Wire.SendAsync(http, Wire.Anthropic(body));
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var call = Sim.ChatRequests[^1];
        Assert.Equal("true", call.Header("Copilot-Vision-Request"));
        Assert.Contains("image_url", call.Body);
    }

    [Fact]
    public async Task A_tool_call_round_trip_through_the_anthropic_door_marks_the_follow_up_as_the_agents()
    {
        using var http = fixture.Gateway.Http();
        const string tools = "\"tools\":" + """[{"name":"weather","description":"Weather of a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}]""";
        var ask = $$"""{"model":"copilot/gpt-4.1","max_tokens":500,{{tools}},"messages":[{"role":"user","content":"look up [[tool:weather {\"city\":\"Oslo\"}]]"}]}""";
        var (response, body) = await Wire.SendAsync(http, Wire.Anthropic(ask));
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        var first = JsonNode.Parse(body)!;
        Assert.Equal("tool_use", (string?)first["stop_reason"]);
        var use = first["content"]!.AsArray().Single(b => (string?)b!["type"] == "tool_use")!;
        Assert.Equal("weather", (string?)use["name"]);
        Assert.Equal("Oslo", (string?)use["input"]!["city"]);
        Assert.Equal("user", Sim.ChatRequests[^1].Header("X-Initiator"));

        var followUp = $$"""
            {"model":"copilot/gpt-4.1","max_tokens":500,{{tools}},"messages":[
              {"role":"user","content":"look up [[tool:weather {\"city\":\"Oslo\"}]]"},
              {"role":"assistant","content":{{first["content"]!.ToJsonString()}}},
              {"role":"user","content":[{"type":"tool_result","tool_use_id":"{{(string?)use["id"]}}","content":"rainy, 9C"}]}]}
            """;
        (response, body) = await Wire.SendAsync(http, Wire.Anthropic(followUp));
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        Assert.Equal(OpenAiDefaultResponder.ToolEcho + "rainy, 9C", (string?)JsonNode.Parse(body)!["content"]![0]!["text"]);
        var call = Sim.ChatRequests[^1];
        Assert.Equal("agent", call.Header("X-Initiator"));
        Assert.Contains("\"role\":\"tool\"", call.Body);
    }

    [Fact]
    public async Task A_github_sign_in_without_copilot_is_a_503_in_each_callers_format()
    {
        using var http = fixture.Gateway.Http();
        // The model list is loaded while the seat is there, so other tests of this gateway see the upstream's list.
        Assert.Contains("copilot/gpt-4.1", await http.GetStringAsync("/v1/models"));
        Sim.SetSeat(fixture.GitHubToken, false);
        Sim.RevokeCopilotTokens();
        try
        {
            var (response, body) = await Wire.SendAsync(http, Wire.OpenAi("""{"model":"copilot/gpt-4.1","messages":[{"role":"user","content":"x"}]}"""));
            Wire.AssertOpenAiError(response, body, HttpStatusCode.ServiceUnavailable, "not valid for Copilot");
            (response, body) = await Wire.SendAsync(http, Wire.Anthropic("""{"model":"copilot/gpt-4.1","max_tokens":10,"messages":[{"role":"user","content":"x"}]}"""));
            Wire.AssertAnthropicError(response, body, HttpStatusCode.ServiceUnavailable, "not valid for Copilot");
            Assert.DoesNotContain(fixture.GitHubToken, body);
        }
        finally
        {
            Sim.SetSeat(fixture.GitHubToken, true);
        }
    }
}

/// <summary>A fresh gateway: concurrent first requests share one token exchange.</summary>
public sealed class CopilotGatewayExchangeTests
{
    [Fact]
    public async Task Concurrent_first_requests_share_one_token_exchange()
    {
        await using var sim = await CopilotSimulator.StartAsync(new CopilotSimulatorOptions { ExchangeDelay = TimeSpan.FromMilliseconds(300) });
        var gateway = new GatewayFixture();
        gateway.Settings.AddRange(CopilotGateway.Settings(sim, sim.IssueGitHubToken()));
        await gateway.InitializeAsync();
        try
        {
            using var http = gateway.Http();
            var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(i =>
                Wire.SendAsync(http, Wire.OpenAi($$"""{"model":"copilot/gpt-4o","messages":[{"role":"user","content":"n{{i}}"}]}"""))));
            Assert.All(answers, a => Assert.True(a.Response.StatusCode == HttpStatusCode.OK, a.Body));
            Assert.Equal(8, sim.ChatCalls);
            Assert.Equal(1, sim.Exchanges);
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }
}
