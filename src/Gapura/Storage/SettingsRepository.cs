using Gapura.Secrets;

namespace Gapura.Storage;

/// <summary>
/// Gateway-wide settings changed at run time (by admins), shared by every instance. A setting is either
/// plain or secret; secret ones are stored encrypted and read only through <see cref="GetSecretAsync"/>.
/// </summary>
internal interface ISettingsRepository
{
    /// <summary>A plain setting's value; null when unset or when the setting is secret.</summary>
    Task<string?> GetAsync(string key, CancellationToken ct = default);

    Task SetAsync(string key, string value, CancellationToken ct = default);

    Task<string?> GetSecretAsync(string key, CancellationToken ct = default);

    Task SetSecretAsync(string key, string value, CancellationToken ct = default);

    /// <summary>False when there was no such setting.</summary>
    Task<bool> DeleteAsync(string key, CancellationToken ct = default);

    /// <summary>All settings; secret ones come without their value.</summary>
    Task<IReadOnlyList<Setting>> ListAsync(CancellationToken ct = default);
}

internal sealed class SettingsRepository(IDbScope scope, SecretBox secrets, TimeProvider time) : ISettingsRepository
{
    public static string Purpose(string key) => SecretColumns.Setting.PurposeFor(key);

    public Task<string?> GetAsync(string key, CancellationToken ct = default)
        => scope.ReadAsync(async s => (await s.Sql("SELECT value FROM settings WHERE key = @key").Param("key", key)
            .FirstOrDefaultAsync(r => new { Value = r.StringOrNull("value") }, ct))?.Value, ct);

    public Task SetAsync(string key, string value, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(value);
        return UpsertAsync(key, value, null, ct);
    }

    public async Task<string?> GetSecretAsync(string key, CancellationToken ct = default)
    {
        var row = await scope.ReadAsync(s => s.Sql("SELECT value_enc FROM settings WHERE key = @key").Param("key", key)
            .FirstOrDefaultAsync(r => new { Sealed = r.StringOrNull("value_enc") }, ct), ct);
        return row?.Sealed is null ? null : secrets.Open(row.Sealed, Purpose(key));
    }

    public Task SetSecretAsync(string key, string value, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(value);
        return UpsertAsync(key, null, secrets.Seal(value, Purpose(key)), ct);
    }

    public Task<bool> DeleteAsync(string key, CancellationToken ct = default)
        => scope.WriteAsync(async s =>
        {
            var now = time.NowMs();
            if (await s.Sql("DELETE FROM settings WHERE key = @key").Param("key", key).ExecuteAsync(ct) == 0) return false;
            await ChangeFeed.RecordAsync(s, ChangeEntity.Setting, key, now, ct);
            return true;
        }, ct);

    public async Task<IReadOnlyList<Setting>> ListAsync(CancellationToken ct = default)
        => await scope.ReadAsync(s => s.Sql("SELECT key, value, value_enc, updated_at FROM settings ORDER BY key")
            .ListAsync(r => new Setting(r.String("key"), r.StringOrNull("value"), r.StringOrNull("value_enc") is not null, r.Time("updated_at")), ct), ct);

    private Task UpsertAsync(string key, string? value, string? sealedValue, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        return scope.WriteAsync(async s =>
        {
            var now = time.NowMs();
            // ON CONFLICT … DO UPDATE is spelled the same in SQLite (3.24+) and PostgreSQL.
            await s.Sql("""
                    INSERT INTO settings (key, value, value_enc, updated_at) VALUES (@key, @value, @enc, @now)
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value, value_enc = excluded.value_enc, updated_at = excluded.updated_at
                    """)
                .Param("key", key).Param("value", value).Param("enc", sealedValue).Param("now", now).ExecuteAsync(ct);
            await ChangeFeed.RecordAsync(s, ChangeEntity.Setting, key, now, ct);
            return 0;
        }, ct);
    }
}
