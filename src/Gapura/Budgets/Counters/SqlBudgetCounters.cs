using System.Globalization;
using System.Text;
using Gapura.Storage;

namespace Gapura.Budgets.Counters;

/// <summary>
/// Budget counters in the gateway's database. A reservation is one write transaction that locks the request's meter
/// rows (<c>FOR UPDATE</c> on PostgreSQL; SQLite's write lock is database-wide), checks pauses and room, and adds the
/// reservation — so concurrent requests on any number of instances queue on the same rows instead of all reading
/// "there is room" and spending it twice (the overspend LiteLLM's budgets had).
/// <para>
/// On PostgreSQL every transaction takes its row locks in one order — reservations by id, then meters by
/// (scope, period, win) — so concurrent reserves, settlements, renewals and expiries queue instead of dead-locking
/// (a settlement that named its meters in another order than a reservation did once dead-locked under load).
/// </para>
/// </summary>
internal sealed class SqlBudgetCounters(Database database) : IBudgetCounters
{
    private readonly ConnectionPerCallScope _scope = new(database);
    private readonly bool _postgres = database.Backend == StorageBackend.Postgres;

    public Task<ReserveResult> ReserveAsync(Reservation r, CancellationToken ct)
    {
        // A meter named twice is charged once; recorded twice, its reservation would be released twice.
        if (r.Meters.DistinctBy(m => m.Key).Count() != r.Meters.Count) r = r with { Meters = [.. r.Meters.DistinctBy(m => m.Key)] };
        // One order for every transaction, so two requests sharing meters lock them in the same order and never dead-lock.
        var meters = r.Meters.OrderBy(m => m.Key, LockOrder).ToList();
        var keys = meters.Select(m => m.Key).ToList();
        return _scope.WriteAsync(async s =>
        {
            var rows = await LockAsync(s, keys, ct);
            if (rows.Count < keys.Count)
            {
                await EnsureAsync(s, keys, ct);
                rows = await LockAsync(s, keys, ct);
            }
            var states = new List<MeterState>(meters.Count);
            MeterRefusal? refusal = null;
            foreach (var m in meters)
            {
                var (state, pause) = rows[m.Key];
                states.Add(state);
                if (refusal is not null) continue;
                if (pause is not null && (pause.Until is null || pause.Until > r.Now)) { refusal = new MeterRefusal(m.Key, BudgetQuantity.Input, pause); continue; }
                foreach (var q in BudgetQuantities.All)
                    if (m.MaxOf(q) is { } max && state.Used.Of(q) + state.Reserved.Of(q) + r.Amount.Of(q) > max)
                    {
                        refusal = new MeterRefusal(m.Key, q, null);
                        break;
                    }
            }
            // The caller's order, whatever order the rows were locked in.
            var byKey = states.ToDictionary(st => st.Key);
            if (refusal is not null) return new ReserveResult(false, [.. r.Meters.Select(m => byKey[m.Key])], refusal);

            var update = s.Sql($"""
                UPDATE budget_meters SET reserved_input = reserved_input + @i, reserved_output = reserved_output + @o, reserved_cost = reserved_cost + @c
                WHERE {KeysIn(keys)}
                """).Param("i", r.Amount.InputTokens).Param("o", r.Amount.OutputTokens).Param("c", r.Amount.CostUsd);
            await BindKeys(update, keys).ExecuteAsync(ct);
            await s.Sql("""
                    INSERT INTO budget_reservations (id, instance, input, output, cost, meters, expires_at)
                    VALUES (@id, @instance, @i, @o, @c, @meters, @expires)
                    """)
                .Param("id", r.Id).Param("instance", r.Instance).Param("i", r.Amount.InputTokens).Param("o", r.Amount.OutputTokens)
                .Param("c", r.Amount.CostUsd).Param("meters", Encode(keys)).Param("expires", r.ExpiresAt).ExecuteAsync(ct);
            return new ReserveResult(true, [.. r.Meters.Select(m => byKey[m.Key] with { Reserved = byKey[m.Key].Reserved + r.Amount })], null);
        }, ct);
    }

    /// <summary>
    /// The meters' rows with any pause of their scope and period, locked until the transaction ends — in byte order of
    /// the key (<c>COLLATE "C"</c>, whatever the database's collation), the ordinal order <see cref="LockOrder"/> gives.
    /// </summary>
    private async Task<Dictionary<MeterKey, (MeterState State, BudgetPause? Pause)>> LockAsync(DbSession s, IReadOnlyList<MeterKey> keys, CancellationToken ct)
    {
        var select = s.Sql($"""
            SELECT m.scope, m.period, m.win, m.used_input, m.used_output, m.used_cost, m.reserved_input, m.reserved_output, m.reserved_cost, m.alerted,
                   p.since, p.until, p.reason
            FROM budget_meters m LEFT JOIN budget_pauses p ON p.scope = m.scope AND p.period = m.period
            WHERE {KeysIn(keys, "m.")}
            ORDER BY {(_postgres ? "m.scope COLLATE \"C\", m.period COLLATE \"C\", m.win COLLATE \"C\" FOR UPDATE OF m" : "m.scope, m.period, m.win")}
            """);
        var list = await BindKeys(select, keys).ListAsync(row =>
        {
            var state = ReadState(row);
            var pause = row.StringOrNull("reason") is { } reason
                ? new BudgetPause(state.Key.Scope, state.Key.Period, row.Time("since"), row.TimeOrNull("until"), reason)
                : null;
            return (state, pause);
        }, ct);
        return list.ToDictionary(x => x.state.Key, x => (x.state, x.pause));
    }

    private static async Task EnsureAsync(DbSession s, IReadOnlyList<MeterKey> keys, CancellationToken ct)
    {
        var values = string.Join(", ", keys.Select((_, i) => $"(@s{i}, @p{i}, @w{i})"));
        await BindKeys(s.Sql($"INSERT INTO budget_meters (scope, period, win) VALUES {values} ON CONFLICT (scope, period, win) DO NOTHING"), keys).ExecuteAsync(ct);
    }

    public Task<IReadOnlyList<MeterState>> SettleAsync(IReadOnlyList<Settlement> settlements, CancellationToken ct)
    {
        if (settlements.Count == 0) return Task.FromResult<IReadOnlyList<MeterState>>([]);
        return _scope.WriteAsync<IReadOnlyList<MeterState>>(async s =>
        {
            var touched = new List<MeterKey>();
            var used = new Dictionary<MeterKey, BudgetAmounts>();
            foreach (var settlement in settlements)
                foreach (var key in settlement.Meters)
                {
                    if (!used.TryGetValue(key, out var sum)) touched.Add(key);
                    used[key] = sum + settlement.Actual;
                }
            // A reservation is released from the meters it recorded, whatever meters its settlement names.
            var released = await ReleaseAsync(s, $"id IN ({string.Join(", ", settlements.Select((_, i) => $"@r{i}"))})",
                c =>
                {
                    for (var i = 0; i < settlements.Count; i++) c.Param("r" + i.ToString(CultureInfo.InvariantCulture), settlements[i].ReservationId);
                    return c;
                }, ct);
            await ApplyAsync(s, used, released, ct);
            return await ReadAsync(s, touched, ct);
        }, ct);
    }

    public Task<int> RenewAsync(string instance, DateTimeOffset expiresAt, CancellationToken ct)
        => _scope.WriteAsync(s => s.Sql($"UPDATE budget_reservations SET expires_at = @e WHERE {LockedIds("instance = @i")}")
            .Param("e", expiresAt).Param("i", instance).ExecuteAsync(ct), ct);

    public Task<int> ExpireAsync(DateTimeOffset now, CancellationToken ct)
        => _scope.WriteAsync(async s =>
        {
            var released = await ReleaseAsync(s, "expires_at < @now", c => c.Param("now", now), ct);
            await ApplyAsync(s, [], released, ct);
            return released.Count;
        }, ct);

    /// <summary>Deletes the reservations <paramref name="where"/> selects (locked in id order): how many, and what they held per meter.</summary>
    private async Task<Released> ReleaseAsync(DbSession s, string where, Func<SqlCommand, SqlCommand> bind, CancellationToken ct)
    {
        var rows = await bind(s.Sql($"DELETE FROM budget_reservations WHERE {LockedIds(where)} RETURNING input, output, cost, meters"))
            .ListAsync(row => (Amount: new BudgetAmounts(row.Long("input"), row.Long("output"), Double(row, "cost")), Meters: Decode(row.String("meters"))), ct);
        var perMeter = new Dictionary<MeterKey, BudgetAmounts>();
        foreach (var (amount, meters) in rows)
            foreach (var key in meters.Distinct())
                perMeter[key] = perMeter.GetValueOrDefault(key) + amount;
        return new Released(rows.Count, perMeter);
    }

    /// <summary>
    /// Adds use to meters and takes released reservations off them, one statement per meter in lock order (a meter
    /// first charged at settlement starts at zero).
    /// </summary>
    private static async Task ApplyAsync(DbSession s, Dictionary<MeterKey, BudgetAmounts> used, Released released, CancellationToken ct)
    {
        var keys = used.Keys.Union(released.PerMeter.Keys).Order(LockOrder);
        foreach (var key in keys)
        {
            var use = used.GetValueOrDefault(key);
            var release = released.PerMeter.GetValueOrDefault(key);
            await s.Sql("""
                    INSERT INTO budget_meters (scope, period, win, used_input, used_output, used_cost) VALUES (@s, @p, @w, @ui, @uo, @uc)
                    ON CONFLICT (scope, period, win) DO UPDATE SET
                        used_input = budget_meters.used_input + excluded.used_input,
                        used_output = budget_meters.used_output + excluded.used_output,
                        used_cost = budget_meters.used_cost + excluded.used_cost,
                        reserved_input = budget_meters.reserved_input - @ri,
                        reserved_output = budget_meters.reserved_output - @ro,
                        reserved_cost = budget_meters.reserved_cost - @rc
                    """)
                .Param("s", key.Scope).Param("p", PeriodName(key.Period)).Param("w", key.Window)
                .Param("ui", use.InputTokens).Param("uo", use.OutputTokens).Param("uc", use.CostUsd)
                .Param("ri", release.InputTokens).Param("ro", release.OutputTokens).Param("rc", release.CostUsd).ExecuteAsync(ct);
        }
    }

    /// <summary><c>id IN (…)</c> over the reservations <paramref name="where"/> selects, locked in id order on PostgreSQL.</summary>
    private string LockedIds(string where)
        => _postgres ? $"id IN (SELECT id FROM budget_reservations WHERE {where} ORDER BY id FOR UPDATE)" : where;

    /// <summary>The one order meters are locked in: (scope, period, window), ordinally.</summary>
    private static readonly Comparer<MeterKey> LockOrder = Comparer<MeterKey>.Create((a, b) =>
    {
        var c = string.CompareOrdinal(a.Scope, b.Scope);
        if (c == 0) c = string.CompareOrdinal(a.PeriodName, b.PeriodName);
        return c != 0 ? c : string.CompareOrdinal(a.Window, b.Window);
    });

    private sealed record Released(int Count, Dictionary<MeterKey, BudgetAmounts> PerMeter);

    public Task<IReadOnlyList<MeterState>> ReadAsync(IReadOnlyList<MeterKey> keys, CancellationToken ct)
        => keys.Count == 0 ? Task.FromResult<IReadOnlyList<MeterState>>([]) : _scope.ReadAsync(s => ReadAsync(s, keys, ct), ct);

    private static async Task<IReadOnlyList<MeterState>> ReadAsync(DbSession s, IReadOnlyList<MeterKey> keys, CancellationToken ct)
    {
        if (keys.Count == 0) return [];
        var select = s.Sql($"""
            SELECT scope, period, win, used_input, used_output, used_cost, reserved_input, reserved_output, reserved_cost, alerted
            FROM budget_meters WHERE {KeysIn(keys)}
            """);
        var found = (await BindKeys(select, keys).ListAsync(ReadState, ct)).ToDictionary(m => m.Key);
        return [.. keys.Select(k => found.GetValueOrDefault(k) ?? new MeterState(k, BudgetAmounts.Zero, BudgetAmounts.Zero, 0))];
    }

    public Task<bool> TryMarkAlertedAsync(MeterKey key, BudgetQuantity quantity, CancellationToken ct)
        => _scope.WriteAsync(async s => await s.Sql("""
                INSERT INTO budget_meters (scope, period, win, alerted) VALUES (@s, @p, @w, @bit)
                ON CONFLICT (scope, period, win) DO UPDATE SET alerted = budget_meters.alerted | excluded.alerted
                WHERE (budget_meters.alerted & excluded.alerted) = 0
                """)
            .Param("s", key.Scope).Param("p", PeriodName(key.Period)).Param("w", key.Window).Param("bit", quantity.Bit()).ExecuteAsync(ct) == 1, ct);

    public Task<bool> PauseAsync(BudgetPause pause, CancellationToken ct)
        => _scope.WriteAsync(async s => await s.Sql("""
                INSERT INTO budget_pauses (scope, period, since, until, reason) VALUES (@s, @p, @since, @until, @reason)
                ON CONFLICT (scope, period) DO UPDATE SET since = excluded.since, until = excluded.until, reason = excluded.reason
                WHERE budget_pauses.until IS NOT NULL AND budget_pauses.until <= excluded.since
                """)
            .Param("s", pause.Scope).Param("p", PeriodName(pause.Period)).Param("since", pause.Since).Param("until", pause.Until)
            .Param("reason", pause.Reason).ExecuteAsync(ct) == 1, ct);

    public Task<IReadOnlyList<BudgetPause>> PausesAsync(string? scope, CancellationToken ct)
        => _scope.ReadAsync<IReadOnlyList<BudgetPause>>(async s => await s.Sql(
                $"SELECT scope, period, since, until, reason FROM budget_pauses{(scope is null ? "" : " WHERE scope = @s")} ORDER BY scope, period")
            .Param("s", scope)
            .ListAsync(row => new BudgetPause(row.String("scope"), ParsePeriod(row.String("period")), row.Time("since"), row.TimeOrNull("until"), row.String("reason")), ct), ct);

    public Task ResetAsync(string scope, IReadOnlyList<MeterKey> current, CancellationToken ct)
        => _scope.WriteAsync(async s =>
        {
            await s.Sql("DELETE FROM budget_pauses WHERE scope = @s").Param("s", scope).ExecuteAsync(ct);
            // One meter at a time in lock order, as every other transaction takes them.
            foreach (var key in current.Distinct().Order(LockOrder))
                await s.Sql("UPDATE budget_meters SET used_input = 0, used_output = 0, used_cost = 0, alerted = 0 WHERE scope = @s AND period = @p AND win = @w")
                    .Param("s", key.Scope).Param("p", PeriodName(key.Period)).Param("w", key.Window).ExecuteAsync(ct);
            return 0;
        }, ct);

    private static MeterState ReadState(Row row) => new(
        new MeterKey(row.String("scope"), ParsePeriod(row.String("period")), row.String("win")),
        new BudgetAmounts(row.Long("used_input"), row.Long("used_output"), Double(row, "used_cost")),
        new BudgetAmounts(row.Long("reserved_input"), row.Long("reserved_output"), Double(row, "reserved_cost")),
        row.Int("alerted"));

    private static double Double(Row row, string column) => Convert.ToDouble(row.Value(column), CultureInfo.InvariantCulture);

    /// <summary><c>(scope, period, win) IN ((@s0, @p0, @w0), …)</c>: row values, which both back ends compare as tuples.</summary>
    private static string KeysIn(IReadOnlyList<MeterKey> keys, string alias = "")
        => $"({alias}scope, {alias}period, {alias}win) IN ({string.Join(", ", keys.Select((_, i) => $"(@s{i}, @p{i}, @w{i})"))})";

    private static SqlCommand BindKeys(SqlCommand command, IReadOnlyList<MeterKey> keys)
    {
        for (var i = 0; i < keys.Count; i++)
        {
            var n = i.ToString(CultureInfo.InvariantCulture);
            command.Param("s" + n, keys[i].Scope).Param("p" + n, PeriodName(keys[i].Period)).Param("w" + n, keys[i].Window);
        }
        return command;
    }

    internal static string PeriodName(BudgetPeriod period) => period == BudgetPeriod.Daily ? "daily" : "monthly";

    internal static BudgetPeriod ParsePeriod(string name) => name == "daily" ? BudgetPeriod.Daily : BudgetPeriod.Monthly;

    /// <summary>A reservation's meters in one column: <c>user:42|daily|2026-12-06;gateway|monthly|2026-12</c>.</summary>
    internal static string Encode(IReadOnlyList<MeterKey> keys)
    {
        var b = new StringBuilder(keys.Count * 32);
        foreach (var k in keys)
        {
            if (b.Length > 0) b.Append(';');
            b.Append(k.Scope).Append('|').Append(PeriodName(k.Period)).Append('|').Append(k.Window);
        }
        return b.ToString();
    }

    internal static IReadOnlyList<MeterKey> Decode(string meters)
    {
        var list = new List<MeterKey>();
        foreach (var part in meters.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = part.Split('|');
            if (f.Length == 3) list.Add(new MeterKey(f[0], ParsePeriod(f[1]), f[2]));
        }
        return list;
    }
}
