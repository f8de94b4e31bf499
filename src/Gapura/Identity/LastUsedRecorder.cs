using System.Collections.Concurrent;

namespace Gapura.Identity;

/// <summary>
/// Remembers when each key was last used and hands the times over in batches, so a busy gateway writes
/// last-used times once per flush interval instead of once per request.
/// </summary>
internal sealed class LastUsedRecorder
{
    private ConcurrentDictionary<long, DateTimeOffset> _pending = new();

    public void Touch(long keyId, DateTimeOffset at)
    {
        // Minute precision is plenty for "last used"; skipping most updates keeps the hot path cheap.
        if (_pending.TryGetValue(keyId, out var seen) && at - seen < TimeSpan.FromMinutes(1)) return;
        _pending[keyId] = at;
    }

    /// <summary>Takes everything recorded since the last call.</summary>
    public IReadOnlyCollection<KeyValuePair<long, DateTimeOffset>> Drain()
    {
        var taken = Interlocked.Exchange(ref _pending, new ConcurrentDictionary<long, DateTimeOffset>());
        return taken.ToArray();
    }

    /// <summary>Puts back times whose write failed, unless a newer one arrived meanwhile.</summary>
    public void Restore(IEnumerable<KeyValuePair<long, DateTimeOffset>> times)
    {
        foreach (var (id, at) in times) _pending.AddOrUpdate(id, at, (_, newer) => newer > at ? newer : at);
    }
}
