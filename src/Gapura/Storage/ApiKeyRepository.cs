using System.Data.Common;

namespace Gapura.Storage;

internal interface IApiKeyRepository
{
    /// <summary>Stores a key's hash and prefix. Throws <see cref="UserNotFoundException"/> or <see cref="DuplicateApiKeyException"/>.</summary>
    Task<ApiKey> CreateAsync(NewApiKey key, CancellationToken ct = default);

    Task<ApiKey?> FindAsync(long id, CancellationToken ct = default);

    Task<ApiKey?> FindByHashAsync(string hash, CancellationToken ct = default);

    /// <summary>Keys whose visible prefix starts with <paramref name="prefix"/> (several when it is short).</summary>
    Task<IReadOnlyList<ApiKey>> FindByPrefixAsync(string prefix, CancellationToken ct = default);

    Task<IReadOnlyList<ApiKey>> ListAsync(long? userId = null, bool includeRevoked = true, CancellationToken ct = default);

    /// <summary>
    /// Every key that may authenticate at <paramref name="now"/>: not revoked, not expired, owner enabled.
    /// This is what an instance loads into its in-memory index.
    /// </summary>
    Task<IReadOnlyList<ActiveApiKey>> ListActiveAsync(DateTimeOffset now, long? userId = null, CancellationToken ct = default);

    /// <summary>Revokes the key; false when it already was. Throws <see cref="ApiKeyNotFoundException"/>.</summary>
    Task<bool> RevokeAsync(long id, CancellationToken ct = default);

    /// <summary>
    /// Writes last-used times gathered in memory, in one transaction. Times only move forward, so
    /// instances flushing in any order agree. Not a change: nobody needs to reload for it.
    /// </summary>
    Task RecordLastUsedAsync(IReadOnlyCollection<KeyValuePair<long, DateTimeOffset>> lastUsed, CancellationToken ct = default);
}

internal sealed class ApiKeyRepository(IDbScope scope, TimeProvider time) : IApiKeyRepository
{
    private const string Columns = "k.id, k.user_id, k.name, k.prefix, k.hash, k.created_at, k.expires_at, k.revoked_at, k.last_used_at";

    public Task<ApiKey> CreateAsync(NewApiKey key, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(key.Hash);
        ArgumentException.ThrowIfNullOrEmpty(key.Prefix);
        return scope.WriteAsync(async s =>
        {
            var now = time.NowMs();
            await UserRepository.RequireUserAsync(s, key.UserId, ct);
            long id;
            try
            {
                id = await s.Sql("""
                        INSERT INTO api_keys (user_id, name, prefix, hash, created_at, expires_at)
                        VALUES (@user, @name, @prefix, @hash, @now, @expires)
                        RETURNING id
                        """)
                    .Param("user", key.UserId).Param("name", (key.Name ?? "").Trim()).Param("prefix", key.Prefix)
                    .Param("hash", key.Hash).Param("now", now).Param("expires", key.ExpiresAt)
                    .ScalarAsync<long>(ct);
            }
            catch (DbException e) when (s.Database.IsUniqueViolation(e))
            {
                throw new DuplicateApiKeyException();
            }
            await ChangeFeed.RecordAsync(s, ChangeEntity.ApiKey, id, now, ct);
            return (await FindAsync(s, id, ct))!;
        }, ct);
    }

    public Task<ApiKey?> FindAsync(long id, CancellationToken ct = default) => scope.ReadAsync(s => FindAsync(s, id, ct), ct);

    public Task<ApiKey?> FindByHashAsync(string hash, CancellationToken ct = default)
        => scope.ReadAsync(s => s.Sql($"SELECT {Columns} FROM api_keys k WHERE k.hash = @hash").Param("hash", hash).FirstOrDefaultAsync(Map, ct), ct);

    public async Task<IReadOnlyList<ApiKey>> FindByPrefixAsync(string prefix, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        // The index holds the stored prefix; a caller's prefix may be shorter or the whole key, so compare both ways in memory.
        var head = prefix.Length > ApiKeyPrefixLength ? prefix[..ApiKeyPrefixLength] : prefix;
        return await scope.ReadAsync(s => s.Sql($"SELECT {Columns} FROM api_keys k WHERE substr(k.prefix, 1, @n) = @head ORDER BY k.id")
            .Param("n", head.Length).Param("head", head).ListAsync(Map, ct), ct);
    }

    public async Task<IReadOnlyList<ApiKey>> ListAsync(long? userId = null, bool includeRevoked = true, CancellationToken ct = default)
    {
        // Conditions are added, not written as "@user IS NULL OR …": PostgreSQL cannot type a bare NULL parameter.
        var where = new List<string>();
        if (userId is not null) where.Add("k.user_id = @user");
        if (!includeRevoked) where.Add("k.revoked_at IS NULL");
        var filter = where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where);
        return await scope.ReadAsync(s =>
        {
            var sql = s.Sql($"SELECT {Columns} FROM api_keys k {filter} ORDER BY k.id");
            if (userId is not null) sql.Param("user", userId.Value);
            return sql.ListAsync(Map, ct);
        }, ct);
    }

    public async Task<IReadOnlyList<ActiveApiKey>> ListActiveAsync(DateTimeOffset now, long? userId = null, CancellationToken ct = default)
        => await scope.ReadAsync(s =>
        {
            var sql = s.Sql($"""
                    SELECT {Columns}, u.email, u.role FROM api_keys k JOIN users u ON u.id = k.user_id
                    WHERE k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > @now) AND u.disabled = @no
                    {(userId is null ? "" : "AND k.user_id = @user")}
                    ORDER BY k.id
                    """)
                .Param("now", now).Param("no", false);
            if (userId is not null) sql.Param("user", userId.Value);
            return sql.ListAsync(r => new ActiveApiKey(Map(r), r.String("email"), UserRepository.ParseRole(r.String("role"))), ct);
        }, ct);

    public Task<bool> RevokeAsync(long id, CancellationToken ct = default)
        => scope.WriteAsync(async s =>
        {
            var now = time.NowMs();
            var changed = await s.Sql("UPDATE api_keys SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL")
                .Param("now", now).Param("id", id).ExecuteAsync(ct);
            if (changed == 0)
            {
                _ = await FindAsync(s, id, ct) ?? throw new ApiKeyNotFoundException(id);
                return false;
            }
            await ChangeFeed.RecordAsync(s, ChangeEntity.ApiKey, id, now, ct);
            return true;
        }, ct);

    public Task RecordLastUsedAsync(IReadOnlyCollection<KeyValuePair<long, DateTimeOffset>> lastUsed, CancellationToken ct = default)
    {
        if (lastUsed.Count == 0) return Task.CompletedTask;
        return scope.WriteAsync(async s =>
        {
            foreach (var (id, at) in lastUsed)
            {
                await s.Sql("UPDATE api_keys SET last_used_at = @at WHERE id = @id AND (last_used_at IS NULL OR last_used_at < @at)")
                    .Param("at", at).Param("id", id).ExecuteAsync(ct);
            }
            return 0;
        }, ct);
    }

    /// <summary>How many characters of a key are kept in clear (see <see cref="Identity.ApiKeys.PrefixLength"/>).</summary>
    private static int ApiKeyPrefixLength => Identity.ApiKeys.PrefixLength;

    private static Task<ApiKey?> FindAsync(DbSession s, long id, CancellationToken ct)
        => s.Sql($"SELECT {Columns} FROM api_keys k WHERE k.id = @id").Param("id", id).FirstOrDefaultAsync(Map, ct);

    private static ApiKey Map(Row r) => new(
        r.Long("id"), r.Long("user_id"), r.String("name"), r.String("prefix"), r.String("hash"),
        r.Time("created_at"), r.TimeOrNull("expires_at"), r.TimeOrNull("revoked_at"), r.TimeOrNull("last_used_at"));
}
