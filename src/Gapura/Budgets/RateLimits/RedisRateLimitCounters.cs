using System.Globalization;
using Gapura.Storage;
using StackExchange.Redis;

namespace Gapura.Budgets.RateLimits;

/// <summary>
/// Rate-limit counters in Redis (<c>ConnectionStrings:Redis</c>). Per scope: a hash with its two minute buckets
/// (<c>m</c>, <c>r</c>, <c>t</c>, <c>pr</c>, <c>pt</c> — the same <see cref="RateWindow"/> as the database's row) and a
/// sorted set of open leases scored by their expiry in Unix ms. Each acquire, release and renewal is one Lua script, so
/// Redis runs it whole with nothing in between: the check and the count of every scope are one step.
/// <para>Keys share the hash tag <c>{rate}</c>, so a script's keys fall in one slot and it also runs on a Redis Cluster.
/// Windows expire three minutes after their last use, lease sets a minute after their last lease's expiry.</para>
/// </summary>
internal sealed class RedisRateLimitCounters(RedisConnection redis) : IRateLimitCounters
{
    private const string WindowPrefix = RedisConnection.Prefix + "{rate}:w:";
    private const string LeasesPrefix = RedisConnection.Prefix + "{rate}:l:";

    // The decision mirrors RateCheck.Evaluate, on the scaled (× 60 000) window, in the same order of operations.
    private const string AcquireScript = """
        local now, minute, into = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
        local tokens, lease, expires = tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
        local n = #KEYS / 2
        local rows, admitted = {}, 1
        for i = 1, n do
          local w, l, a = KEYS[2 * i - 1], KEYS[2 * i], 6 + 3 * (i - 1)
          local rpm, tpm, conc = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
          local v = redis.call('HMGET', w, 'm', 'r', 't', 'pr', 'pt')
          local m = tonumber(v[1]) or minute
          local r, t, pr, pt = tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0, tonumber(v[5]) or 0
          if minute == m + 1 then pr, pt, r, t, m = r, t, 0, 0, minute
          elseif minute > m + 1 then pr, pt, r, t, m = 0, 0, 0, 0, minute end
          local weight = 60000
          if minute == m then weight = 60000 - into end
          local open = 0
          if conc > 0 then
            redis.call('ZREMRANGEBYSCORE', l, '-inf', now)
            open = redis.call('ZCARD', l)
          end
          if rpm > 0 and r * 60000 + pr * weight + 60000 > rpm * 60000 then admitted = 0 end
          if tpm > 0 and t * 60000 + pt * weight >= tpm * 60000 then admitted = 0 end
          if conc > 0 and open + 1 > conc then admitted = 0 end
          rows[i] = {m, r, t, pr, pt, open, conc}
        end
        local out = {admitted}
        for i = 1, n do
          local row = rows[i]
          if admitted == 1 then
            local w, l = KEYS[2 * i - 1], KEYS[2 * i]
            redis.call('HSET', w, 'm', row[1], 'r', row[2] + 1, 't', row[3] + tokens, 'pr', row[4], 'pt', row[5])
            redis.call('PEXPIRE', w, 180000)
            if row[7] > 0 then
              redis.call('ZADD', l, expires, lease)
              local ttl = expires - now + 60000
              if redis.call('PTTL', l) < ttl then redis.call('PEXPIRE', l, ttl) end
            end
          end
          for j = 1, 6 do out[#out + 1] = row[j] end
        end
        return out
        """;

    private const string ReleaseScript = """
        local minute, acquired, delta, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
        for i = 1, #KEYS / 2 do
          local w, l = KEYS[2 * i - 1], KEYS[2 * i]
          redis.call('ZREM', l, lease)
          if delta ~= 0 then
            local v = redis.call('HMGET', w, 'm', 'r', 't', 'pr', 'pt')
            if v[1] then
              local m = tonumber(v[1])
              local r, t, pr, pt = tonumber(v[2]) or 0, tonumber(v[3]) or 0, tonumber(v[4]) or 0, tonumber(v[5]) or 0
              if minute == m + 1 then pr, pt, r, t, m = r, t, 0, 0, minute
              elseif minute > m + 1 then pr, pt, r, t, m = 0, 0, 0, 0, minute end
              if delta > 0 then t = t + delta
              elseif acquired == m then t = math.max(0, t + delta)
              elseif acquired == m - 1 then pt = math.max(0, pt + delta) end
              redis.call('HSET', w, 'm', m, 'r', r, 't', t, 'pr', pr, 'pt', pt)
            end
          end
        end
        return 1
        """;

    private const string RenewScript = """
        local renewed, ttl = 0, tonumber(ARGV[2])
        for i = 1, #KEYS do
          renewed = renewed + redis.call('ZADD', KEYS[i], 'XX', 'CH', ARGV[1], ARGV[i + 2])
          if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl) end
        end
        return renewed
        """;

    public Task<RateAcquireResult> AcquireAsync(RateAcquire request, CancellationToken ct) => Guard(async () =>
    {
        var clock = RateClock.Of(request.Now);
        var now = request.Now.ToUnixTimeMilliseconds();
        var keys = new RedisKey[request.Scopes.Count * 2];
        var args = new RedisValue[6 + request.Scopes.Count * 3];
        args[0] = now;
        args[1] = clock.Minute;
        args[2] = clock.IntoMs;
        args[3] = request.Tokens;
        args[4] = request.LeaseId;
        args[5] = request.ExpiresAt.ToUnixTimeMilliseconds();
        for (var i = 0; i < request.Scopes.Count; i++)
        {
            var c = request.Scopes[i];
            keys[2 * i] = WindowPrefix + c.Scope;
            keys[2 * i + 1] = LeasesPrefix + c.Scope;
            args[6 + 3 * i] = c.RequestsPerMinute ?? 0;
            args[7 + 3 * i] = c.TokensPerMinute ?? 0;
            args[8 + 3 * i] = c.ConcurrentRequests ?? 0;
        }
        var db = await redis.DatabaseAsync();
        var reply = (RedisResult[])(await db.ScriptEvaluateAsync(AcquireScript, keys, args))!;
        var states = new List<RateScopeState>(request.Scopes.Count);
        for (var i = 0; i < request.Scopes.Count; i++)
        {
            var o = 1 + 6 * i;
            states.Add(new RateScopeState(request.Scopes[i].Scope,
                new RateWindow((long)reply[o], (long)reply[o + 1], (long)reply[o + 2], (long)reply[o + 3], (long)reply[o + 4]), (long)reply[o + 5]));
        }
        if ((long)reply[0] == 1) return new RateAcquireResult(true, null, states);
        // The script decided; the same arithmetic here says which limit and for how long.
        var refusal = RateCheck.Evaluate(request.Scopes, states, clock)
            ?? new RateRefusal(request.Scopes[0].Scope, RateDimension.Requests, request.Scopes[0].RequestsPerMinute ?? 0, TimeSpan.FromSeconds(1));
        return new RateAcquireResult(false, refusal, states);
    });

    public Task ReleaseAsync(IReadOnlyList<RateRelease> releases, DateTimeOffset now, CancellationToken ct) => Guard(async () =>
    {
        var minute = RateClock.Of(now).Minute;
        var db = await redis.DatabaseAsync();
        var calls = new List<Task>(releases.Count);
        foreach (var r in releases)
        {
            if (r.TokenDelta == 0 && r.LeaseScopes.Count == 0) continue;
            var keys = new RedisKey[r.Scopes.Count * 2];
            for (var i = 0; i < r.Scopes.Count; i++)
            {
                keys[2 * i] = WindowPrefix + r.Scopes[i];
                keys[2 * i + 1] = LeasesPrefix + r.Scopes[i];
            }
            // Sent together: the multiplexer pipelines them on one connection.
            calls.Add(db.ScriptEvaluateAsync(ReleaseScript, keys, [minute, r.AcquiredMinute, r.TokenDelta, r.LeaseId]));
        }
        await Task.WhenAll(calls);
        return 0;
    });

    public Task<int> RenewAsync(IReadOnlyList<RateLeaseRef> leases, DateTimeOffset now, DateTimeOffset expiresAt, CancellationToken ct) => Guard(async () =>
    {
        var keys = new List<RedisKey>();
        // The sets live until a minute past the expiry, as at acquire.
        var args = new List<RedisValue> { expiresAt.ToUnixTimeMilliseconds(), Math.Max(0, (long)(expiresAt - now).TotalMilliseconds) + 60_000 };
        foreach (var lease in leases)
            foreach (var scope in lease.Scopes)
            {
                keys.Add(LeasesPrefix + scope);
                args.Add(lease.LeaseId);
            }
        if (keys.Count == 0) return 0;
        var db = await redis.DatabaseAsync();
        return (int)(long)(await db.ScriptEvaluateAsync(RenewScript, [.. keys], [.. args]))!;
    });

    /// <summary>Nothing to sweep: an acquire drops its scopes' expired leases before counting, and every key has a time to live.</summary>
    public Task<int> ExpireAsync(DateTimeOffset now, CancellationToken ct) => Task.FromResult(0);

    public Task<RateScopeState> ReadAsync(string scope, DateTimeOffset now, CancellationToken ct) => Guard(async () =>
    {
        var clock = RateClock.Of(now);
        var db = await redis.DatabaseAsync();
        var v = await db.HashGetAsync(WindowPrefix + scope, ["m", "r", "t", "pr", "pt"]);
        var open = await db.SortedSetLengthAsync(LeasesPrefix + scope, now.ToUnixTimeMilliseconds(), double.PositiveInfinity, Exclude.Start);
        var window = v[0].IsNull ? RateWindow.Empty(clock.Minute)
            : new RateWindow(Long(v[0]), Long(v[1]), Long(v[2]), Long(v[3]), Long(v[4])).RollTo(clock.Minute);
        return new RateScopeState(scope, window, open);
    });

    /// <summary>A number as the script stored it (Lua writes large ones in exponent form).</summary>
    private static long Long(RedisValue value)
        => value.IsNull ? 0 : (long)double.Parse(value.ToString(), NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>An unreachable or silent Redis is <see cref="RedisUnavailableException"/>, which <c>Budgets:FailOpen</c> governs.</summary>
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
