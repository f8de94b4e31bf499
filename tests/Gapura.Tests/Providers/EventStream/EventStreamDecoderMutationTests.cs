using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Gapura.Providers.EventStream;
using static Gapura.Tests.Providers.EventStream.EventStreamDecoderTests;

namespace Gapura.Tests.Providers.EventStream;

/// <summary>
/// The decoder's limits and the exact errors it reports, pinned at their boundaries (found by mutation testing:
/// see DEVELOPERS.md, "Mutation testing"). Bedrock and Kiro answers go through this decoder; a limit off by one
/// either refuses a legal frame or waits on a corrupt one.
/// </summary>
public class EventStreamDecoderMutationTests
{
    [Fact]
    public void A_frame_of_exactly_the_maximum_length_decodes_and_one_byte_more_is_refused()
    {
        var payload = new byte[EventStreamDecoder.MaxFrameLength - EventStreamDecoder.Overhead];
        payload[0] = (byte)'{';
        payload[^1] = (byte)'}';
        var largest = Hand([], payload);
        Assert.Equal(16 * 1024 * 1024, largest.Length);

        var frame = Assert.Single(DecodeChunks([largest]));
        Assert.Equal(payload.Length, frame.Payload.Length);
        Assert.Equal(largest.Length, frame.WireLength);

        var ex = Assert.Throws<EventStreamFormatException>(() => DecodeChunks([Prelude(EventStreamDecoder.MaxFrameLength + 1, 0)]));
        Assert.Equal("Event-stream frame length 16777217 is outside 16..16777216.", ex.Message);
    }

    [Fact]
    public void Lengths_below_the_minimum_name_the_allowed_range()
    {
        var ex = Assert.Throws<EventStreamFormatException>(() => DecodeChunks([Prelude(15, 0)]));
        Assert.Equal("Event-stream frame length 15 is outside 16..16777216.", ex.Message);
    }

    [Fact]
    public void Headers_may_fill_the_whole_frame_but_not_one_byte_more()
    {
        // 16-byte overhead + a 3-byte block: a header block of exactly total - 16 is legal…
        var full = Hand([Header("a", 0, [])], []);
        var frame = Assert.Single(DecodeChunks([full]));
        Assert.Equal(3, frame.Headers.Length);
        Assert.Equal(0, frame.Payload.Length);

        // …one byte longer is refused before waiting for the rest of the frame.
        var ex = Assert.Throws<EventStreamFormatException>(() => DecodeChunks([Prelude(40, 25)]));
        Assert.Equal("Event-stream headers length 25 exceeds the frame length 40.", ex.Message);
    }

    [Fact]
    public void Crc_errors_say_which_crc_and_both_values()
    {
        var bytes = AwsFrames.Event("assistantResponseEvent", """{"content":"Hi"}""");
        var prelude = (byte[])bytes.Clone();
        prelude[8] ^= 0xff;
        var ex = Assert.Throws<EventStreamFormatException>(() => DecodeChunks([prelude]));
        Assert.Equal($"Event-stream prelude CRC mismatch (frame says {BinaryPrimitives.ReadUInt32BigEndian(prelude.AsSpan(8)):x8}, computed 3bddcf78).", ex.Message);

        var message = (byte[])bytes.Clone();
        message[^1] ^= 0xff;
        ex = Assert.Throws<EventStreamFormatException>(() => DecodeChunks([message]));
        Assert.Equal($"Event-stream message CRC mismatch (frame says {BinaryPrimitives.ReadUInt32BigEndian(message.AsSpan(message.Length - 4)):x8}, computed b02babdc).", ex.Message);
    }

    [Fact]
    public void Fewer_bytes_than_a_prelude_wait_for_more()
    {
        var decoder = new EventStreamDecoder();
        var bytes = AwsFrames.Event("assistantResponseEvent", """{"content":"Hi"}""");
        for (var length = 0; length < EventStreamDecoder.PreludeLength; length++)
        {
            var buffer = new ReadOnlySequence<byte>(bytes.AsMemory(0, length));
            Assert.False(decoder.TryReadFrame(ref buffer, out _));
            Assert.Equal(length, buffer.Length);
        }
    }

    [Fact]
    public void Every_known_header_lands_in_its_own_field()
    {
        var frame = Assert.Single(DecodeChunks([AwsFrames.Encode(
        [
            AwsFrames.Str(":message-type", "exception"), AwsFrames.Str(":event-type", "e"), AwsFrames.Str(":content-type", "c"),
            AwsFrames.Str(":exception-type", "x"), AwsFrames.Str(":error-code", "code"), AwsFrames.Str(":error-message", "msg"),
        ], [])]));

        Assert.Equal(("exception", "e", "c", "x", "code", "msg"),
            (frame.MessageType, frame.EventType, frame.ContentType, frame.ExceptionType, frame.ErrorCode, frame.ErrorMessage));
    }

    [Fact]
    public void Only_string_headers_with_a_colon_name_are_read_as_known_headers()
    {
        // ":event-type" as a byte-array header, and "event-type" without the colon, are someone else's headers.
        var frame = Assert.Single(DecodeChunks([Hand(
        [
            Header(":event-type", 6, [0, 2, (byte)'n', (byte)'o']),
            Header("event-type", 7, [0, 2, (byte)'n', (byte)'o']),
            Header(":", 7, [0, 2, (byte)'n', (byte)'o']),
        ], [])]));

        Assert.Null(frame.EventType);
        var names = new List<string>();
        foreach (var h in frame.EnumerateHeaders()) names.Add(Encoding.UTF8.GetString(h.NameUtf8));
        Assert.Equal([":event-type", "event-type", ":"], names);
    }

    [Fact]
    public void Values_that_only_share_a_prefix_with_a_known_value_are_decoded_as_sent()
    {
        var decoder = new EventStreamDecoder(["assistantResponseEvent"]);
        var buffer = new ReadOnlySequence<byte>(AwsFrames.Concat(
            AwsFrames.Event("assistantResponse", "{}"), AwsFrames.Event("assistantResponseEventX", "{}"), AwsFrames.Event("assistantResponseEvenT", "{}")));
        var types = new List<string?>();
        while (decoder.TryReadFrame(ref buffer, out var frame)) types.Add(frame.EventType);

        Assert.Equal(["assistantResponse", "assistantResponseEventX", "assistantResponseEvenT"], types);
    }

    [Fact]
    public void A_frame_spread_over_many_segments_checks_its_crc_over_all_of_them()
    {
        var bytes = AwsFrames.Event("assistantResponseEvent", """{"content":"spread"}""");
        var corrupt = (byte[])bytes.Clone();
        corrupt[^10] ^= 0x01;   // inside the payload, in the last segment but one

        Assert.Single(DecodeChunks([bytes[..20], bytes[20..60], bytes[60..]]));
        var decoder = new EventStreamDecoder();
        var buffer = AwsFrames.Segments([corrupt[..20], corrupt[20..60], corrupt[60..]]);
        Assert.Contains("message CRC", Assert.Throws<EventStreamFormatException>(() => decoder.TryReadFrame(ref buffer, out _)).Message);
    }

    private static byte[] Prelude(long total, uint headers)
    {
        var prelude = new byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(prelude, (uint)total);
        BinaryPrimitives.WriteUInt32BigEndian(prelude.AsSpan(4), headers);
        BinaryPrimitives.WriteUInt32BigEndian(prelude.AsSpan(8), System.IO.Hashing.Crc32.HashToUInt32(prelude.AsSpan(0, 8)));
        return prelude;
    }

    [Fact]
    public void The_common_header_values_are_shared_strings_without_being_named()
    {
        var decoder = new EventStreamDecoder();
        var frame = AwsFrames.Exception("ThrottlingException", "{}");
        var error = AwsFrames.Error("InternalError", "boom");
        var buffer = new ReadOnlySequence<byte>(AwsFrames.Concat(frame, frame, error, error));
        var frames = new List<EventStreamFrame>();
        while (decoder.TryReadFrame(ref buffer, out var f)) frames.Add(f);

        Assert.Same(frames[0].MessageType, frames[1].MessageType);     // "exception"
        Assert.Same(frames[0].ContentType, frames[1].ContentType);     // "application/json"
        Assert.Same(frames[2].MessageType, frames[3].MessageType);     // "error"
        Assert.Equal(("exception", "application/json", "error"), (frames[0].MessageType, frames[0].ContentType, frames[2].MessageType));
    }
}
