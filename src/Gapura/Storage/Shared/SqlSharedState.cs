namespace Gapura.Storage.Shared;

/// <summary>
/// Shared state in the gateway's database, one code path for SQLite and PostgreSQL: rests in <c>upstream_rests</c>,
/// flows in <c>sign_in_flows</c>. Every statement is a single-row or indexed range statement; the poll of rests
/// (<see cref="RestingAsync"/>) reads the few rows not yet over.
/// </summary>
internal sealed class SqlSharedState(Database database) : ISharedState
{
    private readonly ConnectionPerCallScope _scope = new(database);

    public Task RestAsync(IReadOnlyList<SharedRest> rests, DateTimeOffset now, CancellationToken ct)
        => _scope.WriteAsync(async s =>
        {
            foreach (var rest in rests)
            {
                if (rest.Until <= now) continue;
                // The later end wins: a short Retry-After seen on one instance never cuts a longer rest seen on another.
                await s.Sql("""
                        INSERT INTO upstream_rests (key, until) VALUES (@k, @u)
                        ON CONFLICT (key) DO UPDATE SET until = CASE WHEN excluded.until > upstream_rests.until THEN excluded.until ELSE upstream_rests.until END
                        """)
                    .Param("k", rest.Key).Param("u", rest.Until).ExecuteAsync(ct);
            }
            return await s.Sql("DELETE FROM upstream_rests WHERE until <= @now").Param("now", now).ExecuteAsync(ct);
        }, ct);

    public async Task<IReadOnlyList<SharedRest>> RestingAsync(DateTimeOffset now, CancellationToken ct)
        => await _scope.ReadAsync(s => s.Sql("SELECT key, until FROM upstream_rests WHERE until > @now").Param("now", now)
            .ListAsync(r => new SharedRest(r.String("key"), r.Time("until")), ct), ct);

    public Task<bool> AddFlowAsync(SignInFlowRow flow, int maxPerUser, DateTimeOffset now, CancellationToken ct)
        => _scope.WriteAsync(async s =>
        {
            await s.Sql("DELETE FROM sign_in_flows WHERE expires_at <= @now").Param("now", now).ExecuteAsync(ct);
            var waiting = await s.Sql("SELECT count(*) FROM sign_in_flows WHERE user_id = @u AND kind = @k AND expires_at > @now")
                .Param("u", flow.UserId).Param("k", flow.Kind).Param("now", now).ScalarAsync<long>(ct);
            if (waiting >= maxPerUser) return false;
            await s.Sql("""
                    INSERT INTO sign_in_flows (id, kind, user_id, label, state_enc, expires_at, next_poll_at, interval_ms)
                    VALUES (@id, @kind, @user, @label, @state, @expires, @next, @interval)
                    """)
                .Param("id", flow.Id).Param("kind", flow.Kind).Param("user", flow.UserId).Param("label", flow.Label).Param("state", flow.SealedState)
                .Param("expires", flow.ExpiresAt).Param("next", flow.NextPollAt).Param("interval", (long)flow.Interval.TotalMilliseconds)
                .ExecuteAsync(ct);
            return true;
        }, ct);

    public Task<SignInFlowRow?> FindFlowAsync(string id, DateTimeOffset now, CancellationToken ct)
        => _scope.ReadAsync(s => s.Sql("""
                SELECT id, kind, user_id, label, state_enc, expires_at, next_poll_at, interval_ms FROM sign_in_flows
                WHERE id = @id AND expires_at > @now
                """)
            .Param("id", id).Param("now", now)
            .FirstOrDefaultAsync(r => new SignInFlowRow(r.String("id"), r.String("kind"), r.Long("user_id"), r.StringOrNull("label"), r.String("state_enc"),
                r.Time("expires_at"), r.Time("next_poll_at"), TimeSpan.FromMilliseconds(r.Long("interval_ms"))), ct), ct);

    public async Task<bool> ClaimPollAsync(string id, DateTimeOffset now, DateTimeOffset holdUntil, CancellationToken ct)
        => await _scope.WriteAsync(s => s.Sql("UPDATE sign_in_flows SET next_poll_at = @hold WHERE id = @id AND next_poll_at <= @now AND expires_at > @now")
            .Param("hold", holdUntil).Param("id", id).Param("now", now).ExecuteAsync(ct), ct) == 1;

    public Task SetNextPollAsync(string id, DateTimeOffset nextPollAt, TimeSpan interval, CancellationToken ct)
        => _scope.WriteAsync(s => s.Sql("UPDATE sign_in_flows SET next_poll_at = @next, interval_ms = @interval WHERE id = @id")
            .Param("next", nextPollAt).Param("interval", (long)interval.TotalMilliseconds).Param("id", id).ExecuteAsync(ct), ct);

    public async Task<bool> RemoveFlowAsync(string id, CancellationToken ct)
        => await _scope.WriteAsync(s => s.Sql("DELETE FROM sign_in_flows WHERE id = @id").Param("id", id).ExecuteAsync(ct), ct) == 1;
}
