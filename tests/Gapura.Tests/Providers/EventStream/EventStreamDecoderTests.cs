using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Text;
using Amazon.Runtime.EventStreams;
using Gapura.Providers.EventStream;
using EventStreamHeaderType = Gapura.Providers.EventStream.EventStreamHeaderType;
using AwsHeader = Amazon.Runtime.EventStreams.EventStreamHeader;
using Xunit.Abstractions;

namespace Gapura.Tests.Providers.EventStream;

public class EventStreamDecoderTests(ITestOutputHelper output)
{
    private static readonly byte[] Vector1 = AwsFrames.Event("assistantResponseEvent", """{"content":"Hi"}""");
    private static readonly byte[] Vector2 = AwsFrames.Event("contextUsageEvent", """{"contextUsagePercentage":12.5}""");

    [Fact]
    public void Verified_vector_one_has_the_documented_bytes_and_decodes()
    {
        Assert.Equal(124, Vector1.Length);
        Assert.Equal("0000007c0000005c3bddcf78", Convert.ToHexStringLower(Vector1.AsSpan(0, 12)));
        Assert.Equal("b02babdc", Convert.ToHexStringLower(Vector1.AsSpan(120, 4)));
        Assert.Equal(0x3bddcf78u, System.IO.Hashing.Crc32.HashToUInt32(Vector1.AsSpan(0, 8)));
        Assert.Equal(0xb02babdcu, System.IO.Hashing.Crc32.HashToUInt32(Vector1.AsSpan(0, 120)));

        var frame = Assert.Single(DecodeChunks([Vector1]));
        Assert.Equal("event", frame.MessageType);
        Assert.Equal("assistantResponseEvent", frame.EventType);
        Assert.Equal("application/json", frame.ContentType);
        Assert.Null(frame.ExceptionType);
        Assert.Equal("""{"content":"Hi"}""", Encoding.UTF8.GetString(frame.Payload.Span));
        Assert.Equal(92, frame.Headers.Length);
        Assert.Equal(124, frame.WireLength);
    }

    [Fact]
    public void Verified_vector_two_has_the_documented_bytes_and_decodes()
    {
        Assert.Equal(134, Vector2.Length);
        Assert.Equal(87u, BinaryPrimitives.ReadUInt32BigEndian(Vector2.AsSpan(4)));
        Assert.Equal("ae8b5e0c", Convert.ToHexStringLower(Vector2.AsSpan(8, 4)));
        Assert.Equal("775490df", Convert.ToHexStringLower(Vector2.AsSpan(130, 4)));

        var frame = Assert.Single(DecodeChunks([Vector2]));
        Assert.Equal("contextUsageEvent", frame.EventType);
        Assert.Equal("""{"contextUsagePercentage":12.5}""", Encoding.UTF8.GetString(frame.Payload.Span));
    }

    [Fact]
    public void Every_header_type_encoded_by_the_aws_sdk_decodes()
    {
        var when = new DateTime(2025, 3, 4, 5, 6, 7, 890, DateTimeKind.Utc);
        var guid = Guid.Parse("00112233-4455-6677-8899-aabbccddeeff");
        var headers = new List<IEventStreamHeader>
        {
            Make("t", h => h.SetBool(true)),
            Make("f", h => h.SetBool(false)),
            Make("b", h => h.SetSByte(-7)),
            Make("s", h => h.SetInt16(-12345)),
            Make("i", h => h.SetInt32(-123456789)),
            Make("l", h => h.SetInt64(-1234567890123456789)),
            Make("bytes", h => h.SetByteBuf([1, 2, 3, 255])),
            Make("str", h => h.SetString("héllo 🌍")),
            Make("ts", h => h.SetTimestamp(when)),
            Make("uuid", h => h.SetUUID(guid)),
            AwsFrames.Str(":message-type", "event"),
        };
        var bytes = AwsFrames.Encode(headers, [9, 8, 7]);
        var frame = Assert.Single(DecodeChunks([bytes]));

        var seen = new Dictionary<string, object>();
        foreach (var h in frame.EnumerateHeaders())
        {
            object value = h.Type switch
            {
                EventStreamHeaderType.BoolTrue or EventStreamHeaderType.BoolFalse => h.AsBool(),
                EventStreamHeaderType.Byte => h.AsByte(),
                EventStreamHeaderType.Int16 => h.AsInt16(),
                EventStreamHeaderType.Int32 => h.AsInt32(),
                EventStreamHeaderType.Int64 => h.AsInt64(),
                EventStreamHeaderType.ByteArray => h.AsBytes().ToArray(),
                EventStreamHeaderType.String => h.AsString(),
                EventStreamHeaderType.Timestamp => h.AsTimestamp(),
                EventStreamHeaderType.Uuid => h.RawValue.ToArray(),
                _ => throw new InvalidOperationException(),
            };
            seen[h.Name] = value;
        }

        Assert.Equal(11, seen.Count);
        Assert.Equal(true, seen["t"]);
        Assert.Equal(false, seen["f"]);
        Assert.Equal((sbyte)-7, seen["b"]);
        Assert.Equal((short)-12345, seen["s"]);
        Assert.Equal(-123456789, seen["i"]);
        Assert.Equal(-1234567890123456789L, seen["l"]);
        Assert.Equal(new byte[] { 1, 2, 3, 255 }, seen["bytes"]);
        Assert.Equal("héllo 🌍", seen["str"]);
        Assert.Equal(new DateTimeOffset(when), seen["ts"]);
        // 16 bytes, whatever byte order the SDK picks for a .NET Guid.
        Assert.Equal(16, ((byte[])seen["uuid"]).Length);
        Assert.Equal("event", frame.MessageType);
        Assert.Equal(new byte[] { 9, 8, 7 }, frame.Payload.ToArray());
    }

    [Fact]
    public void Uuid_headers_read_in_network_byte_order()
    {
        var frame = Hand([Header("u", 9, Convert.FromHexString("00112233445566778899aabbccddeeff"))], []);
        var decoded = Assert.Single(DecodeChunks([frame]));
        foreach (var h in decoded.EnumerateHeaders())
            Assert.Equal(Guid.Parse("00112233-4455-6677-8899-aabbccddeeff"), h.AsUuid());
    }

    [Fact]
    public void Empty_frame_of_sixteen_bytes_decodes()
    {
        var frame = Assert.Single(DecodeChunks([Hand([], [])]));
        Assert.Equal(0, frame.Payload.Length);
        Assert.Null(frame.MessageType);
    }

    [Fact]
    public void Frames_fed_one_byte_at_a_time_decode_identically()
    {
        var stream = SampleStream();
        var expected = Describe(DecodeChunks([stream]));
        Assert.Equal(6, expected.Count);
        Assert.Equal(expected, Describe(DecodeChunks(AwsFrames.Split(stream, Enumerable.Range(1, stream.Length)))));
    }

    [Fact]
    public void Frames_split_at_random_points_decode_identically()
    {
        var stream = SampleStream();
        var expected = Describe(DecodeChunks([stream]));
        var random = new Random(20250101);
        for (int i = 0; i < 300; i++)
            Assert.Equal(expected, Describe(DecodeChunks(AwsFrames.RandomSplit(stream, random, random.Next(1, 40)))));
    }

    [Fact]
    public void A_split_inside_a_multibyte_character_decodes()
    {
        const string text = "é世🌍 → ok";
        var frame = AwsFrames.Event("assistantResponseEvent", $$"""{"content":"{{text}}"}""");
        int payloadStart = frame.Length - 4 - Encoding.UTF8.GetByteCount($$"""{"content":"{{text}}"}""");
        for (int cut = payloadStart; cut < frame.Length - 4; cut++)
        {
            var decoded = Assert.Single(DecodeChunks(AwsFrames.Split(frame, [cut, cut + 1])));
            Assert.Equal($$"""{"content":"{{text}}"}""", Encoding.UTF8.GetString(decoded.Payload.Span));
        }
    }

    [Fact]
    public void Corrupt_prelude_crc_is_rejected()
    {
        var bytes = (byte[])Vector1.Clone();
        bytes[10] ^= 0x01;
        var ex = Assert.Throws<EventStreamFormatException>(() => DecodeChunks([bytes]));
        Assert.Contains("prelude CRC", ex.Message);
    }

    [Fact]
    public void Corrupt_length_is_caught_by_the_prelude_crc_before_waiting_for_bytes()
    {
        var bytes = (byte[])Vector1.Clone();
        bytes[0] = 0x7f;   // ~2 GB frame: must fail now, not wait
        Assert.Throws<EventStreamFormatException>(() => DecodeChunks([bytes.AsSpan(0, 12).ToArray()]));
    }

    [Fact]
    public void Corrupt_payload_fails_the_message_crc()
    {
        var bytes = (byte[])Vector1.Clone();
        bytes[110] ^= 0x20;
        var ex = Assert.Throws<EventStreamFormatException>(() => DecodeChunks([bytes]));
        Assert.Contains("message CRC", ex.Message);
    }

    [Fact]
    public void Corrupt_message_crc_is_rejected()
    {
        var bytes = (byte[])Vector1.Clone();
        bytes[^1] ^= 0xff;
        Assert.Throws<EventStreamFormatException>(() => DecodeChunks([bytes]));
    }

    [Theory]
    [InlineData(15u, 0u)]                    // below the 16-byte minimum
    [InlineData(0u, 0u)]
    [InlineData(16u * 1024 * 1024 + 1, 0u)]  // above 16 MiB
    [InlineData(40u, 25u)]                   // headers longer than the frame allows
    public void Impossible_lengths_are_rejected_even_with_a_valid_prelude_crc(uint total, uint headers)
    {
        var prelude = new byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(prelude, total);
        BinaryPrimitives.WriteUInt32BigEndian(prelude.AsSpan(4), headers);
        BinaryPrimitives.WriteUInt32BigEndian(prelude.AsSpan(8), System.IO.Hashing.Crc32.HashToUInt32(prelude.AsSpan(0, 8)));
        Assert.Throws<EventStreamFormatException>(() => DecodeChunks([prelude]));
    }

    [Fact]
    public void Unknown_header_type_is_rejected()
    {
        var frame = Hand([Header("x", 10, [])], []);
        Assert.Throws<EventStreamFormatException>(() => DecodeChunks([frame]));
    }

    [Fact]
    public void Header_running_past_its_block_is_rejected()
    {
        // a string header announcing 50 bytes of value inside a 10-byte block
        byte[] header = [1, (byte)'s', 7, 0, 50, (byte)'a', (byte)'b', (byte)'c', (byte)'d', (byte)'e'];
        Assert.Throws<EventStreamFormatException>(() => DecodeChunks([Hand([header], [])]));
    }

    [Fact]
    public void Known_header_values_are_shared_strings()
    {
        var decoder = new EventStreamDecoder(["assistantResponseEvent"]);
        var buffer = new ReadOnlySequence<byte>(AwsFrames.Concat(Vector1, Vector1));
        Assert.True(decoder.TryReadFrame(ref buffer, out var a));
        Assert.True(decoder.TryReadFrame(ref buffer, out var b));
        Assert.Same(a.EventType, b.EventType);
        Assert.Same(a.MessageType, b.MessageType);
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void An_incomplete_frame_leaves_the_buffer_untouched()
    {
        var decoder = new EventStreamDecoder();
        var buffer = new ReadOnlySequence<byte>(Vector1.AsMemory(0, 100));
        Assert.False(decoder.TryReadFrame(ref buffer, out _));
        Assert.Equal(100, buffer.Length);
    }

    [Fact]
    public async Task Pipe_reader_yields_every_frame_when_bytes_trickle_in()
    {
        var stream = SampleStream();
        var pipe = new Pipe();
        var writer = Task.Run(async () =>
        {
            foreach (var b in stream)
            {
                await pipe.Writer.WriteAsync(new[] { b });
            }
            await pipe.Writer.CompleteAsync();
        });
        var frames = new List<EventStreamFrame>();
        await foreach (var f in new EventStreamDecoder().ReadFramesAsync(pipe.Reader)) frames.Add(f);
        await writer;
        Assert.Equal(Describe(DecodeChunks([stream])), Describe(frames));
    }

    [Fact]
    public async Task Pipe_reader_throws_when_the_stream_ends_mid_frame()
    {
        var stream = AwsFrames.Concat(Vector1, Vector2.AsSpan(0, 50).ToArray());
        var reader = PipeReader.Create(new MemoryStream(stream));
        var frames = new List<EventStreamFrame>();
        var ex = await Assert.ThrowsAsync<EventStreamTruncatedException>(async () =>
        {
            await foreach (var f in new EventStreamDecoder().ReadFramesAsync(reader)) frames.Add(f);
        });
        Assert.Single(frames);   // the whole first frame was delivered before the failure
        Assert.Equal(50, ex.BytesReceived);
    }

    [Fact]
    public async Task Pipe_reader_ends_cleanly_on_an_empty_stream()
    {
        var reader = PipeReader.Create(new MemoryStream([]));
        await foreach (var _ in new EventStreamDecoder().ReadFramesAsync(reader)) Assert.Fail("no frames expected");
    }

    [Fact]
    public async Task Pipe_reader_honours_cancellation()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(Vector1.AsMemory(0, 20));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in new EventStreamDecoder().ReadFramesAsync(pipe.Reader, cts.Token)) { }
        });
    }

    [Fact]
    public void Decode_throughput()
    {
        // Many small text deltas, the common case. Printed, not asserted: the machine is shared. Later rounds
        // show tier-1 (optimised) code; the first ones run while the JIT is still tiering up.
        var one = AwsFrames.Event("assistantResponseEvent", """{"content":"Here is a typical streamed delta of text."}""");
        var data = new byte[one.Length * 20_000];
        for (int i = 0; i < 20_000; i++) one.CopyTo(data, i * one.Length);
        var decoder = new EventStreamDecoder(["assistantResponseEvent"]);
        for (int round = 0; round < 8; round++)
        {
            var sw = Stopwatch.StartNew();
            var buffer = new ReadOnlySequence<byte>(data);
            int frames = 0;
            while (decoder.TryReadFrame(ref buffer, out _)) frames++;
            sw.Stop();
            Assert.Equal(20_000, frames);
            output.WriteLine($"round {round}: {data.Length / 1e6 / sw.Elapsed.TotalSeconds:F0} MB/s, {frames / sw.Elapsed.TotalSeconds / 1e6:F2} M frames/s");
        }
        var crcWatch = Stopwatch.StartNew();
        uint crc = 0;
        for (int i = 0; i < 5; i++) crc ^= System.IO.Hashing.Crc32.HashToUInt32(data);
        crcWatch.Stop();
        output.WriteLine($"crc-32: {5 * data.Length / 1e6 / crcWatch.Elapsed.TotalSeconds:F0} MB/s ({crc:x8})");
    }

    private static byte[] SampleStream() => AwsFrames.Concat(
        AwsFrames.Event("assistantResponseEvent", """{"content":"Hello, wörld — 世界 🌍"}"""),
        AwsFrames.Event("toolUseEvent", """{"toolUseId":"t1","name":"read","input":"{\"pa"}"""),
        AwsFrames.Event("assistantResponseEvent", "{\"content\":\"" + new string('x', 5000) + "\"}"),
        AwsFrames.Exception("ThrottlingException", """{"message":"slow down"}"""),
        AwsFrames.Error("InternalError", "boom"),
        Vector2);

    private static List<string> Describe(IEnumerable<EventStreamFrame> frames) => frames
        .Select(f => $"{f.MessageType}|{f.EventType}|{f.ContentType}|{f.ExceptionType}|{f.ErrorCode}|{f.ErrorMessage}|{Convert.ToHexString(f.Headers.Span)}|{Encoding.UTF8.GetString(f.Payload.Span)}")
        .ToList();

    /// <summary>Feeds chunks as successive pipe reads, keeping unconsumed bytes as separate segments.</summary>
    internal static List<EventStreamFrame> DecodeChunks(IReadOnlyList<byte[]> chunks)
    {
        var decoder = new EventStreamDecoder();
        var frames = new List<EventStreamFrame>();
        var pending = new List<byte[]>();
        foreach (var chunk in chunks)
        {
            pending.Add(chunk);
            var buffer = AwsFrames.Segments(pending);
            while (decoder.TryReadFrame(ref buffer, out var frame)) frames.Add(frame);
            pending = [];
            foreach (var memory in buffer) pending.Add(memory.ToArray());
        }
        Assert.Equal(0, pending.Sum(p => p.Length));
        return frames;
    }

    private static IEventStreamHeader Make(string name, Action<IEventStreamHeader> set)
    {
        var h = new AwsHeader(name);
        set(h);
        return h;
    }

    internal static byte[] Header(string name, byte type, byte[] value)
        => [(byte)name.Length, .. Encoding.ASCII.GetBytes(name), type, .. value];

    /// <summary>A frame built by hand, for shapes the SDK refuses to produce.</summary>
    internal static byte[] Hand(byte[][] headers, byte[] payload)
    {
        var block = headers.SelectMany(h => h).ToArray();
        var frame = new byte[16 + block.Length + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)frame.Length);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(4), (uint)block.Length);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(8), System.IO.Hashing.Crc32.HashToUInt32(frame.AsSpan(0, 8)));
        block.CopyTo(frame, 12);
        payload.CopyTo(frame, 12 + block.Length);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(frame.Length - 4), System.IO.Hashing.Crc32.HashToUInt32(frame.AsSpan(0, frame.Length - 4)));
        return frame;
    }
}
