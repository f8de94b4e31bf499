using System.Text;
using Gapura.Conversations;
using Gapura.Providers.OpenAi;

namespace Gapura.Tests.Providers.OpenAi;

public class ChatCompletionsStreamDecoderTests
{
    private static string Chunk(string delta, string? finish = null)
        => $$"""data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{{delta}},"logprobs":null,"finish_reason":{{(finish is null ? "null" : $"\"{finish}\"")}}}],"usage":null}""" + "\n\n";

    private const string UsageChunk = """data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":60,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":5}}}""" + "\n\n";

    /// <summary>Two parallel tool calls after some reasoning and text, then usage, as OpenAI streams them.</summary>
    private static readonly string Stream =
        Chunk("""{"role":"assistant","content":"","refusal":null}""")
        + Chunk("""{"reasoning_content":"Think ✓ "}""")
        + Chunk("""{"content":"Héllo "}""")
        + Chunk("""{"content":"wörld 🌍"}""")
        + Chunk("""{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"weather","arguments":""}}]}""")
        + Chunk("""{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}""")
        + Chunk("""{"tool_calls":[{"index":0,"function":{"arguments":"\"Oslo\"}"}}]}""")
        + Chunk("""{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"time","arguments":"{}"}}]}""")
        + Chunk("{}", "tool_calls")
        + ": keep-alive comment\n\n"
        + UsageChunk
        + "data: [DONE]\n\n";

    private static List<StreamEvent> Decode(byte[] bytes, IEnumerable<int> cuts, int estimatedInput = 0)
    {
        var decoder = new ChatCompletionsStreamDecoder("OpenAI", estimatedInput);
        var events = new List<StreamEvent>();
        var at = 0;
        foreach (var cut in cuts.Append(bytes.Length))
        {
            decoder.Feed(bytes.AsSpan(at, cut - at), events);
            at = cut;
        }
        decoder.Complete(events);
        return events;
    }

    private static void AssertExpected(List<StreamEvent> events)
    {
        Assert.Equal("Think ✓ ", string.Concat(events.OfType<ReasoningDelta>().Select(r => r.Text)));
        Assert.Equal("Héllo wörld 🌍", OpenAiTestKit.Text(events));
        var tools = events.Where(e => e is ToolCallStart or ToolCallDelta or ToolCallEnd).ToList();
        Assert.Equal(
        [
            new ToolCallStart(0, "call_a", "weather"), new ToolCallDelta(0, "{\"city\":"), new ToolCallDelta(0, "\"Oslo\"}"), new ToolCallEnd(0),
            new ToolCallStart(1, "call_b", "time"), new ToolCallDelta(1, "{}"), new ToolCallEnd(1),
        ], tools);
        var end = Assert.IsType<MessageEnd>(events[^1]);
        Assert.Equal(StopReason.ToolUse, end.StopReason);
        Assert.Equal(new Usage(40, 20, CacheReadTokens: 60), end.Usage);
    }

    [Fact]
    public void Whole_stream_decodes()
    {
        AssertExpected(Decode(Encoding.UTF8.GetBytes(Stream), []));
    }

    [Fact]
    public void Any_split_decodes_the_same()
    {
        var bytes = Encoding.UTF8.GetBytes(Stream.Replace("\n", "\r\n"));
        var rng = new Random(42);
        for (var round = 0; round < 200; round++)
        {
            var cuts = Enumerable.Range(0, rng.Next(1, 40)).Select(_ => rng.Next(0, bytes.Length)).Distinct().Order().ToList();
            AssertExpected(Decode(bytes, cuts));
        }
        AssertExpected(Decode(bytes, Enumerable.Range(1, bytes.Length - 1)));  // one byte at a time
    }

    [Fact]
    public void Text_arrives_before_the_stream_ends()
    {
        var decoder = new ChatCompletionsStreamDecoder("OpenAI", 0);
        var events = new List<StreamEvent>();
        decoder.Feed(Encoding.UTF8.GetBytes(Chunk("""{"content":"first"}""")), events);
        Assert.Equal([new TextDelta("first")], events);
    }

    [Fact]
    public void Length_finish_and_missing_usage_is_estimated()
    {
        var stream = Chunk("""{"content":"cut short"}""") + Chunk("{}", "length") + "data: [DONE]\n\n";
        var end = Assert.IsType<MessageEnd>(Decode(Encoding.UTF8.GetBytes(stream), [], estimatedInput: 77)[^1]);
        Assert.Equal(StopReason.MaxTokens, end.StopReason);
        Assert.True(end.Usage.Estimated);
        Assert.Equal(77, end.Usage.InputTokens);
        Assert.True(end.Usage.OutputTokens > 0);
    }

    [Fact]
    public void A_stream_cut_before_finish_is_an_error()
    {
        var stream = Chunk("""{"content":"half"}""");
        var e = Assert.Throws<GatewayException>(() => Decode(Encoding.UTF8.GetBytes(stream), []));
        Assert.Equal(502, e.Status);
        Assert.Contains("broke off", e.Message);
    }

    [Fact]
    public void Finish_without_done_is_accepted()
    {
        var stream = Chunk("""{"content":"ok"}""") + Chunk("{}", "stop");
        var end = Assert.IsType<MessageEnd>(Decode(Encoding.UTF8.GetBytes(stream), [])[^1]);
        Assert.Equal(StopReason.EndTurn, end.StopReason);
    }

    [Fact]
    public void Error_event_mid_stream_becomes_a_gateway_exception()
    {
        var stream = Chunk("""{"content":"a"}""") + """data: {"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}""" + "\n\n";
        var e = Assert.Throws<GatewayException>(() => Decode(Encoding.UTF8.GetBytes(stream), []));
        Assert.Equal(ErrorKind.UpstreamUnavailable, e.Kind);
        Assert.Contains("The server had an error", e.Message);
    }

    [Fact]
    public void Ollama_style_reasoning_whole_arguments_and_stop_after_tools()
    {
        var stream = Chunk("""{"role":"assistant","content":"","reasoning":"because"}""")
            + Chunk("""{"role":"assistant","content":"","tool_calls":[{"id":"call_x","index":0,"type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]}""")
            + Chunk("""{"role":"assistant","content":""}""", "stop")
            + "data: [DONE]\n\n";
        var events = Decode(Encoding.UTF8.GetBytes(stream), []);
        Assert.Equal([new ReasoningDelta("because"), new ToolCallStart(0, "call_x", "f"), new ToolCallDelta(0, "{\"a\":1}"), new ToolCallEnd(0)], events[..^1]);
        Assert.Equal(StopReason.ToolUse, Assert.IsType<MessageEnd>(events[^1]).StopReason);
    }

    [Fact]
    public void Copilot_style_reasoning_text_is_reasoning_and_its_opaque_state_is_not_text()
    {
        // GitHub Copilot's chat completions carry reasoning in reasoning_text, with an encrypted reasoning_opaque.
        var stream = Chunk("""{"role":"assistant","content":null,"reasoning_text":"17 times 3 "}""")
            + Chunk("""{"content":null,"reasoning_text":"is 51."}""")
            + Chunk("""{"content":null,"reasoning_opaque":"EncR3as0n1ng=="}""")
            + Chunk("""{"content":"51"}""")
            + Chunk("{}", "stop")
            + "data: [DONE]\n\n";
        var events = Decode(Encoding.UTF8.GetBytes(stream), []);
        Assert.Equal([new ReasoningDelta("17 times 3 "), new ReasoningDelta("is 51."), new TextDelta("51")], events[..^1]);
        Assert.Equal(StopReason.EndTurn, Assert.IsType<MessageEnd>(events[^1]).StopReason);
    }

    [Fact]
    public void Going_back_to_an_ended_tool_call_is_refused()
    {
        var stream = Chunk("""{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":""}}]}""")
            + Chunk("""{"tool_calls":[{"index":1,"id":"b","function":{"name":"g","arguments":""}}]}""")
            + Chunk("""{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]}""");
        Assert.Throws<GatewayException>(() => Decode(Encoding.UTF8.GetBytes(stream), []));
    }
}
