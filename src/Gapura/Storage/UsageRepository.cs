using System.Globalization;
using Gapura.Ledger;

namespace Gapura.Storage;

/// <summary>
/// The usage ledger's tables: raw records (one per request, kept <c>Usage:RetentionDays</c>) and the hourly and
/// daily rollups that reports read, so a report over months never scans raw rows.
/// </summary>
internal interface IUsageRepository
{
    /// <summary>
    /// Writes a batch in one transaction: each record once (a record whose request id is already stored — a batch
    /// retried after its commit was lost — is skipped) and the rollups grown by exactly the records inserted.
    /// Returns how many were new.
    /// </summary>
    Task<int> AppendAsync(IReadOnlyList<UsageRecord> records, CancellationToken ct = default);

    /// <summary>Deletes up to <paramref name="limit"/> raw records older than <paramref name="before"/>; rollups stay.</summary>
    Task<int> DeleteRecordsBeforeAsync(DateTimeOffset before, int limit, CancellationToken ct = default);

    /// <summary>
    /// A canary's figures: the raw records of <paramref name="profile"/> at or after <paramref name="since"/> that were
    /// on a side of a canary, summed per variant (<c>baseline</c>, <c>candidate</c>), with each side's median time to first byte.
    /// </summary>
    Task<IReadOnlyList<VariantFigures>> VariantFiguresAsync(string profile, DateTimeOffset since, CancellationToken ct = default);
}

/// <summary>
/// One side of a canary as the ledger has it. <see cref="CostUsd"/> sums the priced requests only
/// (<see cref="UnpricedRequests"/> were left out); the TTFB figures cover the <see cref="TtfbCount"/> requests that sent a byte.
/// </summary>
internal sealed record VariantFigures(
    string Variant, long Requests, long Errors, long ClientClosed, long ToolErrorRequests, long ToolErrors,
    long InputTokens, long OutputTokens, double CostUsd, long UnpricedRequests, long TtfbCount, double? TtfbMeanMs, double? TtfbP50Ms)
{
    public static VariantFigures None(string variant) => new(variant, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, null, null);
}

internal sealed class UsageRepository(IDbScope scope) : IUsageRepository
{
    /// <summary>The raw table's columns and their PostgreSQL types, in the order each record is serialised.</summary>
    private static readonly (string Name, string PgType)[] RecordColumns =
    [
        ("request_id", "text"), ("at", "timestamptz"), ("user_id", "bigint"), ("key_id", "bigint"), ("key_prefix", "text"), ("client", "text"),
        ("client_version", "text"), ("user_agent", "text"), ("session_id", "text"), ("front_door", "text"), ("requested_model", "text"),
        ("model", "text"), ("provider", "text"), ("login", "text"), ("upstream_model", "text"), ("fallbacks", "integer"), ("stream", "boolean"),
        ("task", "text"), ("input_tokens", "integer"), ("output_tokens", "integer"), ("cache_read_tokens", "integer"),
        ("cache_write_tokens", "integer"), ("reasoning_tokens", "integer"), ("estimated", "boolean"), ("credits", "double precision"),
        ("cost_usd", "double precision"), ("ttfb_ms", "double precision"), ("duration_ms", "double precision"), ("http_status", "integer"),
        ("status", "text"), ("error_kind", "text"), ("profile", "text"), ("variant", "text"), ("tool_errors", "integer"),
    ];

    /// <summary>SQLite: one single-row statement, prepared once per batch and stepped per record (see <see cref="SqliteRows"/>).</summary>
    private static readonly string SqliteInsert =
        $"INSERT INTO usage_records ({string.Join(", ", RecordColumns.Select(c => c.Name))}) " +
        $"VALUES ({string.Join(", ", RecordColumns.Select((_, i) => $"?{i + 1}"))}) ON CONFLICT (request_id) DO NOTHING";

    /// <summary>
    /// PostgreSQL: the whole batch in one statement with one parameter — the records as a JSON array of arrays,
    /// unpacked by the server — so a batch is one round trip. <c>RETURNING</c> names the rows actually inserted.
    /// </summary>
    private static readonly string PostgresInsert =
        $"INSERT INTO usage_records ({string.Join(", ", RecordColumns.Select(c => c.Name))}) " +
        $"SELECT {string.Join(", ", RecordColumns.Select((c, i) => $"(r ->> {i})::{c.PgType}"))} FROM jsonb_array_elements(@batch::jsonb) AS r " +
        "ON CONFLICT (request_id) DO NOTHING RETURNING request_id";

    private static readonly string[] RollupSums =
    [
        "requests", "errors", "client_closed", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
        "reasoning_tokens", "estimated", "credits", "cost_usd", "unpriced", "duration_ms", "ttfb_ms", "ttfb_count",
    ];

    public Task<int> AppendAsync(IReadOnlyList<UsageRecord> records, CancellationToken ct = default)
    {
        if (records.Count == 0) return Task.FromResult(0);
        return scope.WriteAsync(async session =>
        {
            // Records whose request id was already stored (a batch retried after a lost commit) must not grow the rollups again.
            List<UsageRecord> inserted;
            if (session.Database.Backend == StorageBackend.Sqlite) inserted = SqliteRows.Run(session, SqliteInsert, records, BindRecord);
            else
            {
                var ids = await session.Sql(PostgresInsert).Param("batch", Serialize(records)).ListAsync(r => r.String("request_id"), ct);
                var fresh = ids.ToHashSet(StringComparer.Ordinal);
                inserted = records.Where(r => fresh.Contains(r.RequestId)).ToList();
            }
            if (inserted.Count > 0)
            {
                await UpsertRollupAsync(session, "usage_hourly", "hour", inserted, UsageBuckets.HourOf, ct);
                await UpsertRollupAsync(session, "usage_daily", "day", inserted, UsageBuckets.DayOf, ct);
            }
            return inserted.Count;
        }, ct);
    }

    public Task<int> DeleteRecordsBeforeAsync(DateTimeOffset before, int limit, CancellationToken ct = default)
        // Bounded batches: one huge DELETE would hold SQLite's write lock long enough to stall the ledger writer.
        => scope.WriteAsync(s => s.Sql("""
            DELETE FROM usage_records WHERE id IN (SELECT id FROM usage_records WHERE at < @before ORDER BY at LIMIT @limit)
            """).Param("before", before).Param("limit", limit).ExecuteAsync(ct), ct);

    public Task<IReadOnlyList<VariantFigures>> VariantFiguresAsync(string profile, DateTimeOffset since, CancellationToken ct = default)
        => scope.ReadAsync<IReadOnlyList<VariantFigures>>(async session =>
        {
            // "variant IS NOT NULL" is what the partial index usage_records_canary is defined on, so both back ends use it.
            var sums = await session.Sql("""
                SELECT variant,
                       CAST(COUNT(*) AS BIGINT) AS requests,
                       CAST(SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS BIGINT) AS errors,
                       CAST(SUM(CASE WHEN status = 'client_closed' THEN 1 ELSE 0 END) AS BIGINT) AS client_closed,
                       CAST(SUM(CASE WHEN tool_errors > 0 THEN 1 ELSE 0 END) AS BIGINT) AS tool_error_requests,
                       CAST(SUM(tool_errors) AS BIGINT) AS tool_errors,
                       CAST(SUM(input_tokens) AS BIGINT) AS input_tokens,
                       CAST(SUM(output_tokens) AS BIGINT) AS output_tokens,
                       CAST(SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS unpriced,
                       COALESCE(SUM(cost_usd), 0) AS cost_usd,
                       CAST(COUNT(ttfb_ms) AS BIGINT) AS ttfb_count,
                       COALESCE(SUM(ttfb_ms), 0) AS ttfb_ms
                FROM usage_records
                WHERE variant IS NOT NULL AND profile = @profile AND at >= @since
                GROUP BY variant
                ORDER BY variant
                """).Param("profile", profile).Param("since", since).ListAsync(r =>
                {
                    var ttfbCount = r.Long("ttfb_count");
                    return new VariantFigures(r.String("variant"), r.Long("requests"), r.Long("errors"), r.Long("client_closed"),
                        r.Long("tool_error_requests"), r.Long("tool_errors"), r.Long("input_tokens"), r.Long("output_tokens"),
                        ToDouble(r.Value("cost_usd")), r.Long("unpriced"), ttfbCount,
                        ttfbCount == 0 ? null : ToDouble(r.Value("ttfb_ms")) / ttfbCount, null);
                }, ct);
            var result = new List<VariantFigures>(sums.Count);
            foreach (var f in sums)
            {
                if (f.TtfbCount == 0) { result.Add(f); continue; }
                // The median as the lower middle value: ORDER BY + OFFSET reads the same on both back ends (PostgreSQL's
                // percentile_cont has no SQLite twin), over one canary's rows only.
                var p50 = await session.Sql("""
                    SELECT ttfb_ms FROM usage_records
                    WHERE variant = @variant AND profile = @profile AND at >= @since AND ttfb_ms IS NOT NULL
                    ORDER BY ttfb_ms LIMIT 1 OFFSET @offset
                    """).Param("variant", f.Variant).Param("profile", profile).Param("since", since).Param("offset", (f.TtfbCount - 1) / 2)
                    .ListAsync(r => ToDouble(r.Value("ttfb_ms")), ct);
                result.Add(f with { TtfbP50Ms = p50.Count > 0 ? p50[0] : null });
            }
            return result;
        }, ct);

    /// <summary>SQLite returns an integer for a sum of whole numbers even from a REAL column; both become a double.</summary>
    private static double ToDouble(object value) => Convert.ToDouble(value, CultureInfo.InvariantCulture);

    private static void BindRecord(ref SqliteBinder b, UsageRecord r)
    {
        b.Text(r.RequestId); b.Long(r.At.ToUnixTimeMilliseconds()); b.Long(r.UserId); b.Long(r.KeyId); b.Text(r.KeyPrefix); b.Text(r.Client);
        b.Text(r.ClientVersion); b.Text(r.UserAgent); b.Text(r.SessionId); b.Text(r.FrontDoor); b.Text(r.RequestedModel); b.Text(r.Model);
        b.Text(r.Provider); b.Text(r.Login); b.Text(r.UpstreamModel); b.Long(r.Fallbacks); b.Long(r.Stream ? 1 : 0); b.Text(r.Task);
        b.Long(r.InputTokens); b.Long(r.OutputTokens); b.Long(r.CacheReadTokens); b.Long(r.CacheWriteTokens); b.Long(r.ReasoningTokens);
        b.Long(r.Estimated ? 1 : 0); b.Double(r.Credits); b.Double(r.CostUsd); b.Double(r.TimeToFirstByteMs); b.Double(r.DurationMs);
        b.Long(r.HttpStatus); b.Text(r.Status); b.Text(r.ErrorKind); b.Text(r.Profile); b.Text(r.Variant); b.Long(r.ToolErrors);
    }

    /// <summary>The batch as <c>[[request_id, at, …], …]</c> in <see cref="RecordColumns"/> order, for PostgreSQL.</summary>
    private static string Serialize(IReadOnlyList<UsageRecord> records)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(records.Count * 400);
        using (var json = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var r in records)
            {
                json.WriteStartArray();
                json.WriteStringValue(r.RequestId);
                json.WriteStringValue(r.At.ToUniversalTime());
                Id(json, r.UserId); Id(json, r.KeyId); Text(json, r.KeyPrefix); Text(json, r.Client); Text(json, r.ClientVersion);
                Text(json, r.UserAgent); Text(json, r.SessionId); Text(json, r.FrontDoor); Text(json, r.RequestedModel); Text(json, r.Model);
                Text(json, r.Provider); Text(json, r.Login); Text(json, r.UpstreamModel); json.WriteNumberValue(r.Fallbacks);
                json.WriteBooleanValue(r.Stream); Text(json, r.Task); json.WriteNumberValue(r.InputTokens); json.WriteNumberValue(r.OutputTokens);
                json.WriteNumberValue(r.CacheReadTokens); json.WriteNumberValue(r.CacheWriteTokens); json.WriteNumberValue(r.ReasoningTokens);
                json.WriteBooleanValue(r.Estimated); Number(json, r.Credits); Number(json, r.CostUsd); Number(json, r.TimeToFirstByteMs);
                json.WriteNumberValue(r.DurationMs); json.WriteNumberValue(r.HttpStatus); Text(json, r.Status); Text(json, r.ErrorKind);
                Text(json, r.Profile); Text(json, r.Variant); json.WriteNumberValue(r.ToolErrors);
                json.WriteEndArray();
            }
            json.WriteEndArray();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);

        static void Text(System.Text.Json.Utf8JsonWriter json, string? value) => JsonText(json, value);

        static void Id(System.Text.Json.Utf8JsonWriter json, long? value)
        {
            if (value is { } v) json.WriteNumberValue(v);
            else json.WriteNullValue();
        }

        static void Number(System.Text.Json.Utf8JsonWriter json, double? value)
        {
            if (value is { } v && double.IsFinite(v)) json.WriteNumberValue(v);
            else json.WriteNullValue();
        }
    }

    private static void JsonText(System.Text.Json.Utf8JsonWriter json, string? value)
    {
        if (value is null) json.WriteNullValue();
        // A lone surrogate (a client's "\ud800" in a model name) cannot be written as JSON: replaced, as UTF-8 does, rather than failing the batch.
        else if (value.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF')) json.WriteStringValue(System.Text.Encoding.UTF8.GetBytes(value));
        else json.WriteStringValue(value);
    }

    /// <summary>Sums the records per rollup key in memory, then adds each sum to its row (created when new).</summary>
    private static async Task UpsertRollupAsync(DbSession session, string table, string timeColumn, List<UsageRecord> records,
        Func<DateTimeOffset, long> bucketOf, CancellationToken ct)
    {
        var sums = new Dictionary<RollupKey, RollupSum>();
        foreach (var r in records)
        {
            var key = new RollupKey(bucketOf(r.At), r.UserId ?? 0, r.KeyId ?? 0, r.Client, r.Model, r.Provider ?? "", r.Task);
            if (!sums.TryGetValue(key, out var sum)) sums[key] = sum = new RollupSum();
            sum.Add(r);
        }
        string[] keyColumns = [timeColumn, "user_id", "key_id", "client", "model", "provider", "task"];
        var update = $"ON CONFLICT ({string.Join(", ", keyColumns)}) DO UPDATE SET {string.Join(", ", RollupSums.Select(c => $"{c} = {table}.{c} + excluded.{c}"))}";
        var columns = string.Join(", ", keyColumns.Concat(RollupSums));
        if (session.Database.Backend == StorageBackend.Sqlite)
        {
            var sql = $"INSERT INTO {table} ({columns}) VALUES ({string.Join(", ", keyColumns.Concat(RollupSums).Select((_, i) => $"?{i + 1}"))}) {update}";
            SqliteRows.Run(session, sql, sums, static (ref SqliteBinder b, KeyValuePair<RollupKey, RollupSum> row) =>
            {
                var (k, s) = row;
                b.Long(k.Bucket); b.Long(k.UserId); b.Long(k.KeyId); b.Text(k.Client); b.Text(k.Model); b.Text(k.Provider); b.Text(k.Task);
                b.Long(s.Requests); b.Long(s.Errors); b.Long(s.ClientClosed); b.Long(s.Input); b.Long(s.Output); b.Long(s.CacheRead);
                b.Long(s.CacheWrite); b.Long(s.Reasoning); b.Long(s.Estimated); b.Double(s.Credits); b.Double(s.CostUsd); b.Long(s.Unpriced);
                b.Double(s.DurationMs); b.Double(s.TtfbMs); b.Long(s.TtfbCount);
            });
            return;
        }
        // PostgreSQL: every key of the batch in one statement (the keys are distinct, as ON CONFLICT DO UPDATE requires).
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(sums.Count * 200);
        using (var json = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var (k, s) in sums)
            {
                json.WriteStartArray();
                json.WriteNumberValue(k.Bucket); json.WriteNumberValue(k.UserId); json.WriteNumberValue(k.KeyId);
                JsonText(json, k.Client); JsonText(json, k.Model); JsonText(json, k.Provider); JsonText(json, k.Task);
                foreach (var n in (ReadOnlySpan<long>)[s.Requests, s.Errors, s.ClientClosed, s.Input, s.Output, s.CacheRead, s.CacheWrite, s.Reasoning, s.Estimated])
                    json.WriteNumberValue(n);
                json.WriteNumberValue(s.Credits); json.WriteNumberValue(s.CostUsd); json.WriteNumberValue(s.Unpriced);
                json.WriteNumberValue(s.DurationMs); json.WriteNumberValue(s.TtfbMs); json.WriteNumberValue(s.TtfbCount);
                json.WriteEndArray();
            }
            json.WriteEndArray();
        }
        var types = keyColumns.Select((_, i) => i < 3 ? "bigint" : "text")
            .Concat(RollupSums.Select(c => c is "credits" or "cost_usd" or "duration_ms" or "ttfb_ms" ? "double precision" : "bigint")).ToList();
        await session.Sql($"INSERT INTO {table} ({columns}) SELECT {string.Join(", ", types.Select((t, i) => $"(r ->> {i})::{t}"))} " +
                          $"FROM jsonb_array_elements(@rows::jsonb) AS r {update}")
            .Param("rows", System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan)).ExecuteAsync(ct);
    }

    private readonly record struct RollupKey(long Bucket, long UserId, long KeyId, string Client, string Model, string Provider, string Task);

    private sealed class RollupSum
    {
        public long Requests, Errors, ClientClosed, Input, Output, CacheRead, CacheWrite, Reasoning, Estimated, Unpriced, TtfbCount;
        public double Credits, CostUsd, DurationMs, TtfbMs;

        public void Add(UsageRecord r)
        {
            Requests++;
            if (r.Status == UsageStatus.Error) Errors++;
            if (r.Status == UsageStatus.ClientClosed) ClientClosed++;
            Input += r.InputTokens;
            Output += r.OutputTokens;
            CacheRead += r.CacheReadTokens;
            CacheWrite += r.CacheWriteTokens;
            Reasoning += r.ReasoningTokens;
            if (r.Estimated) Estimated++;
            Credits += r.Credits ?? 0;
            if (r.CostUsd is { } cost) CostUsd += cost;
            else Unpriced++;
            DurationMs += r.DurationMs;
            if (r.TimeToFirstByteMs is { } ttfb) { TtfbMs += ttfb; TtfbCount++; }
        }
    }
}

/// <summary>The rollups' time buckets: whole UTC hours and days since the Unix epoch.</summary>
internal static class UsageBuckets
{
    public static long HourOf(DateTimeOffset at) => Math.DivRem(at.ToUnixTimeMilliseconds(), 3_600_000L, out var r) - (r < 0 ? 1 : 0);

    public static long DayOf(DateTimeOffset at) => Math.DivRem(at.ToUnixTimeMilliseconds(), 86_400_000L, out var r) - (r < 0 ? 1 : 0);

    public static DateTimeOffset StartOfHour(long hour) => DateTimeOffset.FromUnixTimeMilliseconds(hour * 3_600_000L);

    public static DateTimeOffset StartOfDay(long day) => DateTimeOffset.FromUnixTimeMilliseconds(day * 86_400_000L);
}

/// <summary>
/// SQLite statements run through the SQLite API itself (SQLitePCLRaw, which Microsoft.Data.Sqlite is built on): prepared
/// once per batch, values bound by position, stepped and reset per row, inside the caller's open transaction. Measured
/// here, Microsoft.Data.Sqlite's own command spent ~15 µs a row resolving 31 named parameters, and a JSON-unpacking
/// statement ~20 µs; this costs what SQLite itself costs, a few µs — the ledger writer's CPU comes out of the same two
/// cores that serve requests.
/// </summary>
internal static class SqliteRows
{
    public delegate void Bind<T>(ref SqliteBinder binder, T row);

    /// <summary>Runs <paramref name="sql"/> once per row; returns the rows that changed the table (an ignored conflict does not).</summary>
    public static List<T> Run<T>(DbSession session, string sql, IEnumerable<T> rows, Bind<T> bind)
    {
        var db = ((Microsoft.Data.Sqlite.SqliteConnection)session.Connection).Handle!;
        var rc = SQLitePCL.raw.sqlite3_prepare_v2(db, sql, out var stmt);
        Microsoft.Data.Sqlite.SqliteException.ThrowExceptionForRC(rc, db);
        var changed = new List<T>();
        using (stmt)
        {
            foreach (var row in rows)
            {
                var binder = new SqliteBinder(stmt);
                bind(ref binder, row);
                rc = SQLitePCL.raw.sqlite3_step(stmt);
                if (rc != SQLitePCL.raw.SQLITE_DONE) Microsoft.Data.Sqlite.SqliteException.ThrowExceptionForRC(rc, db);
                if (SQLitePCL.raw.sqlite3_changes(db) == 1) changed.Add(row);
                SQLitePCL.raw.sqlite3_reset(stmt);
            }
        }
        return changed;
    }
}

/// <summary>Binds a row's values to <c>?1</c>, <c>?2</c>… in order.</summary>
internal ref struct SqliteBinder(SQLitePCL.sqlite3_stmt stmt)
{
    private int _index;

    public void Text(string? value)
    {
        _index++;
        if (value is null) SQLitePCL.raw.sqlite3_bind_null(stmt, _index);
        else SQLitePCL.raw.sqlite3_bind_text(stmt, _index, value);
    }

    public void Long(long? value)
    {
        _index++;
        if (value is { } v) SQLitePCL.raw.sqlite3_bind_int64(stmt, _index, v);
        else SQLitePCL.raw.sqlite3_bind_null(stmt, _index);
    }

    public void Double(double? value)
    {
        _index++;
        if (value is { } v) SQLitePCL.raw.sqlite3_bind_double(stmt, _index, v);
        else SQLitePCL.raw.sqlite3_bind_null(stmt, _index);
    }
}
