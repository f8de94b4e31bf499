namespace Gapura.Storage;

/// <summary>
/// A browser sign-in to the admin API. Only the SHA-256 of the cookie's token is stored, so a copy of the
/// database does not sign anyone in. The session says who signed in, not what they may do: role and
/// disabled flag are read from the user on every request, so a change applies at once.
/// </summary>
internal sealed record AdminSession(
    long Id,
    long UserId,
    string TokenHash,
    DateTimeOffset CreatedAt,
    DateTimeOffset ExpiresAt,
    DateTimeOffset LastSeenAt,
    string? RemoteAddr);

internal sealed record NewAdminSession(long UserId, string TokenHash, DateTimeOffset ExpiresAt, string? RemoteAddr = null);

/// <summary>
/// Server-side admin sessions. Sessions are not part of the change feed: nobody caches them, every
/// request reads its session afresh (the admin API is not the hot path).
/// </summary>
internal interface ISessionRepository
{
    /// <summary>Throws <see cref="UserNotFoundException"/> when the user is gone.</summary>
    Task<AdminSession> CreateAsync(NewAdminSession session, CancellationToken ct = default);

    Task<AdminSession?> FindByTokenHashAsync(string tokenHash, CancellationToken ct = default);

    /// <summary>Moves <see cref="AdminSession.LastSeenAt"/> forward (the idle timeout counts from it).</summary>
    Task TouchAsync(long id, DateTimeOffset at, CancellationToken ct = default);

    /// <summary>False when there was no such session.</summary>
    Task<bool> DeleteAsync(long id, CancellationToken ct = default);

    /// <summary>Ends every session of the user except <paramref name="exceptId"/>; returns how many ended.</summary>
    Task<int> DeleteForUserAsync(long userId, long? exceptId = null, CancellationToken ct = default);

    Task<IReadOnlyList<AdminSession>> ListForUserAsync(long userId, CancellationToken ct = default);

    /// <summary>Forgets sessions that expired before <paramref name="now"/>.</summary>
    Task<int> PruneExpiredAsync(DateTimeOffset now, CancellationToken ct = default);
}

internal sealed class SessionRepository(IDbScope scope, TimeProvider time) : ISessionRepository
{
    private const string Columns = "id, user_id, token_hash, created_at, expires_at, last_seen_at, remote_addr";

    public Task<AdminSession> CreateAsync(NewAdminSession session, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(session.TokenHash);
        return scope.WriteAsync(async s =>
        {
            var now = time.NowMs();
            await UserRepository.RequireUserAsync(s, session.UserId, ct);
            var id = await s.Sql("""
                    INSERT INTO sessions (user_id, token_hash, created_at, expires_at, last_seen_at, remote_addr)
                    VALUES (@user, @hash, @now, @expires, @now, @addr)
                    RETURNING id
                    """)
                .Param("user", session.UserId).Param("hash", session.TokenHash).Param("now", now)
                .Param("expires", session.ExpiresAt).Param("addr", session.RemoteAddr)
                .ScalarAsync<long>(ct);
            return (await s.Sql($"SELECT {Columns} FROM sessions WHERE id = @id").Param("id", id).FirstOrDefaultAsync(Map, ct))!;
        }, ct);
    }

    public Task<AdminSession?> FindByTokenHashAsync(string tokenHash, CancellationToken ct = default)
        => scope.ReadAsync(s => s.Sql($"SELECT {Columns} FROM sessions WHERE token_hash = @hash").Param("hash", tokenHash)
            .FirstOrDefaultAsync(Map, ct), ct);

    public Task TouchAsync(long id, DateTimeOffset at, CancellationToken ct = default)
        => scope.WriteAsync(s => s.Sql("UPDATE sessions SET last_seen_at = @at WHERE id = @id AND last_seen_at < @at")
            .Param("at", at).Param("id", id).ExecuteAsync(ct), ct);

    public Task<bool> DeleteAsync(long id, CancellationToken ct = default)
        => scope.WriteAsync(async s => await s.Sql("DELETE FROM sessions WHERE id = @id").Param("id", id).ExecuteAsync(ct) > 0, ct);

    public Task<int> DeleteForUserAsync(long userId, long? exceptId = null, CancellationToken ct = default)
        => scope.WriteAsync(s =>
        {
            var sql = s.Sql($"DELETE FROM sessions WHERE user_id = @user {(exceptId is null ? "" : "AND id <> @except")}").Param("user", userId);
            if (exceptId is not null) sql.Param("except", exceptId.Value);
            return sql.ExecuteAsync(ct);
        }, ct);

    public async Task<IReadOnlyList<AdminSession>> ListForUserAsync(long userId, CancellationToken ct = default)
        => await scope.ReadAsync(s => s.Sql($"SELECT {Columns} FROM sessions WHERE user_id = @user ORDER BY id").Param("user", userId)
            .ListAsync(Map, ct), ct);

    public Task<int> PruneExpiredAsync(DateTimeOffset now, CancellationToken ct = default)
        => scope.WriteAsync(s => s.Sql("DELETE FROM sessions WHERE expires_at < @now").Param("now", now).ExecuteAsync(ct), ct);

    private static AdminSession Map(Row r) => new(
        r.Long("id"), r.Long("user_id"), r.String("token_hash"), r.Time("created_at"), r.Time("expires_at"),
        r.Time("last_seen_at"), r.StringOrNull("remote_addr"));
}
