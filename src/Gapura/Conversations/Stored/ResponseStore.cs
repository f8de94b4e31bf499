using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace Gapura.Conversations.Stored;

/// <summary>
/// Kept answers, as the front doors see them. <see cref="Keep"/> is all the request path does: the turn goes into a bounded
/// in-memory cache (so a follow-up on this instance reads no database) and into a queue the <see cref="StoredResponseWriter"/>
/// drains into the database in batches. <see cref="FindAsync"/> reads the cache, then the database; a turn that another
/// instance served a moment ago may still be in that instance's queue, so a miss is read again for up to
/// <see cref="InFlightWait"/> before it counts as absent.
/// </summary>
internal sealed class ResponseStore
{
    /// <summary>How long a follow-up waits for a turn still being written by another instance (its writer flushes at once).</summary>
    public static readonly TimeSpan InFlightWait = TimeSpan.FromSeconds(2);

    /// <summary>Most turns the cache holds, and most bytes (roughly); the oldest go first.</summary>
    public const int CacheEntries = 4096;
    public const long CacheBytes = 64L * 1024 * 1024;

    /// <summary>Turns waiting for the writer; beyond this a new one is not kept in the database (counted, logged by the writer).</summary>
    public const int QueueCapacity = 10_000;

    private readonly ConcurrentDictionary<string, StoredTurn> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<StoredTurn> _order = new();
    private long _cachedBytes;
    private long _dropped;
    private readonly Channel<StoredTurn> _queue = Channel.CreateBounded<StoredTurn>(new BoundedChannelOptions(QueueCapacity)
    {
        FullMode = BoundedChannelFullMode.Wait, // with TryWrite: refuse when full
        SingleReader = true,
    });
    private readonly StoredResponseRepository _repository;
    private readonly TimeProvider _time;
    private readonly ResponsesOptions _options;

    public ResponseStore(StoredResponseRepository repository, IOptions<ResponsesOptions> options, TimeProvider time)
    {
        _repository = repository;
        _time = time;
        _options = options.Value;
    }

    /// <summary>False when <c>Responses:RetentionMinutes</c> is 0: nothing is kept.</summary>
    public bool Enabled => _options.RetentionMinutes > 0;

    public TimeSpan Retention => _options.Retention;

    public TimeProvider Time => _time;

    internal ChannelReader<StoredTurn> Queue => _queue.Reader;

    internal StoredResponseRepository Repository => _repository;

    /// <summary>Turns not written because the queue was full, since start.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Keeps a finished answer: cached at once, written to the database in the background. Never waits.</summary>
    public void Keep(StoredTurn turn)
    {
        Cache(turn);
        if (!_queue.Writer.TryWrite(turn)) Interlocked.Increment(ref _dropped);
    }

    /// <summary>
    /// The caller's turn, or null when there is none: another user's turn is absent as well, never a different answer.
    /// <paramref name="waitForInFlight"/> reads a miss again for up to <see cref="InFlightWait"/> (a follow-up right after
    /// an answer served by another instance).
    /// </summary>
    public async Task<StoredTurn?> FindAsync(string id, long userId, bool waitForInFlight, CancellationToken ct)
    {
        if (_cache.TryGetValue(id, out var cached))
        {
            if (cached.UserId != userId || cached.Deleted) return null;
            if (cached.ExpiresAt > _time.GetUtcNow()) return cached;
        }
        var deadline = _time.GetUtcNow() + (waitForInFlight ? InFlightWait : TimeSpan.Zero);
        var pause = TimeSpan.FromMilliseconds(50);
        while (true)
        {
            var found = await _repository.FindAsync(id, userId, _time.GetUtcNow(), ct);
            if (found is not null)
            {
                Cache(found);
                return found;
            }
            if (_time.GetUtcNow() + pause > deadline) return null;
            await Task.Delay(pause, _time, ct);
            pause *= 2;
        }
    }

    /// <summary>Deletes the caller's turn (cache, queue and database); false when the caller has no such turn.</summary>
    public async Task<bool> DeleteAsync(string id, long userId, CancellationToken ct)
    {
        var wasCached = _cache.TryGetValue(id, out var cached) && cached.UserId == userId && !cached.Deleted;
        if (wasCached)
        {
            cached!.Deleted = true; // a turn still queued is not written after this
            _cache.TryRemove(id, out _);
        }
        var deleted = await _repository.DeleteAsync(id, userId, ct);
        return deleted || wasCached;
    }

    private void Cache(StoredTurn turn)
    {
        _cache[turn.Id] = turn;
        _order.Enqueue(turn);
        Interlocked.Add(ref _cachedBytes, turn.Size);
        // Oldest first; an entry replaced meanwhile is only forgotten if it is still the one queued.
        while ((_order.Count > CacheEntries || Interlocked.Read(ref _cachedBytes) > CacheBytes) && _order.TryDequeue(out var old))
        {
            Interlocked.Add(ref _cachedBytes, -old.Size);
            _cache.TryRemove(new KeyValuePair<string, StoredTurn>(old.Id, old));
        }
    }
}
