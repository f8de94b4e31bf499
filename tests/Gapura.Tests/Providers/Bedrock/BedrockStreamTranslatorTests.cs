using Gapura.Conversations;
using Gapura.Providers.Bedrock;
using Gapura.Simulators.Bedrock;

namespace Gapura.Tests.Providers.Bedrock;

/// <summary>ConverseStream decoding over frames encoded by the AWS SDK and delivered in randomly cut reads.</summary>
public sealed class BedrockStreamTranslatorTests
{
    /// <summary>A stream whose reads return 1..max bytes at a time, cut at random offsets.</summary>
    private sealed class ChoppyStream(byte[] data, int seed, int max = 23) : MemoryStream(data)
    {
        private readonly Random _rng = new(seed);

        public override int Read(byte[] buffer, int offset, int count) => base.Read(buffer, offset, Math.Min(count, _rng.Next(1, max)));

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
            => base.ReadAsync(buffer[..Math.Min(buffer.Length, _rng.Next(1, max))], ct);

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct)
            => base.ReadAsync(buffer, offset, Math.Min(count, _rng.Next(1, max)), ct);
    }

    private static async Task<List<StreamEvent>> Decode(IEnumerable<BedrockEvent> frames, int seed = 1)
    {
        var bytes = frames.SelectMany(f => f.Encode(padding: "abcdefgh")).ToArray();
        var events = new List<StreamEvent>();
        await foreach (var e in BedrockStreamTranslator.ReadAsync(new ChoppyStream(bytes, seed))) events.Add(e);
        return events;
    }

    private static readonly BedrockEvent[] FullAnswer =
    [
        BedrockEvent.MessageStart(),
        BedrockEvent.Reasoning(0, "Let me "), BedrockEvent.Reasoning(0, "think ✓"), BedrockEvent.ReasoningSignature(0, "SIG=="), BedrockEvent.BlockStop(0),
        BedrockEvent.Text(1, "Hello, "), BedrockEvent.Text(1, "wörld 🌍"), BedrockEvent.BlockStop(1),
        BedrockEvent.ToolStart(2, "tooluse_a", "get_weather"), BedrockEvent.ToolInput(2, """{"ci"""), BedrockEvent.ToolInput(2, """ty":"Oslo"}"""), BedrockEvent.BlockStop(2),
        BedrockEvent.ToolStart(3, "tooluse_b", "get_time"), BedrockEvent.ToolInput(3, "{}"), BedrockEvent.BlockStop(3),
        BedrockEvent.MessageStop("tool_use"),
        BedrockEvent.Metadata(input: 120, output: 42, cacheRead: 1000, cacheWrite: 30),
    ];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(42)]
    public async Task Decodes_reasoning_text_tools_and_usage_whatever_the_read_boundaries(int seed)
    {
        var events = await Decode(FullAnswer, seed);
        Assert.Equal<StreamEvent>(
        [
            new ReasoningDelta("Let me "), new ReasoningDelta("think ✓"), new ReasoningSignature("SIG=="),
            new TextDelta("Hello, "), new TextDelta("wörld 🌍"),
            new ToolCallStart(0, "tooluse_a", "get_weather"), new ToolCallDelta(0, """{"ci"""), new ToolCallDelta(0, """ty":"Oslo"}"""), new ToolCallEnd(0),
            new ToolCallStart(1, "tooluse_b", "get_time"), new ToolCallDelta(1, "{}"), new ToolCallEnd(1),
            new MessageEnd(StopReason.ToolUse, new Usage(120, 42, CacheReadTokens: 1000, CacheWriteTokens: 30)),
        ], events);
    }

    [Theory]
    [InlineData("end_turn", StopReason.EndTurn)]
    [InlineData("max_tokens", StopReason.MaxTokens)]
    [InlineData("stop_sequence", StopReason.StopSequence)]
    [InlineData("model_context_window_exceeded", StopReason.ContextWindowExceeded)]
    public async Task Maps_stop_reasons(string wire, StopReason expected)
    {
        var events = await Decode([BedrockEvent.MessageStart(), BedrockEvent.Text(0, "x"), BedrockEvent.BlockStop(0),
            BedrockEvent.MessageStop(wire, wire == "stop_sequence" ? "END" : null), BedrockEvent.Metadata(1, 1)]);
        var end = Assert.IsType<MessageEnd>(events[^1]);
        Assert.Equal(expected, end.StopReason);
        Assert.Equal(wire == "stop_sequence" ? "END" : null, end.StopSequence);
    }

    [Theory]
    [InlineData("throttlingException", ErrorKind.RateLimited, 429)]
    [InlineData("validationException", ErrorKind.InvalidRequest, 400)]
    [InlineData("modelStreamErrorException", ErrorKind.UpstreamUnavailable, 502)]
    [InlineData("internalServerException", ErrorKind.UpstreamUnavailable, 503)]
    [InlineData("serviceUnavailableException", ErrorKind.UpstreamUnavailable, 503)]
    public async Task Exception_frames_after_content_throw_with_the_upstream_message(string type, ErrorKind kind, int status)
    {
        var seen = new List<StreamEvent>();
        var e = await Assert.ThrowsAsync<GatewayException>(async () =>
        {
            var bytes = new[] { BedrockEvent.MessageStart(), BedrockEvent.Text(0, "partial"), BedrockEvent.Exception(type, "it broke", 500) }
                .SelectMany(f => f.Encode()).ToArray();
            await foreach (var ev in BedrockStreamTranslator.ReadAsync(new ChoppyStream(bytes, 7))) seen.Add(ev);
        });
        Assert.Equal([new TextDelta("partial")], seen);
        Assert.Equal(kind, e.Kind);
        Assert.Equal(status, e.Status);
        Assert.Contains("it broke", e.Message);
    }

    [Fact]
    public async Task A_stream_that_ends_before_message_stop_is_an_error_not_a_clean_end()
    {
        var e = await Assert.ThrowsAsync<GatewayException>(() => Decode([BedrockEvent.MessageStart(), BedrockEvent.Text(0, "half")]));
        Assert.Equal(502, e.Status);
    }

    [Fact]
    public async Task A_frame_cut_in_the_middle_is_an_error()
    {
        var bytes = new[] { BedrockEvent.MessageStart(), BedrockEvent.Text(0, "half") }.SelectMany(f => f.Encode()).ToArray();
        var e = await Assert.ThrowsAsync<GatewayException>(async () =>
        {
            await foreach (var _ in BedrockStreamTranslator.ReadAsync(new MemoryStream(bytes[..^5]))) { }
        });
        Assert.Contains("broke off", e.Message);
    }

    [Fact]
    public async Task A_corrupt_crc_is_an_error()
    {
        var bytes = BedrockEvent.Text(0, "x").Encode();
        bytes[^1] ^= 0xFF;
        var e = await Assert.ThrowsAsync<GatewayException>(async () =>
        {
            await foreach (var _ in BedrockStreamTranslator.ReadAsync(new MemoryStream(bytes))) { }
        });
        Assert.Contains("corrupt", e.Message);
    }

    [Fact]
    public async Task An_event_whose_payload_is_not_json_is_an_error()
    {
        var bad = BedrockEvent.Raw(new Amazon.Runtime.EventStreams.EventStreamMessage(
            [Header(":event-type", "contentBlockDelta"), Header(":message-type", "event")], "{not json"u8.ToArray()).ToByteArray());
        var e = await Assert.ThrowsAsync<GatewayException>(() => Decode([BedrockEvent.MessageStart(), bad]));
        Assert.Equal(502, e.Status);
        Assert.Contains("unreadable", e.Message);

        static Amazon.Runtime.EventStreams.IEventStreamHeader Header(string name, string value)
        {
            var h = new Amazon.Runtime.EventStreams.EventStreamHeader(name);
            h.SetString(value);
            return h;
        }
    }

    [Fact]
    public async Task Missing_metadata_still_ends_with_estimated_zero_usage()
    {
        var events = await Decode([BedrockEvent.MessageStart(), BedrockEvent.Text(0, "x"), BedrockEvent.BlockStop(0), BedrockEvent.MessageStop("end_turn")]);
        var end = Assert.IsType<MessageEnd>(events[^1]);
        Assert.True(end.Usage.Estimated);
    }
}
