namespace Gapura.Storage;

internal interface IAuditLog
{
    /// <summary>Appends an entry. Write it in the same transaction as the action it records when there is one.</summary>
    Task<long> WriteAsync(NewAuditEntry entry, CancellationToken ct = default);

    /// <summary>Newest first.</summary>
    Task<IReadOnlyList<AuditEntry>> ListAsync(AuditQuery? query = null, CancellationToken ct = default);
}

internal sealed class AuditLog(IDbScope scope, TimeProvider time) : IAuditLog
{
    public Task<long> WriteAsync(NewAuditEntry entry, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(entry.Actor);
        ArgumentException.ThrowIfNullOrWhiteSpace(entry.Action);
        return scope.WriteAsync(s => s.Sql("""
                INSERT INTO audit_log (at, actor, action, target, detail, remote_addr)
                VALUES (@at, @actor, @action, @target, @detail, @addr)
                RETURNING id
                """)
            .Param("at", time.NowMs()).Param("actor", entry.Actor).Param("action", entry.Action)
            .Param("target", entry.Target).Param("detail", entry.Detail).Param("addr", entry.RemoteAddr)
            .ScalarAsync<long>(ct), ct);
    }

    public async Task<IReadOnlyList<AuditEntry>> ListAsync(AuditQuery? query = null, CancellationToken ct = default)
    {
        query ??= new AuditQuery();
        var where = new List<string>();
        if (query.Since is not null) where.Add("at >= @since");
        if (query.Actor is not null) where.Add("actor = @actor");
        if (query.Target is not null) where.Add("target = @target");
        if (query.BeforeId is not null) where.Add("id < @before");
        var filter = where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where);
        return await scope.ReadAsync(s =>
        {
            var sql = s.Sql($"SELECT id, at, actor, action, target, detail, remote_addr FROM audit_log {filter} ORDER BY id DESC LIMIT @limit")
                .Param("limit", Math.Clamp(query.Limit, 1, 10_000));
            if (query.Since is not null) sql.Param("since", query.Since.Value);
            if (query.Actor is not null) sql.Param("actor", query.Actor);
            if (query.Target is not null) sql.Param("target", query.Target);
            if (query.BeforeId is not null) sql.Param("before", query.BeforeId.Value);
            return sql.ListAsync(r => new AuditEntry(r.Long("id"), r.Time("at"), r.String("actor"), r.String("action"),
                r.StringOrNull("target"), r.StringOrNull("detail"), r.StringOrNull("remote_addr")), ct);
        }, ct);
    }
}
