using Gapura.Secrets;

namespace Gapura.Storage;

/// <summary>
/// A column holding <see cref="SecretBox"/> values. The purpose, with the row's id, is the ciphertext's
/// associated data: a value copied to another row or column no longer opens.
/// </summary>
internal sealed record SecretColumn(string Table, string IdColumn, string Column, string Purpose)
{
    public string PurposeFor(object id) => Purpose + ":" + Convert.ToString(id, System.Globalization.CultureInfo.InvariantCulture);
}

internal static class SecretColumns
{
    public static readonly SecretColumn UserTotp = new("users", "id", "totp_secret_enc", "user.totp");
    public static readonly SecretColumn UpstreamLogin = new("upstream_logins", "id", "secret_enc", "upstream_login");
    public static readonly SecretColumn Setting = new("settings", "key", "value_enc", "setting");
    public static readonly SecretColumn SignInFlow = new("sign_in_flows", "id", "state_enc", "sign_in_flow");
    public static readonly SecretColumn StoredResponse = new("stored_responses", "id", "payload_enc", "stored_response");

    /// <summary>Every encrypted column. A new one must be listed here, or rotation and the start-up check miss it.</summary>
    public static IReadOnlyList<SecretColumn> All { get; } = [UserTotp, UpstreamLogin, Setting, SignInFlow, StoredResponse];
}

internal sealed record StoredSecret(SecretColumn Column, object RowId, string Value)
{
    public string Purpose => Column.PurposeFor(RowId);
}

/// <summary>Raw access to every encrypted value, for key rotation and the start-up key check.</summary>
internal interface IStoredSecrets
{
    /// <summary>How many stored values each key id sealed.</summary>
    Task<IReadOnlyDictionary<string, long>> CountByKeyIdAsync(CancellationToken ct = default);

    /// <summary>Values of one column not sealed under <paramref name="keyId"/>, in id order after <paramref name="afterId"/>.</summary>
    Task<IReadOnlyList<StoredSecret>> ListNotUnderKeyAsync(SecretColumn column, string keyId, object? afterId, int limit, CancellationToken ct = default);

    /// <summary>Swaps a value, unless someone changed it meanwhile (then false: their newer value stands).</summary>
    Task<bool> ReplaceAsync(StoredSecret secret, string replacement, CancellationToken ct = default);
}

internal sealed class StoredSecrets(IDbScope scope) : IStoredSecrets
{
    // substr is 1-based and means the same in SQLite and PostgreSQL.
    private static readonly string KeyIdExpression = $"substr({{0}}, {SecretBox.KeyIdOffset + 1}, {SecretBox.KeyIdLength})";

    public Task<IReadOnlyDictionary<string, long>> CountByKeyIdAsync(CancellationToken ct = default)
        => scope.ReadAsync<IReadOnlyDictionary<string, long>>(async s =>
        {
            var counts = new Dictionary<string, long>(StringComparer.Ordinal);
            foreach (var c in SecretColumns.All)
            {
                var kid = string.Format(System.Globalization.CultureInfo.InvariantCulture, KeyIdExpression, c.Column);
                // Empty values are the in-transaction placeholder of a row being created; they never commit.
                var rows = await s.Sql($"SELECT {kid} AS kid, count(*) AS n FROM {c.Table} WHERE {c.Column} IS NOT NULL AND {c.Column} <> '' GROUP BY {kid}")
                    .ListAsync(r => (Kid: r.String("kid"), N: r.Long("n")), ct);
                foreach (var (k, n) in rows) counts[k] = counts.GetValueOrDefault(k) + n;
            }
            return counts;
        }, ct);

    public async Task<IReadOnlyList<StoredSecret>> ListNotUnderKeyAsync(SecretColumn column, string keyId, object? afterId, int limit, CancellationToken ct = default)
        => await scope.ReadAsync(s =>
        {
            var kid = string.Format(System.Globalization.CultureInfo.InvariantCulture, KeyIdExpression, column.Column);
            var sql = s.Sql($"""
                    SELECT {column.IdColumn} AS row_id, {column.Column} AS value FROM {column.Table}
                    WHERE {column.Column} IS NOT NULL AND {column.Column} <> '' AND {kid} <> @kid
                    {(afterId is null ? "" : $"AND {column.IdColumn} > @after")}
                    ORDER BY {column.IdColumn} LIMIT @limit
                    """)
                .Param("kid", keyId).Param("limit", limit);
            if (afterId is not null) sql.Param("after", afterId);
            return sql.ListAsync(r => new StoredSecret(column, r.Value("row_id"), r.String("value")), ct);
        }, ct);

    public Task<bool> ReplaceAsync(StoredSecret secret, string replacement, CancellationToken ct = default)
        => scope.WriteAsync(async s => await s.Sql(
                $"UPDATE {secret.Column.Table} SET {secret.Column.Column} = @new WHERE {secret.Column.IdColumn} = @id AND {secret.Column.Column} = @old")
            .Param("new", replacement).Param("id", secret.RowId).Param("old", secret.Value).ExecuteAsync(ct) == 1, ct);
}
