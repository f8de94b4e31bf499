using Gapura.Conversations;
using Gapura.Formats.Anthropic;
using static Gapura.Tests.Formats.FormatTestKit;

namespace Gapura.Tests.Formats;

/// <summary>
/// The exact bytes an Anthropic client reads from a stream — event order, every field, the guards that drop
/// events with no Anthropic counterpart — pinned by mutation testing (see DEVELOPERS.md, "Mutation testing").
/// Claude Code and the Anthropic SDKs parse these events strictly, so a missing field or a block opened twice
/// breaks them.
/// </summary>
public class AnthropicSseWriterMutationTests
{
    private static Task<string> Raw(params object[] steps)
        => RunRawAsync(pipe => AnthropicMessagesFrontDoor.Instance.CreateStreamWriter(pipe, Context(estimatedInput: 77)), steps);

    private const string MessageStart =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"resp_1\",\"type\":\"message\",\"role\":\"assistant\"," +
        "\"model\":\"test-model\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":77,\"output_tokens\":0," +
        "\"cache_read_input_tokens\":0,\"cache_creation_input_tokens\":0}}}\n\n";

    private static string End(string reason, string stopSequence = "null", int input = 9, int output = 8) =>
        $"event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"{reason}\",\"stop_sequence\":{stopSequence}}}," +
        $"\"usage\":{{\"input_tokens\":{input},\"output_tokens\":{output},\"cache_read_input_tokens\":0,\"cache_creation_input_tokens\":0}}}}\n\n" +
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

    [Fact]
    public async Task A_thinking_text_and_tool_stream_is_exactly_the_anthropic_wire_format()
    {
        var text = await Raw(
            new ReasoningDelta("Hmm"), new ReasoningSignature("c2ln"),
            new TextDelta("Hi"),
            new ToolCallStart(3, "toolu_1", "Bash"), new ToolCallDelta(3, "{\"a\":1}"), new ToolCallEnd(3),
            new MessageEnd(StopReason.ToolUse, new Usage(9, 8)));

        Assert.Equal(
            MessageStart +
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n" +
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Hmm\"}}\n\n" +
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"c2ln\"}}\n\n" +
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n" +
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n" +
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"Bash\",\"input\":{},\"caller\":{\"type\":\"direct\"}}}\n\n" +
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":1}\"}}\n\n" +
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n" +
            End("tool_use"),
            text);
    }

    [Fact]
    public async Task Empty_deltas_open_no_block()
    {
        var text = await Raw(new TextDelta(""), new ReasoningDelta(""), new MessageEnd(StopReason.EndTurn, new Usage(9, 8)));

        Assert.Equal(MessageStart + End("end_turn"), text);
    }

    [Fact]
    public async Task A_signature_without_thinking_text_still_makes_a_sealed_thinking_block()
    {
        var text = await Raw(new ReasoningSignature("c2ln"), new ReasoningDelta("more"), new MessageEnd(StopReason.EndTurn, new Usage(9, 8)));

        Assert.Equal(
            MessageStart +
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n" +
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"c2ln\"}}\n\n" +
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
            // Reasoning after the signature is a new block.
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n" +
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"more\"}}\n\n" +
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n" +
            End("end_turn"),
            text);
    }

    [Fact]
    public async Task Tool_events_for_a_call_that_is_not_the_open_block_are_dropped()
    {
        var text = await Raw(
            new ToolCallDelta(0, "{\"orphan\":1}"), new ToolCallEnd(0),   // no block open
            new ToolCallStart(1, "toolu_1", "Read"),
            new ToolCallDelta(2, "{\"other\":1}"), new ToolCallDelta(1, ""), new ToolCallEnd(2),   // another index, or nothing to add
            new ToolCallDelta(1, "{}"),                                          // still open: another call's end did not close it
            new ToolCallEnd(1), new ToolCallDelta(1, "{\"late\":1}"),           // after its block closed
            new MessageEnd(StopReason.ToolUse, new Usage(9, 8)));

        Assert.Equal(
            MessageStart +
            "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"Read\",\"input\":{},\"caller\":{\"type\":\"direct\"}}}\n\n" +
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}\n\n" +
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
            End("tool_use"),
            text);
    }

    [Fact]
    public async Task Text_after_a_tool_call_opens_a_new_block_after_closing_the_tool()
    {
        var frames = ParseSse(await Raw(new ToolCallStart(0, "toolu_1", "Read"), new TextDelta("done"), new MessageEnd(StopReason.EndTurn, new Usage(9, 8))));

        Assert.Equal(["message_start", "content_block_start", "content_block_stop", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"],
            frames.Select(f => f.Event));
        Assert.Equal([0, 0, 1, 1, 1], frames.Skip(1).Take(5).Select(f => f.Json.GetProperty("index").GetInt32()));
    }

    [Fact]
    public async Task Nothing_follows_message_stop_not_even_an_error_or_a_ping()
    {
        var text = await Raw(new MessageEnd(StopReason.EndTurn, new Usage(9, 8)), new TextDelta("late"), "keep-alive",
            new GatewayException(ErrorKind.UpstreamUnavailable, "late failure"));

        Assert.Equal(MessageStart + End("end_turn"), text);
    }

    [Fact]
    public async Task A_ping_before_any_output_follows_message_start_and_is_sent_once_each()
    {
        var text = await Raw("keep-alive", "keep-alive", new MessageEnd(StopReason.MaxTokens, new Usage(9, 8), null));

        Assert.Equal(MessageStart + "event: ping\ndata: {\"type\":\"ping\"}\n\n" + "event: ping\ndata: {\"type\":\"ping\"}\n\n" + End("max_tokens"), text);
    }

    [Fact]
    public async Task An_error_before_any_output_is_the_only_event_and_nothing_follows_it()
    {
        var text = await Raw(new GatewayException(ErrorKind.RateLimited, "slow down"), "keep-alive", new TextDelta("late"));

        Assert.Equal("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}\n\n", text);
    }

    [Fact]
    public async Task A_stop_sequence_is_echoed_in_message_delta()
    {
        var text = await Raw(new MessageEnd(StopReason.StopSequence, new Usage(9, 8), "###"));

        Assert.Equal(MessageStart + End("stop_sequence", "\"###\""), text);
    }

    [Fact]
    public async Task Every_event_reaches_the_client_as_soon_as_it_is_written()
    {
        var received = await ReadAfterEachStepAsync(pipe => AnthropicMessagesFrontDoor.Instance.CreateStreamWriter(pipe, Context()),
            "keep-alive", new ReasoningDelta("a"), new ReasoningSignature("s"), new TextDelta("b"), new ToolCallStart(0, "t", "n"),
            new ToolCallDelta(0, "{}"), new ToolCallEnd(0), new MessageEnd(StopReason.EndTurn, Usage.Zero));

        string[] expected = ["event: ping", "thinking_delta", "content_block_stop", "text_delta", "tool_use", "input_json_delta", "content_block_stop", "message_stop"];
        Assert.StartsWith("event: message_start", received[0]);
        for (var i = 0; i < expected.Length; i++) Assert.Contains(expected[i], received[i]);

        var error = await ReadAfterEachStepAsync(pipe => AnthropicMessagesFrontDoor.Instance.CreateStreamWriter(pipe, Context()),
            new TextDelta("b"), new GatewayException(ErrorKind.Internal, "boom"));
        Assert.StartsWith("event: error", error[1]);
    }

    [Fact]
    public async Task A_stray_tool_end_does_not_close_an_open_text_block()
    {
        var frames = ParseSse(await Raw(new TextDelta("a"), new ToolCallEnd(0), new TextDelta("b"), new MessageEnd(StopReason.EndTurn, new Usage(9, 8))));

        Assert.Equal(["message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"],
            frames.Select(f => f.Event));
    }
}
