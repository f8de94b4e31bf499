using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;

namespace Gapura.Providers.EventStream;

/// <summary>
/// Incremental decoder of the AWS event-stream encoding (<c>application/vnd.amazon.eventstream</c>):
/// <c>[total u32][headers u32][prelude crc u32][headers][payload][message crc u32]</c>, big-endian.
/// Works on raw bytes before any text decoding, so a frame (or a UTF-8 character) split across reads is
/// simply incomplete until the rest arrives. Both CRCs are verified; any inconsistency is fatal because
/// frame boundaries cannot be recovered once a length is in doubt.
/// </summary>
internal sealed class EventStreamDecoder
{
    /// <summary>Prelude (12) + message CRC (4): the size of a frame with no headers and no payload.</summary>
    public const int Overhead = 16;

    public const int PreludeLength = 12;

    /// <summary>The encoding's upper bound on a frame.</summary>
    public const int MaxFrameLength = 16 * 1024 * 1024;

    private static readonly string[] CommonValues = ["event", "exception", "error", "application/json"];

    // Header values repeat on every frame (":event-type" = "assistantResponseEvent" thousands of times per
    // answer): known ones are returned as shared strings instead of being decoded again.
    private readonly (byte[] Utf8, string Value)[] _knownValues;

    /// <param name="knownValues">Header values the caller expects often; they are returned without allocating.</param>
    public EventStreamDecoder(IEnumerable<string>? knownValues = null)
    {
        _knownValues = CommonValues.Concat(knownValues ?? []).Distinct(StringComparer.Ordinal)
            .Select(v => (Encoding.UTF8.GetBytes(v), v)).ToArray();
    }

    /// <summary>
    /// Decodes the first frame of <paramref name="buffer"/> and slices it off. Returns false, leaving the
    /// buffer alone, when the frame is not complete yet.
    /// </summary>
    /// <exception cref="EventStreamFormatException">The bytes are not a valid frame.</exception>
    public bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out EventStreamFrame frame)
    {
        frame = default;
        if (buffer.Length < PreludeLength) return false;

        Span<byte> prelude = stackalloc byte[PreludeLength];
        buffer.Slice(0, PreludeLength).CopyTo(prelude);
        uint totalLength = BinaryPrimitives.ReadUInt32BigEndian(prelude);
        uint headersLength = BinaryPrimitives.ReadUInt32BigEndian(prelude[4..]);
        uint preludeCrc = BinaryPrimitives.ReadUInt32BigEndian(prelude[8..]);

        // The prelude CRC comes first: a flipped length bit is corruption, not a reason to wait for 4 GB.
        uint actualPreludeCrc = System.IO.Hashing.Crc32.HashToUInt32(prelude[..8]);
        if (actualPreludeCrc != preludeCrc)
            throw new EventStreamFormatException($"Event-stream prelude CRC mismatch (frame says {preludeCrc:x8}, computed {actualPreludeCrc:x8}).");
        if (totalLength < Overhead || totalLength > MaxFrameLength)
            throw new EventStreamFormatException($"Event-stream frame length {totalLength} is outside {Overhead}..{MaxFrameLength}.");
        if (headersLength > totalLength - Overhead)
            throw new EventStreamFormatException($"Event-stream headers length {headersLength} exceeds the frame length {totalLength}.");

        if (buffer.Length < totalLength) return false;

        var whole = buffer.Slice(0, totalLength);
        uint computed = Crc(whole.Slice(0, totalLength - 4));
        Span<byte> crcBytes = stackalloc byte[4];
        whole.Slice(totalLength - 4, 4).CopyTo(crcBytes);
        uint expected = BinaryPrimitives.ReadUInt32BigEndian(crcBytes);
        if (computed != expected)
            throw new EventStreamFormatException($"Event-stream message CRC mismatch (frame says {expected:x8}, computed {computed:x8}).");

        var body = GC.AllocateUninitializedArray<byte>((int)totalLength - Overhead);
        whole.Slice(PreludeLength, body.Length).CopyTo(body);

        var known = ReadKnownHeaders(body.AsSpan(0, (int)headersLength));
        frame = new EventStreamFrame(body, (int)headersLength, known);
        buffer = buffer.Slice(totalLength);
        return true;
    }

    /// <summary>
    /// Yields frames as soon as each is complete. Does not complete <paramref name="reader"/>: its owner does.
    /// </summary>
    /// <exception cref="EventStreamTruncatedException">The stream ended inside a frame.</exception>
    /// <exception cref="EventStreamFormatException">The bytes are not a valid event stream.</exception>
    public async IAsyncEnumerable<EventStreamFrame> ReadFramesAsync(PipeReader reader, [EnumeratorCancellation] CancellationToken ct = default)
    {
        while (true)
        {
            // Stryker disable once Boolean : the gateway has no synchronisation context, so either value behaves the same
            var result = await reader.ReadAsync(ct).ConfigureAwait(false);
            if (result.IsCanceled) throw new OperationCanceledException("The event-stream read was cancelled.", ct);
            var buffer = result.Buffer;
            bool completed = result.IsCompleted;
            try
            {
                while (TryReadFrame(ref buffer, out var frame))
                    yield return frame;   // frames own their bytes, so the pipe buffer may be held meanwhile
                if (completed && buffer.Length > 0)
                    throw new EventStreamTruncatedException(buffer.Length);
            }
            finally
            {
                // Consumed up to the last whole frame, examined everything: the next read waits for new bytes.
                reader.AdvanceTo(buffer.Start, buffer.End);
            }
            if (completed) yield break;
        }
    }

    private EventStreamFrame.KnownHeaders ReadKnownHeaders(ReadOnlySpan<byte> block)
    {
        var known = default(EventStreamFrame.KnownHeaders);
        foreach (var h in new EventStreamHeaderReader(block))
        {
            if (h.Type != EventStreamHeaderType.String) continue;
            var name = h.NameUtf8;
            // Stryker disable once all : a fast path only; every known name starts with ':' and is longer, so the checks below reject the same names
            if (name.Length < 2 || name[0] != (byte)':') continue;
            if (name.SequenceEqual(":message-type"u8)) known.MessageType = Value(h.RawValue);
            else if (name.SequenceEqual(":event-type"u8)) known.EventType = Value(h.RawValue);
            else if (name.SequenceEqual(":content-type"u8)) known.ContentType = Value(h.RawValue);
            else if (name.SequenceEqual(":exception-type"u8)) known.ExceptionType = Value(h.RawValue);
            else if (name.SequenceEqual(":error-code"u8)) known.ErrorCode = Value(h.RawValue);
            else if (name.SequenceEqual(":error-message"u8)) known.ErrorMessage = Value(h.RawValue);
        }
        return known;
    }

    private string Value(ReadOnlySpan<byte> utf8)
    {
        foreach (var (bytes, value) in _knownValues)
            if (bytes.Length == utf8.Length && utf8.SequenceEqual(bytes)) return value;
        return Encoding.UTF8.GetString(utf8);
    }

    /// <summary>CRC-32 (zlib's, as AWS frames carry it) over a frame that may span pipe segments, without a copy.</summary>
    private static uint Crc(in ReadOnlySequence<byte> data)
    {
        if (data.IsSingleSegment) return System.IO.Hashing.Crc32.HashToUInt32(data.FirstSpan);
        var crc = new System.IO.Hashing.Crc32();
        foreach (var segment in data) crc.Append(segment.Span);
        return crc.GetCurrentHashAsUInt32();
    }
}
