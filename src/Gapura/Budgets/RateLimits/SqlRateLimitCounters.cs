using System.Globalization;
using Gapura.Storage;
using Npgsql;

namespace Gapura.Budgets.RateLimits;

/// <summary>
/// Rate-limit counters in the gateway's database, one code path for SQLite and PostgreSQL. Each scope has one
/// <c>rate_windows</c> row (its two minute buckets); an acquire is one write transaction that locks the request's scope
/// rows (<c>FOR UPDATE</c> on PostgreSQL, in one order so two requests never dead-lock; SQLite's write lock is
/// database-wide), counts the scopes' unexpired leases, decides, and writes all or nothing. The row lock also guards
/// the leases: every acquire of a scope holds its row while counting and adding leases, so instances queue on it
/// instead of all seeing the last free slot.
/// </summary>
internal sealed class SqlRateLimitCounters(Database database) : IRateLimitCounters
{
    /// <summary>Most lease ids in one <c>IN (…)</c>: well under both back ends' parameter limits.</summary>
    private const int IdsPerStatement = 500;

    private readonly Database _database = database;
    private readonly ConnectionPerCallScope _scope = new(database);
    private readonly bool _postgres = database.Backend == StorageBackend.Postgres;

    public Task<RateAcquireResult> AcquireAsync(RateAcquire request, CancellationToken ct)
    {
        var clock = RateClock.Of(request.Now);
        var names = Sorted(request.Scopes.Select(s => s.Scope));
        return Guard(_scope.WriteAsync(async s =>
        {
            var rows = await LockAsync(s, names, clock, ct);
            var leased = request.Scopes.Where(c => c.ConcurrentRequests is not null).Select(c => c.Scope).ToList();
            Dictionary<string, long> open = leased.Count == 0 ? [] : await OpenLeasesAsync(s, leased, request.Now, ct);
            var states = request.Scopes.Select(c => new RateScopeState(c.Scope, rows[c.Scope].RollTo(clock.Minute), open.GetValueOrDefault(c.Scope))).ToList();
            if (RateCheck.Evaluate(request.Scopes, states, clock) is { } refusal) return new RateAcquireResult(false, refusal, states);

            foreach (var state in states) await WriteAsync(s, state.Scope, state.Window.Count(request.Tokens), ct);
            foreach (var scope in leased)
                await s.Sql("INSERT INTO rate_leases (id, scope, instance, expires_at) VALUES (@id, @s, @i, @e)")
                    .Param("id", request.LeaseId).Param("s", scope).Param("i", request.Instance).Param("e", request.ExpiresAt).ExecuteAsync(ct);
            return new RateAcquireResult(true, null, states);
        }, ct));
    }

    /// <summary>The scopes' windows, their rows locked until the transaction ends; rows that do not exist yet are made first.</summary>
    private async Task<Dictionary<string, RateWindow>> LockAsync(DbSession s, IReadOnlyList<string> names, RateClock clock, CancellationToken ct)
    {
        var rows = await SelectAsync(s, names, forUpdate: true, ct);
        if (rows.Count == names.Count) return rows;
        var insert = s.Sql($"INSERT INTO rate_windows (scope, minute) VALUES {string.Join(", ", names.Select((_, i) => $"(@s{i}, @m)"))} ON CONFLICT (scope) DO NOTHING")
            .Param("m", clock.Minute);
        await Bind(insert, names).ExecuteAsync(ct);
        return await SelectAsync(s, names, forUpdate: true, ct);
    }

    private async Task<Dictionary<string, RateWindow>> SelectAsync(DbSession s, IReadOnlyList<string> names, bool forUpdate, CancellationToken ct)
    {
        var select = s.Sql($"""
            SELECT scope, minute, requests, tokens, prev_requests, prev_tokens FROM rate_windows
            WHERE scope IN ({Params(names.Count)}) ORDER BY scope{(forUpdate && _postgres ? " FOR UPDATE" : "")}
            """);
        var list = await Bind(select, names).ListAsync(row => (Scope: row.String("scope"),
            Window: new RateWindow(row.Long("minute"), row.Long("requests"), row.Long("tokens"), row.Long("prev_requests"), row.Long("prev_tokens"))), ct);
        return list.ToDictionary(r => r.Scope, r => r.Window, StringComparer.Ordinal);
    }

    private static async Task<Dictionary<string, long>> OpenLeasesAsync(DbSession s, IReadOnlyList<string> scopes, DateTimeOffset now, CancellationToken ct)
    {
        var count = s.Sql($"SELECT scope, count(*) AS n FROM rate_leases WHERE scope IN ({Params(scopes.Count)}) AND expires_at > @now GROUP BY scope")
            .Param("now", now);
        var list = await Bind(count, scopes).ListAsync(row => (Scope: row.String("scope"), N: row.Long("n")), ct);
        return list.ToDictionary(r => r.Scope, r => r.N, StringComparer.Ordinal);
    }

    private static Task<int> WriteAsync(DbSession s, string scope, RateWindow w, CancellationToken ct)
        => s.Sql("UPDATE rate_windows SET minute = @m, requests = @r, tokens = @t, prev_requests = @pr, prev_tokens = @pt WHERE scope = @s")
            .Param("m", w.Minute).Param("r", w.Requests).Param("t", w.Tokens).Param("pr", w.PrevRequests).Param("pt", w.PrevTokens).Param("s", scope)
            .ExecuteAsync(ct);

    public Task ReleaseAsync(IReadOnlyList<RateRelease> releases, DateTimeOffset now, CancellationToken ct)
    {
        if (releases.Count == 0) return Task.CompletedTask;
        var clock = RateClock.Of(now);
        return Guard(_scope.WriteAsync(async s =>
        {
            var corrected = Sorted(releases.Where(r => r.TokenDelta != 0).SelectMany(r => r.Scopes));
            if (corrected.Count > 0)
            {
                // Locked like an acquire, so a correction never overwrites a concurrent acquire's count.
                var rows = await SelectAsync(s, corrected, forUpdate: true, ct);
                var windows = rows.ToDictionary(r => r.Key, r => r.Value.RollTo(clock.Minute), StringComparer.Ordinal);
                foreach (var r in releases)
                    foreach (var scope in r.Scopes)
                        if (r.TokenDelta != 0 && windows.TryGetValue(scope, out var w)) windows[scope] = w.Correct(r.AcquiredMinute, r.TokenDelta);
                foreach (var (scope, w) in windows) await WriteAsync(s, scope, w, ct);
            }
            var leased = releases.Where(r => r.LeaseScopes.Count > 0).Select(r => r.LeaseId).ToList();
            foreach (var chunk in leased.Chunk(IdsPerStatement))
                await Bind(s.Sql($"DELETE FROM rate_leases WHERE id IN ({Params(chunk.Length)})"), chunk).ExecuteAsync(ct);
            return 0;
        }, ct));
    }

    public async Task<int> RenewAsync(IReadOnlyList<RateLeaseRef> leases, DateTimeOffset now, DateTimeOffset expiresAt, CancellationToken ct)
    {
        if (leases.Count == 0) return 0;
        var ids = leases.Select(l => l.LeaseId).ToList();
        return await Guard(_scope.WriteAsync(async s =>
        {
            var renewed = 0;
            foreach (var chunk in ids.Chunk(IdsPerStatement))
                renewed += await Bind(s.Sql($"UPDATE rate_leases SET expires_at = @e WHERE id IN ({Params(chunk.Length)})").Param("e", expiresAt), chunk).ExecuteAsync(ct);
            return renewed;
        }, ct));
    }

    public Task<int> ExpireAsync(DateTimeOffset now, CancellationToken ct)
        => Guard(_scope.WriteAsync(s => s.Sql("DELETE FROM rate_leases WHERE expires_at <= @now").Param("now", now).ExecuteAsync(ct), ct));

    public Task<RateScopeState> ReadAsync(string scope, DateTimeOffset now, CancellationToken ct)
    {
        var clock = RateClock.Of(now);
        return Guard(_scope.ReadAsync(async s =>
        {
            var rows = await SelectAsync(s, [scope], forUpdate: false, ct);
            var open = await OpenLeasesAsync(s, [scope], now, ct);
            var window = rows.TryGetValue(scope, out var w) ? w.RollTo(clock.Minute) : RateWindow.Empty(clock.Minute);
            return new RateScopeState(scope, window, open.GetValueOrDefault(scope));
        }, ct));
    }

    /// <summary>
    /// A PostgreSQL connection lost mid-transaction is as unreachable as one that would not open: a
    /// <see cref="DatabaseUnavailableException"/>, which <c>Budgets:FailOpen</c> governs. A serialization failure or
    /// dead-lock is transient too, but it is contention, not an outage; so is SQLite's busy. Those stay as they are.
    /// </summary>
    private async Task<T> Guard<T>(Task<T> work)
    {
        try
        {
            return await work;
        }
        catch (NpgsqlException e) when (e.IsTransient && e is not PostgresException { SqlState: PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected })
        {
            throw new DatabaseUnavailableException(_database, e);
        }
    }

    private static List<string> Sorted(IEnumerable<string> names) => [.. names.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    private static string Params(int count) => string.Join(", ", Enumerable.Range(0, count).Select(i => "@s" + i.ToString(CultureInfo.InvariantCulture)));

    private static SqlCommand Bind(SqlCommand command, IReadOnlyList<string> values)
    {
        for (var i = 0; i < values.Count; i++) command.Param("s" + i.ToString(CultureInfo.InvariantCulture), values[i]);
        return command;
    }
}
