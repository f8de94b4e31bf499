using System.Globalization;
using Gapura.Storage;
using StackExchange.Redis;

namespace Gapura.Budgets.Counters;

/// <summary>
/// Budget counters in Redis, for gateways whose instances share one (<c>ConnectionStrings:Redis</c>). Every operation is
/// one Lua script, which Redis runs with nothing else interleaved: that is what makes a reservation check-then-add on
/// all of its meters at once, as the database's locked rows do for <see cref="SqlBudgetCounters"/>.
/// <para>
/// Keys, under <c>gapura:budget:</c>:
/// <c>m:{scope}|{period}|{window}</c> a meter (hash: used_in, used_out, used_cost, res_in, res_out, res_cost, alerted),
/// kept 40 days (daily) or 400 days (monthly) after its last write so old windows leave by themselves;
/// <c>r:{id}</c> an open reservation (hash: instance, in, out, cost, meters, expires);
/// <c>expiry</c> the open reservations' ids scored by expiry (epoch ms); <c>i:{instance}</c> an instance's open ids, for renewal;
/// <c>p:{scope}|{period}</c> a standing pause (hash: since, until, reason) and <c>pauses</c> the set of them.
/// </para>
/// <para>
/// Single Redis only: settle, expire and the pause listing build key names inside the scripts (from a reservation's
/// recorded meters), and one reservation's meters span hash slots, so Redis Cluster's rule that a script declares every
/// key and that they share a slot is not honoured. Replication or Sentinel in front of one primary is fine.
/// </para>
/// Time always comes from the caller (epoch milliseconds), never from Redis <c>TIME</c>, so every instance and a test's
/// clock decide expiry and pauses by the same rule as the SQL counters.
/// </summary>
internal sealed class RedisBudgetCounters(RedisConnection redis, string root = RedisConnection.Prefix + "budget:") : IBudgetCounters
{
    // StackExchange.Redis sends a script's text once per server and its SHA1 (EVALSHA) after that, sending the text
    // again only if Redis answers NOSCRIPT (a restart or SCRIPT FLUSH). The scripts' parameters are variable-length
    // lists (a reservation's meters, a batch of settlements), which LuaScript.Prepare's named parameters cannot express.

    /// <summary>Reads a meter into a 7-slot table (missing fields are zero); the order of <see cref="ParseStates"/>.</summary>
    private const string Prelude = """
        local F = {'used_in', 'used_out', 'used_cost', 'res_in', 'res_out', 'res_cost', 'alerted'}
        local function state(key)
          local v = redis.call('HMGET', key, unpack(F))
          for i = 1, 7 do if not v[i] then v[i] = '0' end end
          return v
        end
        local function neg(s)
          if string.sub(s, 1, 1) == '-' then return string.sub(s, 2) end
          return '-' .. s
        end
        -- Gives a reservation's counts back to the meters it recorded, and forgets it. r = HMGET instance in out cost meters.
        local function release(root, zkey, id, r)
          for name in string.gmatch(r[5], '[^;]+') do
            local mk = root .. 'm:' .. name
            -- HINCRBY refuses '-0', so zero amounts are skipped.
            if r[2] ~= '0' then redis.call('HINCRBY', mk, 'res_in', neg(r[2])) end
            if r[3] ~= '0' then redis.call('HINCRBY', mk, 'res_out', neg(r[3])) end
            if tonumber(r[4]) ~= 0 then redis.call('HINCRBYFLOAT', mk, 'res_cost', neg(r[4])) end
          end
          redis.call('DEL', root .. 'r:' .. id)
          redis.call('ZREM', zkey, id)
          redis.call('SREM', root .. 'i:' .. r[1], id)
        end

        """;

    // KEYS: n meters, n pauses (of each meter's scope and period), the reservation, the expiry set, the instance's set.
    // ARGV: n, now, expires, in, out, cost, id, instance, meters (encoded); then per meter max_in, max_out, max_cost ('' = none), ttl.
    // Returns: admitted (1/0), refusing meter (1-based), quantity (0-2), pause since, until, reason; then 7 counts per meter.
    private const string ReserveScript = Prelude + """
        local n = tonumber(ARGV[1])
        local now = tonumber(ARGV[2])
        local rkey, zkey, ikey = KEYS[2 * n + 1], KEYS[2 * n + 2], KEYS[2 * n + 3]
        if redis.call('EXISTS', rkey) == 1 then return redis.error_reply('ERR budget reservation ' .. ARGV[7] .. ' already exists') end
        local amount = {tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])}
        local states = {}
        local refused = nil
        for i = 1, n do
          local s = state(KEYS[i])
          states[i] = s
          if not refused then
            local p = redis.call('HMGET', KEYS[n + i], 'since', 'until', 'reason')
            if p[3] and (not p[2] or tonumber(p[2]) > now) then
              refused = {i, 0, p[1], p[2] or '', p[3]}
            else
              local base = 9 + (i - 1) * 4
              for q = 1, 3 do
                local max = ARGV[base + q]
                if max ~= '' and tonumber(s[q]) + tonumber(s[q + 3]) + amount[q] > tonumber(max) then
                  refused = {i, q - 1, '', '', ''}
                  break
                end
              end
            end
          end
        end
        local out
        if refused then
          out = {0, refused[1], refused[2], refused[3], refused[4], refused[5]}
        else
          for i = 1, n do
            local k, s = KEYS[i], states[i]
            s[4] = redis.call('HINCRBY', k, 'res_in', ARGV[4])
            s[5] = redis.call('HINCRBY', k, 'res_out', ARGV[5])
            s[6] = redis.call('HINCRBYFLOAT', k, 'res_cost', ARGV[6])
            redis.call('EXPIRE', k, ARGV[9 + i * 4])
          end
          redis.call('HSET', rkey, 'instance', ARGV[8], 'in', ARGV[4], 'out', ARGV[5], 'cost', ARGV[6], 'meters', ARGV[9], 'expires', ARGV[3])
          redis.call('ZADD', zkey, ARGV[3], ARGV[7])
          redis.call('SADD', ikey, ARGV[7])
          out = {1, 0, 0, '', '', ''}
        end
        for i = 1, n do
          for j = 1, 7 do out[#out + 1] = states[i][j] end
        end
        return out
        """;

    // KEYS: the m meters the settlements name. ARGV: root, expiry set, m, m ttls, count; then per settlement
    // id, in, out, cost, k and k indexes into KEYS. Returns 7 counts per meter of KEYS.
    private const string SettleScript = Prelude + """
        local root, zkey = ARGV[1], ARGV[2]
        local m = tonumber(ARGV[3])
        local a = 4 + m
        local count = tonumber(ARGV[a])
        a = a + 1
        for _ = 1, count do
          local id, ui, uo, uc, k = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4])
          a = a + 5
          local r = redis.call('HMGET', root .. 'r:' .. id, 'instance', 'in', 'out', 'cost', 'meters')
          if r[5] then release(root, zkey, id, r) end
          for _ = 1, k do
            local key = KEYS[tonumber(ARGV[a])]
            a = a + 1
            redis.call('HINCRBY', key, 'used_in', ui)
            redis.call('HINCRBY', key, 'used_out', uo)
            redis.call('HINCRBYFLOAT', key, 'used_cost', uc)
          end
        end
        local out = {}
        for i = 1, m do
          redis.call('EXPIRE', KEYS[i], ARGV[3 + i])
          local s = state(KEYS[i])
          for j = 1, 7 do out[#out + 1] = s[j] end
        end
        return out
        """;

    // KEYS: the instance's set, the expiry set. ARGV: root, expires. Returns how many reservations were renewed.
    private const string RenewScript = """
        local renewed = 0
        for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
          local rkey = ARGV[1] .. 'r:' .. id
          if redis.call('EXISTS', rkey) == 1 then
            redis.call('HSET', rkey, 'expires', ARGV[2])
            redis.call('ZADD', KEYS[2], ARGV[2], id)
            renewed = renewed + 1
          else
            redis.call('SREM', KEYS[1], id)
          end
        end
        return renewed
        """;

    // KEYS: the expiry set. ARGV: root, now. Releases every reservation that expired before now; returns how many.
    private const string ExpireScript = Prelude + """
        local released = 0
        for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])) do
          local r = redis.call('HMGET', ARGV[1] .. 'r:' .. id, 'instance', 'in', 'out', 'cost', 'meters')
          if r[5] then
            release(ARGV[1], KEYS[1], id, r)
            released = released + 1
          else
            redis.call('ZREM', KEYS[1], id)
          end
        end
        return released
        """;

    // KEYS: meters. Returns 7 counts per meter, read in one consistent moment.
    private const string ReadScript = Prelude + """
        local out = {}
        for i = 1, #KEYS do
          local s = state(KEYS[i])
          for j = 1, 7 do out[#out + 1] = s[j] end
        end
        return out
        """;

    // KEYS: the meter. ARGV: the quantity's bit, ttl. 1 when this call set the bit.
    private const string AlertScript = """
        local a = tonumber(redis.call('HGET', KEYS[1], 'alerted') or '0')
        local b = tonumber(ARGV[1])
        if bit.band(a, b) ~= 0 then return 0 end
        redis.call('HSET', KEYS[1], 'alerted', tostring(bit.bor(a, b)))
        redis.call('EXPIRE', KEYS[1], ARGV[2])
        return 1
        """;

    // KEYS: the pause, the set of pauses. ARGV: since, until ('' = until a reset), reason, member. 1 when this call started it.
    // A pause whose until is at or before the new one's start has lapsed and is replaced, as in SqlBudgetCounters.
    private const string PauseScript = """
        local cur = redis.call('HMGET', KEYS[1], 'until', 'reason')
        if cur[2] and (not cur[1] or tonumber(cur[1]) > tonumber(ARGV[1])) then return 0 end
        redis.call('DEL', KEYS[1])
        if ARGV[2] == '' then
          redis.call('HSET', KEYS[1], 'since', ARGV[1], 'reason', ARGV[3])
        else
          redis.call('HSET', KEYS[1], 'since', ARGV[1], 'until', ARGV[2], 'reason', ARGV[3])
        end
        redis.call('SADD', KEYS[2], ARGV[4])
        return 1
        """;

    // KEYS: the set of pauses. ARGV: root, scope ('' = all). Returns member, since, until ('' = none), reason per pause.
    private const string PausesScript = """
        local out = {}
        for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
          local scope = string.match(member, '^(.*)|[^|]*$')
          if ARGV[2] == '' or scope == ARGV[2] then
            local p = redis.call('HMGET', ARGV[1] .. 'p:' .. member, 'since', 'until', 'reason')
            if p[3] then
              out[#out + 1] = member
              out[#out + 1] = p[1]
              out[#out + 1] = p[2] or ''
              out[#out + 1] = p[3]
            end
          end
        end
        return out
        """;

    // KEYS: the set of pauses, P pauses of the scope, then the meters to zero. ARGV: P, then the P pauses' members.
    private const string ResetScript = """
        local p = tonumber(ARGV[1])
        for i = 1, p do
          redis.call('DEL', KEYS[1 + i])
          redis.call('SREM', KEYS[1], ARGV[1 + i])
        end
        for i = p + 2, #KEYS do
          if redis.call('EXISTS', KEYS[i]) == 1 then
            redis.call('HSET', KEYS[i], 'used_in', '0', 'used_out', '0', 'used_cost', '0', 'alerted', '0')
          end
        end
        return 0
        """;

    private static readonly BudgetPeriod[] Periods = [BudgetPeriod.Daily, BudgetPeriod.Monthly];

    private readonly string _expiry = root + "expiry";
    private readonly string _pauses = root + "pauses";

    public async Task<ReserveResult> ReserveAsync(Reservation reservation, CancellationToken ct)
    {
        // A meter named twice is charged once (and released once), as in the database.
        var r = reservation.Meters.DistinctBy(m => m.Key).Count() == reservation.Meters.Count
            ? reservation
            : reservation with { Meters = [.. reservation.Meters.DistinctBy(m => m.Key)] };
        var n = r.Meters.Count;
        var keys = new RedisKey[2 * n + 3];
        var args = new RedisValue[9 + 4 * n];
        args[0] = n;
        args[1] = r.Now.ToUnixTimeMilliseconds();
        args[2] = r.ExpiresAt.ToUnixTimeMilliseconds();
        args[3] = r.Amount.InputTokens;
        args[4] = r.Amount.OutputTokens;
        args[5] = Number(r.Amount.CostUsd);
        args[6] = r.Id;
        args[7] = r.Instance;
        args[8] = SqlBudgetCounters.Encode([.. r.Meters.Select(m => m.Key)]);
        for (var i = 0; i < n; i++)
        {
            var m = r.Meters[i];
            keys[i] = MeterKeyOf(m.Key);
            keys[n + i] = PauseKeyOf(m.Key.Scope, m.Key.Period);
            args[9 + 4 * i] = m.MaxInput is { } mi ? mi : RedisValue.EmptyString;
            args[10 + 4 * i] = m.MaxOutput is { } mo ? mo : RedisValue.EmptyString;
            args[11 + 4 * i] = m.MaxCost is { } mc ? Number(mc) : RedisValue.EmptyString;
            args[12 + 4 * i] = TtlSeconds(m.Key.Period);
        }
        keys[2 * n] = root + "r:" + r.Id;
        keys[2 * n + 1] = _expiry;
        keys[2 * n + 2] = root + "i:" + r.Instance;

        var result = await ArrayAsync(ReserveScript, keys, args, ct);
        var states = ParseStates(result, 6, [.. r.Meters.Select(m => m.Key)]);
        if ((long)result[0] == 1) return new ReserveResult(true, states, null);
        var meter = r.Meters[(int)(long)result[1] - 1].Key;
        var pause = result[5].IsNullOrEmpty
            ? null
            : new BudgetPause(meter.Scope, meter.Period, Time(result[3]), result[4].IsNullOrEmpty ? null : Time(result[4]), (string)result[5]!);
        return new ReserveResult(false, states, new MeterRefusal(meter, (BudgetQuantity)(int)(long)result[2], pause));
    }

    public async Task<IReadOnlyList<MeterState>> SettleAsync(IReadOnlyList<Settlement> settlements, CancellationToken ct)
    {
        if (settlements.Count == 0) return [];
        var touched = new List<MeterKey>();
        var index = new Dictionary<MeterKey, int>();
        foreach (var s in settlements)
            foreach (var key in s.Meters)
                if (index.TryAdd(key, touched.Count + 1)) touched.Add(key);

        var args = new List<RedisValue>(4 + touched.Count + settlements.Count * 7) { root, _expiry, touched.Count };
        foreach (var key in touched) args.Add(TtlSeconds(key.Period));
        args.Add(settlements.Count);
        foreach (var s in settlements)
        {
            args.Add(s.ReservationId);
            args.Add(s.Actual.InputTokens);
            args.Add(s.Actual.OutputTokens);
            args.Add(Number(s.Actual.CostUsd));
            args.Add(s.Meters.Count);
            foreach (var key in s.Meters) args.Add(index[key]);
        }
        var result = await ArrayAsync(SettleScript, [.. touched.Select(MeterKeyOf)], [.. args], ct);
        return ParseStates(result, 0, touched);
    }

    public async Task<int> RenewAsync(string instance, DateTimeOffset expiresAt, CancellationToken ct)
        => (int)await IntegerAsync(RenewScript, [root + "i:" + instance, _expiry], [root, expiresAt.ToUnixTimeMilliseconds()], ct);

    public async Task<int> ExpireAsync(DateTimeOffset now, CancellationToken ct)
        => (int)await IntegerAsync(ExpireScript, [_expiry], [root, now.ToUnixTimeMilliseconds()], ct);

    public async Task<IReadOnlyList<MeterState>> ReadAsync(IReadOnlyList<MeterKey> keys, CancellationToken ct)
    {
        if (keys.Count == 0) return [];
        var result = await ArrayAsync(ReadScript, [.. keys.Select(MeterKeyOf)], [], ct);
        return ParseStates(result, 0, keys);
    }

    public async Task<bool> TryMarkAlertedAsync(MeterKey key, BudgetQuantity quantity, CancellationToken ct)
        => await IntegerAsync(AlertScript, [MeterKeyOf(key)], [quantity.Bit(), TtlSeconds(key.Period)], ct) == 1;

    public async Task<bool> PauseAsync(BudgetPause pause, CancellationToken ct)
        => await IntegerAsync(PauseScript, [PauseKeyOf(pause.Scope, pause.Period), _pauses], [
            pause.Since.ToUnixTimeMilliseconds(),
            pause.Until is { } until ? until.ToUnixTimeMilliseconds() : RedisValue.EmptyString,
            pause.Reason,
            PauseMember(pause.Scope, pause.Period)], ct) == 1;

    public async Task<IReadOnlyList<BudgetPause>> PausesAsync(string? scope, CancellationToken ct)
    {
        var result = await ArrayAsync(PausesScript, [_pauses], [root, scope ?? ""], ct);
        var list = new List<BudgetPause>(result.Length / 4);
        for (var i = 0; i + 3 < result.Length; i += 4)
        {
            var member = (string)result[i]!;
            var bar = member.LastIndexOf('|');
            list.Add(new BudgetPause(member[..bar], SqlBudgetCounters.ParsePeriod(member[(bar + 1)..]), Time(result[i + 1]),
                result[i + 2].IsNullOrEmpty ? null : Time(result[i + 2]), (string)result[i + 3]!));
        }
        return [.. list.OrderBy(p => p.Scope, StringComparer.Ordinal).ThenBy(p => p.Period)];
    }

    public async Task ResetAsync(string scope, IReadOnlyList<MeterKey> current, CancellationToken ct)
    {
        var keys = new List<RedisKey> { _pauses };
        var args = new List<RedisValue> { Periods.Length };
        foreach (var period in Periods)
        {
            keys.Add(PauseKeyOf(scope, period));
            args.Add(PauseMember(scope, period));
        }
        keys.AddRange(current.Select(MeterKeyOf));
        await IntegerAsync(ResetScript, [.. keys], [.. args], ct);
    }

    private RedisKey MeterKeyOf(MeterKey key) => $"{root}m:{key.Scope}|{key.PeriodName}|{key.Window}";

    private RedisKey PauseKeyOf(string scope, BudgetPeriod period) => root + "p:" + PauseMember(scope, period);

    private static string PauseMember(string scope, BudgetPeriod period) => scope + "|" + SqlBudgetCounters.PeriodName(period);

    /// <summary>How long a meter outlives its last write: well past its window's end, for reports and late settlements.</summary>
    private static long TtlSeconds(BudgetPeriod period) => (long)(period == BudgetPeriod.Daily ? TimeSpan.FromDays(40) : TimeSpan.FromDays(400)).TotalSeconds;

    /// <summary>A double as Redis and Lua read it back exactly (shortest round-trip form).</summary>
    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static DateTimeOffset Time(RedisValue epochMs) => DateTimeOffset.FromUnixTimeMilliseconds((long)epochMs);

    /// <summary>Seven counts per meter from <paramref name="offset"/>, in the order of the scripts' <c>F</c> table.</summary>
    private static List<MeterState> ParseStates(RedisValue[] values, int offset, IReadOnlyList<MeterKey> keys)
    {
        var states = new List<MeterState>(keys.Count);
        for (var i = 0; i < keys.Count; i++)
        {
            var v = offset + 7 * i;
            states.Add(new MeterState(keys[i],
                new BudgetAmounts((long)values[v], (long)values[v + 1], (double)values[v + 2]),
                new BudgetAmounts((long)values[v + 3], (long)values[v + 4], (double)values[v + 5]),
                (int)(long)values[v + 6]));
        }
        return states;
    }

    private async Task<RedisValue[]> ArrayAsync(string script, RedisKey[] keys, RedisValue[] args, CancellationToken ct)
        => (RedisValue[])(await EvaluateAsync(script, keys, args, ct))!;

    private async Task<long> IntegerAsync(string script, RedisKey[] keys, RedisValue[] args, CancellationToken ct)
        => (long)await EvaluateAsync(script, keys, args, ct);

    private async Task<RedisResult> EvaluateAsync(string script, RedisKey[] keys, RedisValue[] args, CancellationToken ct)
    {
        // A script already sent runs to its end on the server, so a cancellation is only honoured before sending:
        // abandoning a reservation in flight would leave it open (until it expires) with no one to settle it.
        ct.ThrowIfCancellationRequested();
        var db = await redis.DatabaseAsync();
        try
        {
            return await db.ScriptEvaluateAsync(script, keys, args);
        }
        catch (Exception e) when (e is RedisConnectionException or RedisTimeoutException)
        {
            throw new RedisUnavailableException(e);
        }
    }
}
