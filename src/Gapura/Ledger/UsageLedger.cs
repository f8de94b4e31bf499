using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace Gapura.Ledger;

/// <summary>Something that wants to see every usage record as it is made (metrics); called on the request path, so it must be cheap.</summary>
internal interface IUsageObserver
{
    void Observe(UsageRecord record);
}

/// <summary>
/// The request path's side of the ledger: <see cref="Record"/> hands a finished request's record to the
/// observers and to a bounded in-memory queue, and returns at once — it never waits for the database. The
/// <see cref="UsageWriter"/> drains the queue in batches. When the queue is full (the database has been away for
/// a long time) the record is dropped and counted; nothing on the request path ever blocks on it.
/// </summary>
internal sealed class UsageLedger
{
    private readonly Channel<UsageRecord> _queue;
    private readonly IUsageObserver[] _observers;
    private long _dropped;
    private long _activeStreams;

    public UsageLedger(IOptions<UsageOptions> options, IEnumerable<IUsageObserver> observers)
    {
        Capacity = Math.Max(1, options.Value.MaxBufferedRecords);
        _queue = Channel.CreateBounded<UsageRecord>(new BoundedChannelOptions(Capacity)
        {
            FullMode = BoundedChannelFullMode.Wait, // with TryWrite this means "refuse when full", which is counted
            SingleReader = true,
            SingleWriter = false,
        });
        _observers = [.. observers];
    }

    public int Capacity { get; }

    /// <summary>Records waiting to be written.</summary>
    public int QueueDepth => _queue.Reader.Count;

    /// <summary>Records lost because the queue was full, since start.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Streamed requests in progress (a gauge for metrics; two interlocked operations per stream, so always kept).</summary>
    public long ActiveStreams => Interlocked.Read(ref _activeStreams);

    public void StreamStarted() => Interlocked.Increment(ref _activeStreams);

    public void StreamEnded() => Interlocked.Decrement(ref _activeStreams);

    internal ChannelReader<UsageRecord> Reader => _queue.Reader;

    internal void CountDropped() => Interlocked.Increment(ref _dropped);

    public void Record(UsageRecord record)
    {
        foreach (var o in _observers) o.Observe(record);
        if (!_queue.Writer.TryWrite(record)) CountDropped();
    }
}
