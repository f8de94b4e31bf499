using System.Buffers;
using System.Text;
using Amazon.Runtime.EventStreams;

namespace Gapura.Tests.Providers.EventStream;

/// <summary>
/// Frames encoded by the AWS SDK's own event-stream code, an implementation independent of ours,
/// plus helpers that feed bytes to the decoder in arbitrary pieces.
/// </summary>
internal static class AwsFrames
{
    public static byte[] Event(string eventType, string json) => Encode(
        [Str(":event-type", eventType), Str(":content-type", "application/json"), Str(":message-type", "event")],
        Encoding.UTF8.GetBytes(json));

    public static byte[] Exception(string exceptionType, string message) => Encode(
        [Str(":exception-type", exceptionType), Str(":content-type", "application/json"), Str(":message-type", "exception")],
        Encoding.UTF8.GetBytes(message));

    public static byte[] Error(string code, string message) => Encode(
        [Str(":error-code", code), Str(":error-message", message), Str(":message-type", "error")], []);

    public static byte[] Encode(List<IEventStreamHeader> headers, byte[] payload)
        => new EventStreamMessage(headers, payload).ToByteArray();

    public static IEventStreamHeader Str(string name, string value)
    {
        var h = new EventStreamHeader(name);
        h.SetString(value);
        return h;
    }

    public static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    /// <summary>A multi-segment sequence with one segment per chunk, as a pipe delivers data.</summary>
    public static ReadOnlySequence<byte> Segments(IReadOnlyList<byte[]> chunks)
    {
        var nonEmpty = chunks.Where(c => c.Length > 0).ToList();
        if (nonEmpty.Count == 0) return ReadOnlySequence<byte>.Empty;
        var first = new Segment(nonEmpty[0]);
        var last = first;
        foreach (var chunk in nonEmpty.Skip(1)) last = last.Append(chunk);
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>Cuts <paramref name="data"/> at the given offsets.</summary>
    public static List<byte[]> Split(byte[] data, IEnumerable<int> cuts)
    {
        var result = new List<byte[]>();
        int start = 0;
        foreach (var cut in cuts.Where(c => c > 0 && c < data.Length).Distinct().Order())
        {
            result.Add(data[start..cut]);
            start = cut;
        }
        result.Add(data[start..]);
        return result;
    }

    public static List<byte[]> RandomSplit(byte[] data, Random random, int pieces)
        => Split(data, Enumerable.Range(0, pieces).Select(_ => random.Next(1, Math.Max(2, data.Length))));

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
