using System.Data.Common;
using Gapura.Secrets;

namespace Gapura.Storage;

internal interface IUpstreamLoginRepository
{
    /// <summary>
    /// Stores a login with its secret (tokens, serialised by the provider) encrypted. Throws
    /// <see cref="UserNotFoundException"/> or <see cref="DuplicateUpstreamLoginException"/>.
    /// </summary>
    Task<UpstreamLogin> AddAsync(long userId, string provider, string label, string secret, CancellationToken ct = default);

    Task<UpstreamLogin?> FindAsync(long id, CancellationToken ct = default);

    /// <summary>Logins of one user, or of everybody; optionally of one provider. Ordered by id.</summary>
    Task<IReadOnlyList<UpstreamLogin>> ListAsync(long? userId = null, string? provider = null, CancellationToken ct = default);

    /// <summary>Decrypts the login's secret. Throws <see cref="UpstreamLoginNotFoundException"/>.</summary>
    Task<string> ReadSecretAsync(long id, CancellationToken ct = default);

    /// <summary>Replaces the secret after a refresh and marks the login alive again.</summary>
    Task UpdateSecretAsync(long id, string secret, CancellationToken ct = default);

    /// <summary>Marks the login dead (its refresh was refused) so it is reported, not retried in a loop.</summary>
    Task MarkDeadAsync(long id, string error, CancellationToken ct = default);

    /// <summary>Renames a login. Throws <see cref="UpstreamLoginNotFoundException"/> or <see cref="DuplicateUpstreamLoginException"/>.</summary>
    Task RelabelAsync(long id, string label, CancellationToken ct = default);

    Task DeleteAsync(long id, CancellationToken ct = default);
}

internal sealed class UpstreamLoginRepository(IDbScope scope, SecretBox secrets, TimeProvider time) : IUpstreamLoginRepository
{
    private const string Columns = "id, user_id, provider, label, status, last_error, created_at, updated_at";

    public static string Purpose(long id) => SecretColumns.UpstreamLogin.PurposeFor(id);

    public Task<UpstreamLogin> AddAsync(long userId, string provider, string label, string secret, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(provider);
        ArgumentException.ThrowIfNullOrWhiteSpace(label);
        ArgumentException.ThrowIfNullOrEmpty(secret);
        provider = provider.Trim().ToLowerInvariant();
        label = label.Trim();
        return scope.WriteAsync(async s =>
        {
            var now = time.NowMs();
            await UserRepository.RequireUserAsync(s, userId, ct);
            long id;
            try
            {
                // The id is part of the ciphertext's associated data, so the row is inserted first and
                // sealed in the same transaction; the placeholder never becomes visible.
                id = await s.Sql("""
                        INSERT INTO upstream_logins (user_id, provider, label, secret_enc, status, created_at, updated_at)
                        VALUES (@user, @provider, @label, '', 'alive', @now, @now)
                        RETURNING id
                        """)
                    .Param("user", userId).Param("provider", provider).Param("label", label).Param("now", now)
                    .ScalarAsync<long>(ct);
            }
            catch (DbException e) when (s.Database.IsUniqueViolation(e))
            {
                throw new DuplicateUpstreamLoginException(provider, label);
            }
            await s.Sql("UPDATE upstream_logins SET secret_enc = @secret WHERE id = @id")
                .Param("secret", secrets.Seal(secret, Purpose(id))).Param("id", id).ExecuteAsync(ct);
            await ChangeFeed.RecordAsync(s, ChangeEntity.UpstreamLogin, id, now, ct);
            return (await FindAsync(s, id, ct))!;
        }, ct);
    }

    public Task<UpstreamLogin?> FindAsync(long id, CancellationToken ct = default) => scope.ReadAsync(s => FindAsync(s, id, ct), ct);

    public async Task<IReadOnlyList<UpstreamLogin>> ListAsync(long? userId = null, string? provider = null, CancellationToken ct = default)
    {
        var where = new List<string>();
        if (userId is not null) where.Add("user_id = @user");
        if (provider is not null) where.Add("provider = @provider");
        var filter = where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where);
        return await scope.ReadAsync(s =>
        {
            var sql = s.Sql($"SELECT {Columns} FROM upstream_logins {filter} ORDER BY id");
            if (userId is not null) sql.Param("user", userId.Value);
            if (provider is not null) sql.Param("provider", provider.Trim().ToLowerInvariant());
            return sql.ListAsync(Map, ct);
        }, ct);
    }

    public async Task<string> ReadSecretAsync(long id, CancellationToken ct = default)
    {
        var row = await scope.ReadAsync(s => s.Sql("SELECT secret_enc FROM upstream_logins WHERE id = @id").Param("id", id)
            .FirstOrDefaultAsync(r => new { Sealed = r.String("secret_enc") }, ct), ct);
        if (row is null) throw new UpstreamLoginNotFoundException(id);
        return secrets.Open(row.Sealed, Purpose(id));
    }

    public Task UpdateSecretAsync(long id, string secret, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(secret);
        return ChangeAsync(id, (s, now) => s.Sql("""
                UPDATE upstream_logins SET secret_enc = @secret, status = 'alive', last_error = NULL, updated_at = @now
                WHERE id = @id
                """)
            .Param("secret", secrets.Seal(secret, Purpose(id))).Param("now", now).Param("id", id).ExecuteAsync(ct), ct);
    }

    public Task MarkDeadAsync(long id, string error, CancellationToken ct = default)
        => ChangeAsync(id, (s, now) => s.Sql("UPDATE upstream_logins SET status = 'dead', last_error = @error, updated_at = @now WHERE id = @id")
            .Param("error", error).Param("now", now).Param("id", id).ExecuteAsync(ct), ct);

    public Task RelabelAsync(long id, string label, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(label);
        label = label.Trim();
        return ChangeAsync(id, async (s, now) =>
        {
            // Read before writing: after a unique violation PostgreSQL answers nothing more in this transaction.
            if (await FindAsync(s, id, ct) is not { } login) return 0;
            try
            {
                return await s.Sql("UPDATE upstream_logins SET label = @label, updated_at = @now WHERE id = @id")
                    .Param("label", label).Param("now", now).Param("id", id).ExecuteAsync(ct);
            }
            catch (DbException e) when (s.Database.IsUniqueViolation(e))
            {
                throw new DuplicateUpstreamLoginException(login.Provider, label);
            }
        }, ct);
    }

    public Task DeleteAsync(long id, CancellationToken ct = default)
        => ChangeAsync(id, (s, _) => s.Sql("DELETE FROM upstream_logins WHERE id = @id").Param("id", id).ExecuteAsync(ct), ct);

    private Task ChangeAsync(long id, Func<DbSession, DateTimeOffset, Task<int>> change, CancellationToken ct)
        => scope.WriteAsync(async s =>
        {
            var now = time.NowMs();
            if (await change(s, now) == 0) throw new UpstreamLoginNotFoundException(id);
            await ChangeFeed.RecordAsync(s, ChangeEntity.UpstreamLogin, id, now, ct);
            return 0;
        }, ct);

    private static Task<UpstreamLogin?> FindAsync(DbSession s, long id, CancellationToken ct)
        => s.Sql($"SELECT {Columns} FROM upstream_logins WHERE id = @id").Param("id", id).FirstOrDefaultAsync(Map, ct);

    private static UpstreamLogin Map(Row r) => new(
        r.Long("id"), r.Long("user_id"), r.String("provider"), r.String("label"),
        r.String("status") == "dead" ? UpstreamLoginStatus.Dead : UpstreamLoginStatus.Alive,
        r.StringOrNull("last_error"), r.Time("created_at"), r.Time("updated_at"));
}
