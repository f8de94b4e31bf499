using System.IO.Pipelines;

namespace Gapura.Bench;

/// <summary>
/// A response pipe nobody reads: every flush completes at once; counts bytes and flushes. The buffer is shared
/// by all instances (the decode bench is single-threaded), so a writer per answer allocates nothing measurable.
/// </summary>
internal sealed class DiscardPipeWriter : PipeWriter
{
    [ThreadStatic] private static byte[]? s_buffer;

    public long Written { get; private set; }

    public long Flushes { get; private set; }

    public override void Advance(int bytes) => Written += bytes;

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        var buffer = s_buffer ??= new byte[64 * 1024];
        if (sizeHint > buffer.Length) s_buffer = buffer = new byte[Math.Max(sizeHint, buffer.Length * 2)];
        return buffer;
    }

    public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        Flushes++;
        return ValueTask.FromResult(new FlushResult(isCanceled: false, isCompleted: false));
    }

    public override void CancelPendingFlush() { }

    public override void Complete(Exception? exception = null) { }
}
