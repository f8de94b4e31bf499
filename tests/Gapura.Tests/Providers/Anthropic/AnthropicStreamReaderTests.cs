using System.Text;
using Gapura.Conversations;
using Gapura.Providers.Anthropic;
using Gapura.Simulators.Anthropic;

namespace Gapura.Tests.Providers.Anthropic;

public class AnthropicStreamReaderTests
{
    private static readonly AnthropicSimMessage Rich = new()
    {
        Content =
        [
            new AnthropicSimThinking("Let me think — about ünïcödé 🙂 and more", "sig-XYZ=="),
            new AnthropicSimText("Hello 🌍, wörld! This is a longer answer that spans several deltas."),
            new AnthropicSimToolUse("toolu_01", "read_file", """{"path":"src/ä.txt","limit":10}""", Fragments: 4),
            new AnthropicSimToolUse("toolu_02", "grep", """{"pattern":"x"}"""),
        ],
        StopReason = "tool_use",
        InputTokens = 120,
        OutputTokens = 77,
        CacheReadInputTokens = 1000,
        CacheCreationInputTokens = 50,
    };

    private static byte[] Encode(IEnumerable<AnthropicSseEvent> events) => events.SelectMany(e => e.Encode()).ToArray();

    private static async Task<List<StreamEvent>> ReadAsync(byte[] bytes, int seed = 1, int maxChunk = 7)
    {
        var events = new List<StreamEvent>();
        await foreach (var e in AnthropicStreamReader.ReadAsync(new ChunkedStream(bytes, seed, maxChunk), CancellationToken.None)) events.Add(e);
        return events;
    }

    [Fact]
    public async Task Decodes_thinking_signature_text_tool_calls_usage_and_stop_reason()
    {
        var events = await ReadAsync(Encode(Rich.ToEvents()), maxChunk: 100_000);
        var result = Fold(events);
        Assert.Equal("Let me think — about ünïcödé 🙂 and more", result.Reasoning);
        Assert.Equal("sig-XYZ==", result.ReasoningSignature);
        Assert.Equal("Hello 🌍, wörld! This is a longer answer that spans several deltas.", result.Text);
        Assert.Equal(2, result.ToolCalls.Count);
        Assert.Equal(new ToolCall("toolu_01", "read_file", """{"path":"src/ä.txt","limit":10}"""), result.ToolCalls[0]);
        Assert.Equal(new ToolCall("toolu_02", "grep", """{"pattern":"x"}"""), result.ToolCalls[1]);
        Assert.Equal(StopReason.ToolUse, result.StopReason);
        Assert.Equal(new Usage(120, 77, 1000, 50), result.Usage);

        // Tool events stay contiguous: Start, Delta…, End per call, indices counted from 0.
        var toolEvents = events.Where(e => e is ToolCallStart or ToolCallDelta or ToolCallEnd).ToList();
        Assert.IsType<ToolCallStart>(toolEvents[0]);
        Assert.Equal(4, toolEvents.Skip(1).TakeWhile(e => e is ToolCallDelta).Count());
        Assert.Equal(new ToolCallEnd(0), toolEvents[5]);
        Assert.Equal(new ToolCallStart(1, "toolu_02", "grep"), toolEvents[6]);
        Assert.IsType<MessageEnd>(events[^1]);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 3)]
    [InlineData(3, 7)]
    [InlineData(4, 64)]
    [InlineData(5, 2)]
    public async Task Any_byte_split_gives_the_same_events(int seed, int maxChunk)
    {
        var bytes = Encode(Rich.ToEvents(chunkChars: 5));
        var whole = await ReadAsync(bytes, maxChunk: bytes.Length);
        var split = await ReadAsync(bytes, seed, maxChunk);
        Assert.Equal(Fold(whole), Fold(split), new ResultComparer());
        Assert.Equal(whole.Count, split.Count);
    }

    [Fact]
    public async Task Crlf_line_endings_comments_and_multi_line_data_are_understood()
    {
        var sse = ": comment\r\nevent: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\r\n\r\n"
            + "event: content_block_start\r\ndata: {\"type\":\"content_block_start\",\r\ndata: \"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\r\n\r\n"
            + "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"ok\"}}\n\n"
            + "event: some_future_event\ndata: {\"type\":\"some_future_event\"}\n\n"
            + "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"model_context_window_exceeded\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":9}}\n\n"
            + "event: message_stop\ndata: {\"type\":\"message_stop\"}";
        var events = await ReadAsync(Encoding.UTF8.GetBytes(sse));
        Assert.Equal([new TextDelta("ok"), new MessageEnd(StopReason.ContextWindowExceeded, new Usage(3, 9))], events);
    }

    [Theory]
    [InlineData("end_turn", StopReason.EndTurn)]
    [InlineData("max_tokens", StopReason.MaxTokens)]
    [InlineData("stop_sequence", StopReason.StopSequence)]
    [InlineData("tool_use", StopReason.ToolUse)]
    [InlineData("pause_turn", StopReason.EndTurn)]
    [InlineData("refusal", StopReason.EndTurn)]
    [InlineData("model_context_window_exceeded", StopReason.ContextWindowExceeded)]
    public void Stop_reasons(string wire, StopReason expected) => Assert.Equal(expected, AnthropicStreamReader.MapStopReason(wire));

    [Fact]
    public async Task The_stop_sequence_travels_with_its_stop_reason()
    {
        var message = new AnthropicSimMessage { Content = [new AnthropicSimText("abc")], StopReason = "stop_sequence", StopSequence = "STOP" };
        var end = Assert.IsType<MessageEnd>((await ReadAsync(Encode(message.ToEvents())))[^1]);
        Assert.Equal("STOP", end.StopSequence);
        Assert.Equal(StopReason.StopSequence, end.StopReason);
    }

    [Fact]
    public async Task Redacted_thinking_becomes_a_signature_without_text()
    {
        var message = new AnthropicSimMessage { Content = [new AnthropicSimRedactedThinking("ENCRYPTED"), new AnthropicSimText("hi")] };
        var events = await ReadAsync(Encode(message.ToEvents()));
        Assert.Equal(new ReasoningSignature("ENCRYPTED"), events[0]);
        Assert.DoesNotContain(events, e => e is ReasoningDelta);
    }

    [Fact]
    public async Task An_error_event_mid_stream_is_a_gateway_exception_after_the_text_before_it()
    {
        var scenario = AnthropicScenario.MidStreamError("partial answer");
        var events = new List<StreamEvent>();
        var error = await Assert.ThrowsAsync<GatewayException>(async () =>
        {
            await foreach (var e in AnthropicStreamReader.ReadAsync(new ChunkedStream(Encode(scenario.Events!), 3, 5), CancellationToken.None)) events.Add(e);
        });
        Assert.Equal("partial answer", string.Concat(events.OfType<TextDelta>().Select(t => t.Text)));
        Assert.Equal(529, error.Status);
        Assert.Equal(ErrorKind.UpstreamUnavailable, error.Kind);
        Assert.Contains("Overloaded", error.Message);
    }

    [Fact]
    public async Task A_stream_that_stops_before_message_stop_is_an_error_not_a_clean_end()
    {
        var events = Rich.ToEvents();
        var bytes = Encode(events.Take(events.Count - 1));
        var error = await Assert.ThrowsAsync<GatewayException>(() => ReadAsync(bytes));
        Assert.Contains("message_stop", error.Message);
        Assert.True(error.IsRetryable);
    }

    private static ChatResult Fold(List<StreamEvent> events)
    {
        var builder = new ChatResultBuilder();
        foreach (var e in events) builder.Add(e);
        return builder.Build();
    }

    private sealed class ResultComparer : IEqualityComparer<ChatResult>
    {
        public bool Equals(ChatResult? x, ChatResult? y) => x is not null && y is not null && x.Text == y.Text && x.Reasoning == y.Reasoning
            && x.ReasoningSignature == y.ReasoningSignature && x.ToolCalls.SequenceEqual(y.ToolCalls) && x.StopReason == y.StopReason && x.Usage == y.Usage;

        public int GetHashCode(ChatResult obj) => obj.Text.GetHashCode();
    }
}

/// <summary>A read-only stream that hands out its bytes in random-sized pieces, as a network does.</summary>
internal sealed class ChunkedStream(byte[] data, int seed, int maxChunk) : Stream
{
    private readonly Random _random = new(seed);
    private int _position;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => data.Length;
    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        var n = Math.Min(Math.Min(count, _random.Next(1, maxChunk + 1)), data.Length - _position);
        Array.Copy(data, _position, buffer, offset, n);
        _position += n;
        return n;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        var n = Math.Min(Math.Min(buffer.Length, _random.Next(1, maxChunk + 1)), data.Length - _position);
        data.AsMemory(_position, n).CopyTo(buffer);
        _position += n;
        return ValueTask.FromResult(n);
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
