using System.Collections.Concurrent;

namespace Gapura.Hosting.Shutdown;

/// <summary>
/// A token that fires when either of two does (the client leaving, the shutdown deadline), for a path that had no
/// linked source of its own: rented from a pool and reset on return, so a request allocates nothing for it
/// (<see cref="CancellationTokenSource.CreateLinkedTokenSource(CancellationToken, CancellationToken)"/> would allocate one per request).
/// </summary>
internal sealed class LinkedCancellation : IDisposable
{
    private const int MaxPooled = 256;
    private static readonly ConcurrentQueue<LinkedCancellation> Pool = new();

    private CancellationTokenSource _source = new();
    private CancellationTokenRegistration _first, _second;

    public CancellationToken Token => _source.Token;

    public static LinkedCancellation Rent(CancellationToken first, CancellationToken second)
    {
        if (!Pool.TryDequeue(out var link)) link = new LinkedCancellation();
        link._first = first.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), link._source);
        link._second = second.UnsafeRegister(static s => ((CancellationTokenSource)s!).Cancel(), link._source);
        return link;
    }

    public void Dispose()
    {
        // Unregistering waits for a callback in flight, so after this nothing can cancel the source behind the next renter's back.
        _first.Dispose();
        _second.Dispose();
        if (!_source.TryReset())
        {
            _source.Dispose();
            _source = new CancellationTokenSource();
        }
        if (Pool.Count < MaxPooled) Pool.Enqueue(this);
    }
}
