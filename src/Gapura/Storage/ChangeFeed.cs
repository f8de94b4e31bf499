namespace Gapura.Storage;

/// <summary>
/// How instances notice each other's changes to users, keys, logins and settings. Every such change
/// bumps one counter row in the same transaction and notes what changed under the new value. Polling is
/// a primary-key read of that row (<see cref="GetVersionAsync"/>) — cheap enough to run every second —
/// and only when it moved does an instance fetch the entries since its last version.
/// </summary>
/// <remarks>
/// One counter row rather than an identity column on purpose: updating the row takes its lock until the
/// transaction ends, so values are handed out in commit order and without gaps. A sequence would hand
/// them out at insert time, and a poller could read 11 before a slower transaction commits 10 and never
/// see 10. The same lock serialises concurrent user changes, which the last-admin check relies on.
/// </remarks>
internal interface IChangeFeed
{
    Task<long> GetVersionAsync(CancellationToken ct = default);

    Task<ChangeBatch> GetChangesSinceAsync(long since, int limit = 1000, CancellationToken ct = default);

    /// <summary>Forgets entries older than <paramref name="before"/>; callers that far behind reload everything.</summary>
    Task<int> PruneAsync(DateTimeOffset before, CancellationToken ct = default);
}

internal sealed class ChangeFeed(IDbScope scope) : IChangeFeed
{
    /// <summary>Records a change inside the caller's transaction; call it before reading what the change depends on.</summary>
    public static async Task<long> RecordAsync(DbSession session, string entity, string entityId, DateTimeOffset at, CancellationToken ct)
    {
        var seq = await session.Sql("UPDATE change_seq SET value = value + 1 WHERE id = 1 RETURNING value").ScalarAsync<long>(ct);
        await session.Sql("INSERT INTO change_log (seq, entity, entity_id, at) VALUES (@seq, @entity, @id, @at)")
            .Param("seq", seq).Param("entity", entity).Param("id", entityId).Param("at", at).ExecuteAsync(ct);
        return seq;
    }

    public static Task<long> RecordAsync(DbSession session, string entity, long entityId, DateTimeOffset at, CancellationToken ct)
        => RecordAsync(session, entity, entityId.ToString(System.Globalization.CultureInfo.InvariantCulture), at, ct);

    public Task<long> GetVersionAsync(CancellationToken ct = default)
        => scope.ReadAsync(s => s.Sql("SELECT value FROM change_seq WHERE id = 1").ScalarAsync<long>(ct), ct);

    public Task<ChangeBatch> GetChangesSinceAsync(long since, int limit = 1000, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        return scope.ReadAsync(async s =>
        {
            var version = await s.Sql("SELECT value FROM change_seq WHERE id = 1").ScalarAsync<long>(ct);
            if (version == since) return new ChangeBatch(version, [], true);
            if (version < since) return new ChangeBatch(version, [], false);
            var changes = await s.Sql("""
                    SELECT seq, entity, entity_id FROM change_log
                    WHERE seq > @since AND seq <= @version
                    ORDER BY seq
                    LIMIT @limit
                    """)
                .Param("since", since).Param("version", version).Param("limit", limit)
                .ListAsync(r => new Change(r.Long("seq"), r.String("entity"), r.String("entity_id")), ct);
            var upTo = changes.Count == limit ? changes[^1].Seq : version;
            var distinct = changes.Select(c => c.Seq).Distinct().Count();
            return new ChangeBatch(upTo, changes, distinct == upTo - since);
        }, ct);
    }

    public Task<int> PruneAsync(DateTimeOffset before, CancellationToken ct = default)
        => scope.WriteAsync(s => s.Sql("DELETE FROM change_log WHERE at < @before").Param("before", before).ExecuteAsync(ct), ct);
}
