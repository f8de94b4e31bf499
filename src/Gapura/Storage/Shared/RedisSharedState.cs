using System.Globalization;
using StackExchange.Redis;

namespace Gapura.Storage.Shared;

/// <summary>
/// Shared state in Redis (<c>ConnectionStrings:Redis</c>). Rests: one sorted set, member the rest's key, score its end in
/// Unix ms. Flows: a hash per flow that expires with the flow, and per user and kind a sorted set of the flow ids waiting
/// (scored by expiry) to count them. Every step that reads and writes is one Lua script, so Redis runs it whole. Keys share
/// the hash tag <c>{shared}</c>, so a script's keys fall in one slot on a Redis Cluster too.
/// </summary>
internal sealed class RedisSharedState(RedisConnection redis) : ISharedState
{
    private const string Root = RedisConnection.Prefix + "{shared}:";
    private const string RestsKey = Root + "rests";
    private const string FlowPrefix = Root + "flow:";
    private const string UserPrefix = Root + "flows:";

    private const string RestScript = """
        local now = tonumber(ARGV[1])
        for i = 2, #ARGV, 2 do
          local name, ends = ARGV[i], tonumber(ARGV[i + 1])
          if ends > now then
            local current = tonumber(redis.call('ZSCORE', KEYS[1], name))
            if not current or current < ends then redis.call('ZADD', KEYS[1], ends, name) end
          end
        end
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        return 1
        """;

    private const string AddFlowScript = """
        local now, max, expires = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[9])
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
        if redis.call('ZCARD', KEYS[2]) >= max then return 0 end
        redis.call('HSET', KEYS[1], 'kind', ARGV[4], 'user', ARGV[5], 'label', ARGV[6], 'haslabel', ARGV[7], 'state', ARGV[8],
          'expires', ARGV[9], 'next', ARGV[10], 'interval', ARGV[11])
        redis.call('PEXPIREAT', KEYS[1], expires)
        redis.call('ZADD', KEYS[2], expires, ARGV[3])
        if redis.call('PTTL', KEYS[2]) < expires - now then redis.call('PEXPIREAT', KEYS[2], expires) end
        return 1
        """;

    private const string ClaimScript = """
        local found = redis.call('HMGET', KEYS[1], 'next', 'expires')
        local now, next, expires = tonumber(ARGV[1]), tonumber(found[1]), tonumber(found[2])
        if not next or next > now or expires <= now then return 0 end
        redis.call('HSET', KEYS[1], 'next', ARGV[2])
        return 1
        """;

    private const string SetNextScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        redis.call('HSET', KEYS[1], 'next', ARGV[1], 'interval', ARGV[2])
        return 1
        """;

    private const string RemoveScript = """
        local found = redis.call('HMGET', KEYS[1], 'kind', 'user')
        if not found[1] then return 0 end
        redis.call('DEL', KEYS[1])
        redis.call('ZREM', ARGV[1] .. found[1] .. ':' .. found[2], ARGV[2])
        return 1
        """;

    public Task RestAsync(IReadOnlyList<SharedRest> rests, DateTimeOffset now, CancellationToken ct) => Guard(async () =>
    {
        var args = new RedisValue[1 + rests.Count * 2];
        args[0] = now.ToUnixTimeMilliseconds();
        for (var i = 0; i < rests.Count; i++)
        {
            args[1 + 2 * i] = rests[i].Key;
            args[2 + 2 * i] = rests[i].Until.ToUnixTimeMilliseconds();
        }
        var db = await redis.DatabaseAsync();
        await db.ScriptEvaluateAsync(RestScript, [RestsKey], args);
        return 0;
    });

    public Task<IReadOnlyList<SharedRest>> RestingAsync(DateTimeOffset now, CancellationToken ct) => Guard<IReadOnlyList<SharedRest>>(async () =>
    {
        var db = await redis.DatabaseAsync();
        var entries = await db.SortedSetRangeByScoreWithScoresAsync(RestsKey, now.ToUnixTimeMilliseconds(), double.PositiveInfinity, Exclude.Start);
        return [.. entries.Select(e => new SharedRest(e.Element.ToString(), DateTimeOffset.FromUnixTimeMilliseconds((long)e.Score)))];
    });

    public Task<bool> AddFlowAsync(SignInFlowRow flow, int maxPerUser, DateTimeOffset now, CancellationToken ct) => Guard(async () =>
    {
        var db = await redis.DatabaseAsync();
        var added = await db.ScriptEvaluateAsync(AddFlowScript, [FlowPrefix + flow.Id, UserKey(flow.Kind, flow.UserId)],
        [
            now.ToUnixTimeMilliseconds(), maxPerUser, flow.Id, flow.Kind, flow.UserId, flow.Label ?? "", flow.Label is null ? 0 : 1, flow.SealedState,
            flow.ExpiresAt.ToUnixTimeMilliseconds(), flow.NextPollAt.ToUnixTimeMilliseconds(), (long)flow.Interval.TotalMilliseconds,
        ]);
        return (long)added == 1;
    });

    public Task<SignInFlowRow?> FindFlowAsync(string id, DateTimeOffset now, CancellationToken ct) => Guard(async () =>
    {
        var db = await redis.DatabaseAsync();
        var v = await db.HashGetAsync(FlowPrefix + id, ["kind", "user", "label", "haslabel", "state", "expires", "next", "interval"]);
        if (v[0].IsNull) return null;
        var expires = DateTimeOffset.FromUnixTimeMilliseconds(Long(v[5]));
        if (expires <= now) return null;
        return new SignInFlowRow(id, v[0].ToString(), Long(v[1]), Long(v[3]) == 1 ? v[2].ToString() : null, v[4].ToString(), expires,
            DateTimeOffset.FromUnixTimeMilliseconds(Long(v[6])), TimeSpan.FromMilliseconds(Long(v[7])));
    });

    public Task<bool> ClaimPollAsync(string id, DateTimeOffset now, DateTimeOffset holdUntil, CancellationToken ct) => Guard(async () =>
    {
        var db = await redis.DatabaseAsync();
        return (long)await db.ScriptEvaluateAsync(ClaimScript, [FlowPrefix + id], [now.ToUnixTimeMilliseconds(), holdUntil.ToUnixTimeMilliseconds()]) == 1;
    });

    public Task SetNextPollAsync(string id, DateTimeOffset nextPollAt, TimeSpan interval, CancellationToken ct) => Guard(async () =>
    {
        var db = await redis.DatabaseAsync();
        await db.ScriptEvaluateAsync(SetNextScript, [FlowPrefix + id], [nextPollAt.ToUnixTimeMilliseconds(), (long)interval.TotalMilliseconds]);
        return 0;
    });

    public Task<bool> RemoveFlowAsync(string id, CancellationToken ct) => Guard(async () =>
    {
        var db = await redis.DatabaseAsync();
        return (long)await db.ScriptEvaluateAsync(RemoveScript, [FlowPrefix + id], [UserPrefix, id]) == 1;
    });

    private static string UserKey(string kind, long userId) => UserPrefix + kind + ":" + userId.ToString(CultureInfo.InvariantCulture);

    private static long Long(RedisValue value) => long.Parse(value.ToString(), NumberStyles.Integer, CultureInfo.InvariantCulture);

    /// <summary>An unreachable or silent Redis is a <see cref="RedisUnavailableException"/>, as for the counters.</summary>
    private static async Task<T> Guard<T>(Func<Task<T>> work)
    {
        try
        {
            return await work();
        }
        catch (Exception e) when (e is RedisConnectionException or RedisTimeoutException)
        {
            throw new RedisUnavailableException(e);
        }
    }
}
