using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Conversations;
using Gapura.Providers.OpenAi;
using Gapura.Simulators.OpenAi;

namespace Gapura.Tests.Providers.OpenAi;

/// <summary>The Responses upstream codec: request building, stream and whole-object decoding, the stream collector.</summary>
public class ResponsesCodecTests
{
    private static readonly OpenAiEndpoint ApiKeyEndpoint = new("http://127.0.0.1:1/v1", "sk-x", new Dictionary<string, string>()) { Api = OpenAiApi.Responses };

    private static JsonObject Build(ChatRequest request, string model = "gpt-5", OpenAiEndpoint? endpoint = null)
        => JsonNode.Parse(ResponsesRequestBuilder.Build(request, model, ChatCompletionsDialect.OpenAi, endpoint ?? ApiKeyEndpoint))!.AsObject();

    private static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [Fact]
    public void Builds_instructions_input_items_tools_reasoning_and_limits()
    {
        var request = new ChatRequest
        {
            Model = "openai/gpt-5",
            System = "Be brief.",
            Messages =
            [
                new Message(Role.User, [new TextBlock("look"), new ImageBlock("image/png", "iVBORw0K")]),
                new Message(Role.Assistant, [new ThinkingBlock("private", "sig"), new TextBlock("Checking."), new ToolUseBlock("call_1", "weather", Json("""{"city":"Oslo"}"""))]),
                new Message(Role.User, [new ToolResultBlock("call_1", [new TextBlock("boom")], IsError: true), new TextBlock("and?")]),
                Message.Text(Role.System, "Mid-conversation rule."),
            ],
            Tools = [OpenAiTestKit.Tool("weather")],
            ToolChoice = new ToolChoice(ToolChoiceKind.Tool, "weather"),
            MaxTokens = 300,
            Temperature = 0.5,
            Thinking = new ThinkingRequest(ThinkingMode.Enabled, BudgetTokens: 20_000),
            StopSequences = ["END"],
        };
        var body = Build(request);

        Assert.Equal("gpt-5", (string?)body["model"]);
        Assert.Equal("Be brief.", (string?)body["instructions"]);
        Assert.True((bool)body["stream"]!);
        Assert.False((bool)body["store"]!);
        Assert.Equal(300, (int)body["max_output_tokens"]!);
        Assert.Equal(0.5, (double)body["temperature"]!);
        Assert.Null(body["stop"]); // Responses has no stop field: the provider enforces it.
        Assert.Equal("high", (string?)body["reasoning"]!["effort"]);
        Assert.Equal("auto", (string?)body["reasoning"]!["summary"]);

        var input = body["input"]!.AsArray();
        Assert.Equal(
            ["message:user", "message:assistant", "function_call:", "function_call_output:", "message:user", "message:developer"],
            input.Select(i => $"{i!["type"]}:{i["role"]}").ToArray());
        Assert.Equal("input_image", (string?)input[0]!["content"]![1]!["type"]);
        Assert.Equal("data:image/png;base64,iVBORw0K", (string?)input[0]!["content"]![1]!["image_url"]);
        Assert.Equal("output_text", (string?)input[1]!["content"]![0]!["type"]);
        Assert.Equal("call_1", (string?)input[2]!["call_id"]);
        Assert.Equal("""{"city":"Oslo"}""", (string?)input[2]!["arguments"]);
        Assert.Equal("Error: boom", (string?)input[3]!["output"]);
        Assert.DoesNotContain("private", body.ToJsonString()); // earlier reasoning is not resent

        var tool = body["tools"]![0]!;
        Assert.Equal(("function", "weather", false), ((string?)tool["type"], (string?)tool["name"], (bool)tool["strict"]!));
        Assert.Equal("object", (string?)tool["parameters"]!["type"]);
        Assert.Equal("""{"type":"function","name":"weather"}""", body["tool_choice"]!.ToJsonString());
    }

    [Fact]
    public void Models_that_do_not_reason_get_no_reasoning_and_the_codex_backend_gets_its_shape()
    {
        var ask = OpenAiTestKit.Ask("hi", maxTokens: 50, thinking: new ThinkingRequest(ThinkingMode.Enabled, Effort: "low"));
        Assert.Null(Build(ask, "gpt-4o")["reasoning"]);

        var codex = Build(ask, "gpt-5", OpenAiEndpoint.ChatGptCodex("http://127.0.0.1:1/backend-api/codex/", "tok", "acct"));
        Assert.Equal("", (string?)codex["instructions"]); // required there, even empty
        Assert.Null(codex["max_output_tokens"]); // refused there: the provider enforces the cap
        Assert.False((bool)codex["store"]!);
        Assert.Equal("low", (string?)codex["reasoning"]!["effort"]);
    }

    private static List<StreamEvent> Decode(IEnumerable<SseEvent> events, int chunk, int estimate = 0)
    {
        var bytes = Encoding.UTF8.GetBytes(string.Concat(events.Select(e => e.Encode())));
        var decoder = new ResponsesStreamDecoder("OpenAI", estimate);
        var output = new List<StreamEvent>();
        for (var i = 0; i < bytes.Length && !decoder.IsDone; i += chunk) decoder.Feed(bytes.AsSpan(i, Math.Min(chunk, bytes.Length - i)), output);
        decoder.Complete(output);
        return output;
    }

    private static int _ids;
    private static string NewId(string prefix) => $"{prefix}_{Interlocked.Increment(ref _ids)}";
    private static readonly JsonObject Request = new() { ["model"] = "gpt-5" };

    private static OpenAiAnswer Rich() => new()
    {
        Reasoning = ["Think", "ing."],
        Text = ["Hel", "lo ", "wörld"],
        ToolCalls = [new OpenAiToolCall("weather", """{"city":"Oslo"}""", "call_a"), new OpenAiToolCall("time", "{}", "call_b")],
        PromptTokens = 120, CachedTokens = 100, CompletionTokens = 40, ReasoningTokens = 9,
    };

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(100_000)]
    public void Decodes_text_reasoning_calls_and_usage_whatever_the_split(int chunk)
    {
        var events = Decode(OpenAiWireWriter.ResponseEvents(Rich(), Request, "resp_1", 1, NewId), chunk);
        var result = Fold(events);
        Assert.Equal("Thinking.", result.Reasoning);
        Assert.Equal("Hello wörld", result.Text);
        Assert.Equal([("call_a", "weather", """{"city":"Oslo"}"""), ("call_b", "time", "{}")], result.ToolCalls.Select(c => (c.Id, c.Name, c.Arguments)).ToArray());
        Assert.Equal(StopReason.ToolUse, result.StopReason);
        Assert.Equal(new Usage(20, 40, CacheReadTokens: 100, ReasoningTokens: 9), result.Usage);
        // Each call is contiguous: start, deltas, end.
        var starts = events.Select((e, i) => (e, i)).Where(x => x.e is ToolCallStart).Select(x => x.i).ToList();
        Assert.IsType<ToolCallEnd>(events[starts[1] - 1]);
    }

    [Fact]
    public void The_whole_json_response_decodes_to_the_same_answer_as_the_stream()
    {
        var whole = OpenAiWireWriter.Response(Rich(), Request, "resp_1", 1, NewId).ToJsonString();
        var decoder = new ResponsesStreamDecoder("OpenAI", 0);
        var events = new List<StreamEvent>();
        decoder.DecodeWhole(Json(whole), events);
        var streamed = Fold(Decode(OpenAiWireWriter.ResponseEvents(Rich(), Request, "resp_1", 1, NewId), 64));
        var result = Fold(events);
        Assert.Equal((streamed.Text, streamed.Reasoning, streamed.StopReason, streamed.Usage), (result.Text, result.Reasoning, result.StopReason, result.Usage));
        Assert.Equal(streamed.ToolCalls, result.ToolCalls);
    }

    [Fact]
    public void Incomplete_for_max_output_tokens_is_a_max_tokens_stop()
    {
        var answer = new OpenAiAnswer { Text = ["cut"], FinishReason = "length" };
        var end = Assert.IsType<MessageEnd>(Decode(OpenAiWireWriter.ResponseEvents(answer, Request, "r", 1, NewId), 13)[^1]);
        Assert.Equal(StopReason.MaxTokens, end.StopReason);
    }

    [Fact]
    public void Failed_responses_and_error_events_throw_with_the_upstreams_message()
    {
        var failed = new OpenAiAnswer { Text = ["partial"], Failure = ("server_error", "The model crashed mid-way.") };
        var e = Assert.Throws<GatewayException>(() => Decode(OpenAiWireWriter.ResponseEvents(failed, Request, "r", 1, NewId), 50));
        Assert.Contains("The model crashed mid-way.", e.Message);
        Assert.Equal(ErrorKind.UpstreamUnavailable, e.Kind);

        var error = new SseEvent("error", """{"type":"error","sequence_number":3,"code":"rate_limit_exceeded","message":"Slow down.","param":null}""");
        var limited = Assert.Throws<GatewayException>(() => Decode([error], 5));
        Assert.Equal(ErrorKind.RateLimited, limited.Kind);
        Assert.Contains("Slow down.", limited.Message);
    }

    [Fact]
    public void A_stream_without_its_final_event_is_a_failure_not_a_short_answer()
    {
        var events = OpenAiWireWriter.ResponseEvents(OpenAiAnswer.Of("a", "b"), Request, "r", 1, NewId);
        var e = Assert.Throws<GatewayException>(() => Decode(events.Take(events.Count - 1), 9));
        Assert.Equal(502, e.Status);
    }

    [Fact]
    public void Arguments_sent_only_whole_still_arrive()
    {
        SseEvent E(string json) => new(null, json);
        var events = Decode(
        [
            E("""{"type":"response.output_item.added","output_index":0,"item":{"id":"fc_1","type":"function_call","call_id":"call_9","name":"ls","arguments":""}}"""),
            E("""{"type":"response.output_item.done","output_index":0,"item":{"id":"fc_1","type":"function_call","call_id":"call_9","name":"ls","arguments":"{\"path\":\"/\"}"}}"""),
            E("""{"type":"response.completed","response":{"status":"completed","output":[],"usage":null}}"""),
        ], 11, estimate: 33);
        var result = Fold(events);
        Assert.Equal(("call_9", "ls", """{"path":"/"}"""), (result.ToolCalls[0].Id, result.ToolCalls[0].Name, result.ToolCalls[0].Arguments));
        Assert.Equal(StopReason.ToolUse, result.StopReason);
        Assert.True(result.Usage.Estimated);
        Assert.Equal(33, result.Usage.InputTokens);
    }

    [Fact]
    public async Task The_collector_returns_the_final_response_filling_an_empty_output_from_the_items()
    {
        var events = OpenAiWireWriter.ResponseEvents(OpenAiAnswer.Of("Hi ", "there"), Request, "resp_c", 1, NewId);
        // Some backends leave the final object's output empty; the items were sent one by one.
        var last = JsonNode.Parse(events[^1].Data)!;
        last["response"]!["output"] = new JsonArray();
        events[^1] = events[^1] with { Data = last.ToJsonString() };
        using var body = new MemoryStream(Encoding.UTF8.GetBytes(string.Concat(events.Select(e => e.Encode()))));
        var whole = JsonNode.Parse(await ResponsesStreamCollector.CollectAsync(body, "OpenAI", default))!;
        Assert.Equal("resp_c", (string?)whole["id"]);
        Assert.Equal("completed", (string?)whole["status"]);
        Assert.Equal("Hi there", (string?)whole["output"]![0]!["content"]![0]!["text"]);
        Assert.NotNull(whole["usage"]);
    }

    [Fact]
    public void Set_replaces_or_adds_a_top_level_field_and_keeps_every_other_byte()
    {
        static string Set(string body, string name, string json) => Encoding.UTF8.GetString(ModelNameSplice.Set(Encoding.UTF8.GetBytes(body), name, Encoding.UTF8.GetBytes(json)).Span);
        Assert.Equal("""{ "stream" : true, "x":{"stream":false}}""", Set("""{ "stream" : false, "x":{"stream":false}}""", "stream", "true"));
        Assert.Equal("""{"store":false,"model":"m", "n":1.0e0}""", Set("""{"model":"m", "n":1.0e0}""", "store", "false"));
        Assert.Equal("""{"store":false}""", Set("""{ }""".Replace(" ", ""), "store", "false"));
        Assert.Equal("""{"store":false,"a":[1,{"b":2}]}""", Set("""{"store":{"deep":[true]},"a":[1,{"b":2}]}""", "store", "false"));
    }

    [Fact]
    public void SetIfAbsent_adds_a_missing_field_and_leaves_a_present_one_as_the_client_wrote_it()
    {
        static string Add(string body) => Encoding.UTF8.GetString(ModelNameSplice.SetIfAbsent(Encoding.UTF8.GetBytes(body), "instructions", "\"\""u8).Span);
        Assert.Equal("""{"instructions":"","model":"gpt-5", "input":[{"role":"developer"}]}""", Add("""{"model":"gpt-5", "input":[{"role":"developer"}]}"""));
        Assert.Equal("""{"model":"gpt-5","instructions" : "Be Codex."}""", Add("""{"model":"gpt-5","instructions" : "Be Codex."}"""));
        // Only a top-level field counts: one nested deeper does not stop the addition.
        Assert.Equal("""{"instructions":"","x":{"instructions":1}}""", Add("""{"x":{"instructions":1}}"""));
    }

    private static ChatResult Fold(IEnumerable<StreamEvent> events)
    {
        var builder = new ChatResultBuilder();
        foreach (var e in events) builder.Add(e);
        return builder.Build();
    }
}
