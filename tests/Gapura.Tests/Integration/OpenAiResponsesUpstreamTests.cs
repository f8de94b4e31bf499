using System.Net;
using System.Text.Json.Nodes;
using Gapura.Simulators.OpenAi;

namespace Gapura.Tests.Integration;

/// <summary>A gateway whose OpenAI account speaks the Responses API upstream (<c>Providers:OpenAI:Api=responses</c>).</summary>
public sealed class OpenAiResponsesGateway : IAsyncLifetime
{
    public OpenAiSimulator OpenAi { get; private set; } = null!;
    public GatewayFixture Gateway { get; } = new();

    public async Task InitializeAsync()
    {
        OpenAi = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions { Split = OpenAiSplit.Random });
        Gateway.Settings.AddRange(
        [
            $"--Providers:OpenAI:ApiKey={OpenAiSimulatorOptions.DefaultApiKey}",
            $"--Providers:OpenAI:BaseUrl={OpenAi.ApiBaseUrl}",
            "--Providers:OpenAI:Api=responses",
            "--Providers:OpenAI:MaxAttempts=2",
            "--Providers:OpenAI:RetryBaseDelayMilliseconds=10",
        ]);
        await Gateway.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await OpenAi.DisposeAsync();
    }
}

/// <summary>
/// Every front door over the OpenAI Responses upstream, through a real gateway to the OpenAI simulator: the
/// Responses door passes through byte for byte (usage still accounted), the chat and Anthropic doors are
/// translated (tools, reasoning, output cap), and upstream errors reach each caller in its own format.
/// </summary>
public class OpenAiResponsesUpstreamTests(OpenAiResponsesGateway fixture) : IClassFixture<OpenAiResponsesGateway>
{
    private readonly OpenAiSimulator _openAi = fixture.OpenAi;
    private readonly GatewayFixture _gateway = fixture.Gateway;

    private static HttpRequestMessage Responses(string body) => Wire.Post("/v1/responses", body);

    private async Task AssertUsageAccountedAsync(HttpResponseMessage response, string model, int input, int cacheRead, int output)
    {
        var record = await _gateway.UsageRecordOfAsync(response);
        Assert.Equal((model, input, cacheRead, output), (record.RequestedModel, record.InputTokens, record.CacheReadTokens, record.OutputTokens));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Responses_door_passes_through_byte_for_byte_and_usage_is_still_accounted(bool stream)
    {
        var model = stream ? "openai/gpt-5" : "openai/gpt-5-mini";
        _openAi.Enqueue(new OpenAiScenario { Answer = new OpenAiAnswer { Text = ["Relayed ", "as is"], PromptTokens = 321, CachedTokens = 300, CompletionTokens = 45 + (stream ? 0 : 1) } });
        var body = "{ \"model\" : \"" + model + "\",\n \"input\":[{\"role\":\"user\",\"content\":\"caf\\u00e9\"}], \"stream\": " + (stream ? "true" : "false")
                   + ", \"x_unknown\": {\"keep\": [1, 2.50, null]}, \"include\": [\"reasoning.encrypted_content\"], \"prompt_cache_key\": \"k1\", \"store\": false}";
        using var http = _gateway.Http();
        var (response, text) = await Wire.SendAsync(http, Responses(body));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = _openAi.ResponsesRequests[^1];
        Assert.Equal(body.Replace("\"" + model + "\"", "\"" + model["openai/".Length..] + "\""), sent.Body);
        Assert.Equal("Bearer " + OpenAiSimulatorOptions.DefaultApiKey, sent.Header("Authorization"));
        if (stream)
        {
            // The simulator's own events, sequence numbers and all.
            var events = Wire.ParseSse(text).Where(i => i.Json is not null).Select(i => i.Json!).ToList();
            Assert.Equal(Enumerable.Range(0, events.Count), events.Select(e => (int)e["sequence_number"]!));
            Assert.Equal("Relayed as is", string.Concat(events.Where(e => (string?)e["type"] == "response.output_text.delta").Select(e => (string?)e["delta"])));
        }
        else Assert.Equal("Relayed as is", (string?)JsonNode.Parse(text)!["output"]![0]!["content"]![0]!["text"]);
        // input_tokens includes the 300 cached ones, which are accounted as cache reads, not twice.
        await AssertUsageAccountedAsync(response, model, 21, 300, 45 + (stream ? 0 : 1));
    }

    [Fact]
    public async Task Chat_door_is_translated_to_responses_with_tools_and_the_call_comes_back_as_a_tool_call()
    {
        var body = """
            {"model":"openai/gpt-5","messages":[{"role":"system","content":"Use tools."},{"role":"user","content":"go [[tool:weather {\"city\":\"Oslo\"}]]"}],
             "tools":[{"type":"function","function":{"name":"weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
             "tool_choice":"required","reasoning_effort":"low"}
            """;
        using var http = _gateway.Http();
        var (response, text) = await Wire.SendAsync(http, Wire.OpenAi(body));

        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var choice = JsonNode.Parse(text)!["choices"]![0]!;
        Assert.Equal("tool_calls", (string?)choice["finish_reason"]);
        var call = choice["message"]!["tool_calls"]![0]!;
        Assert.Equal(("weather", """{"city":"Oslo"}"""), ((string?)call["function"]!["name"], (string?)call["function"]!["arguments"]));
        Assert.StartsWith("call_", (string?)call["id"]);

        var sent = _openAi.ResponsesRequests[^1].Json!;
        Assert.Equal("gpt-5", (string?)sent["model"]);
        Assert.Equal("Use tools.", (string?)sent["instructions"]);
        Assert.Equal("weather", (string?)sent["tools"]![0]!["name"]);
        Assert.Equal("required", (string?)sent["tool_choice"]);
        Assert.Equal("low", (string?)sent["reasoning"]!["effort"]);
        Assert.False((bool)sent["store"]!);
        Assert.DoesNotContain(_openAi.ChatRequests, r => r.Body.Contains("Oslo", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Chat_door_stream_cut_by_max_output_tokens_finishes_with_length()
    {
        var body = """{"model":"openai/gpt-4o","stream":true,"max_completion_tokens":3,"messages":[{"role":"user","content":"one two three four five six seven"}]}""";
        using var http = _gateway.Http();
        var (_, items, _) = await Wire.StreamAsync(http, Wire.OpenAi(body));
        Assert.Equal("length", Wire.OpenAiFinishReason(items));
        Assert.Equal(3, (int)_openAi.ResponsesRequests[^1].Json!["max_output_tokens"]!);
    }

    [Fact]
    public async Task Anthropic_door_gets_reasoning_as_thinking_and_a_cut_as_max_tokens()
    {
        using var http = _gateway.Http();
        var body = """{"model":"openai/gpt-5","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":10000},"messages":[{"role":"user","content":"think about it"}]}""";
        var (response, text) = await Wire.SendAsync(http, Wire.Anthropic(body));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var content = JsonNode.Parse(text)!["content"]!.AsArray();
        Assert.Equal("thinking", (string?)content[0]!["type"]);
        Assert.Contains("medium effort", (string?)content[0]!["thinking"]);
        Assert.Equal(OpenAiDefaultResponder.Greeting + "think about it", (string?)content[1]!["text"]);
        Assert.Equal("medium", (string?)_openAi.ResponsesRequests[^1].Json!["reasoning"]!["effort"]);

        var cut = """{"model":"openai/gpt-4o","max_tokens":2,"stream":true,"messages":[{"role":"user","content":"a b c d e f"}]}""";
        var (_, items, _) = await Wire.StreamAsync(http, Wire.Anthropic(cut));
        Assert.Equal("max_tokens", Wire.AnthropicStopReason(items));
    }

    [Fact]
    public async Task Upstream_errors_reach_each_caller_in_its_format_with_the_upstream_status()
    {
        using var http = _gateway.Http();
        _openAi.Enqueue(OpenAiScenario.Error(400, "Invalid 'input[0].content': upstream says no.", "invalid_request_error"));
        var (chat, chatBody) = await Wire.SendAsync(http, Wire.OpenAi("""{"model":"openai/gpt-4o","messages":[{"role":"user","content":"x"}]}"""));
        Wire.AssertOpenAiError(chat, chatBody, HttpStatusCode.BadRequest, "upstream says no");

        // Retried once, then reported.
        _openAi.Enqueue(OpenAiScenario.RateLimited());
        _openAi.Enqueue(OpenAiScenario.RateLimited());
        var (anthropic, anthropicBody) = await Wire.SendAsync(http, Wire.Anthropic("""{"model":"openai/gpt-4o","max_tokens":10,"messages":[{"role":"user","content":"x"}]}"""));
        Wire.AssertAnthropicError(anthropic, anthropicBody, HttpStatusCode.TooManyRequests, "Rate limit reached");

        _openAi.Enqueue(OpenAiScenario.Error(400, "Unknown parameter: 'x_bad'.", "invalid_request_error", "unknown_parameter"));
        var (passed, passedBody) = await Wire.SendAsync(http, Responses("""{"model":"openai/gpt-4o","input":"x","x_bad":1}"""));
        Wire.AssertOpenAiError(passed, passedBody, HttpStatusCode.BadRequest, "Unknown parameter: 'x_bad'");
    }

    [Fact]
    public async Task A_response_failed_mid_stream_ends_the_translated_stream_with_an_error()
    {
        _openAi.Enqueue(new OpenAiScenario { Answer = new OpenAiAnswer { Text = ["Half ", "an "], Failure = ("server_error", "The model fell over.") } });
        using var http = _gateway.Http();
        var (_, items, raw) = await Wire.StreamAsync(http, Wire.OpenAi("""{"model":"openai/gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}]}"""));
        Assert.Equal("Half an ", Wire.OpenAiText(items));
        Wire.AssertOpenAiErrorJson(Wire.OpenAiData(items)[^1], "The model fell over.");
        Assert.DoesNotContain("[DONE]", raw);
    }
}
