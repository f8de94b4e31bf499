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
        ("status", "text"), ("error_kind", "text"),
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
            if (session.Database.Backend == StorageBackend.Sqlite) inserted = SqliteRows.Insert(session, SqliteInsert, records);
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
                json.WriteEndArray();
            }
            json.WriteEndArray();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);

        static void Text(System.Text.Json.Utf8JsonWriter json, string? value)
        {
            if (value is null) json.WriteNullValue();
            // A lone surrogate (a client's "\ud800" in a model name) cannot be written as JSON: replaced, as UTF-8 does, rather than failing the batch.
            else if (value.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF')) json.WriteStringValue(System.Text.Encoding.UTF8.GetBytes(value));
            else json.WriteStringValue(value);
        }

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
        var sql = $"INSERT INTO {table} ({string.Join(", ", keyColumns.Concat(RollupSums))}) " +
                  $"VALUES ({string.Join(", ", keyColumns.Concat(RollupSums).Select((_, i) => $"@p{i}"))}) " +
                  $"ON CONFLICT ({string.Join(", ", keyColumns)}) DO UPDATE SET {string.Join(", ", RollupSums.Select(c => $"{c} = {table}.{c} + excluded.{c}"))}";
        await using var upsert = new RowStatement(session, sql, keyColumns.Length + RollupSums.Length);
        foreach (var (k, s) in sums)
        {
            upsert.Set(k.Bucket, k.UserId, k.KeyId, k.Client, k.Model, k.Provider, k.Task,
                s.Requests, s.Errors, s.ClientClosed, s.Input, s.Output, s.CacheRead, s.CacheWrite, s.Reasoning, s.Estimated,
                s.Credits, s.CostUsd, s.Unpriced, s.DurationMs, s.TtfbMs, s.TtfbCount);
            await upsert.ExecuteAsync(ct);
        }
    }

    /// <summary>
    /// One single-row statement executed once per row with new values, inside the batch's transaction: both back ends
    /// reuse the parsed statement, and it avoids multi-row statements with thousands of named parameters, whose
    /// binding costs grow with the square of their number on SQLite.
    /// </summary>
    private sealed class RowStatement : IAsyncDisposable
    {
        private readonly DbSession _session;
        private readonly System.Data.Common.DbCommand _command;

        public RowStatement(DbSession session, string sql, int parameters)
        {
            _session = session;
            _command = session.Connection.CreateCommand();
            _command.Transaction = session.Transaction;
            _command.CommandText = sql;
            for (var i = 0; i < parameters; i++)
            {
                var p = _command.CreateParameter();
                p.ParameterName = "@p" + i.ToString(CultureInfo.InvariantCulture); // with its prefix: Microsoft.Data.Sqlite otherwise tries @, $ and : in turn
                _command.Parameters.Add(p);
            }
        }

        public void Set(params object?[] values)
        {
            for (var i = 0; i < values.Length; i++)
                _command.Parameters[i].Value = values[i] switch
                {
                    null => DBNull.Value,
                    DateTimeOffset t => _session.Database.ToDb(t),
                    var v => v,
                };
        }

        public Task<int> ExecuteAsync(CancellationToken ct) => _command.ExecuteNonQueryAsync(ct);

        public ValueTask DisposeAsync() => _command.DisposeAsync();
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
/// SQLite's raw-record insert through the SQLite API itself (SQLitePCLRaw, which Microsoft.Data.Sqlite is built on):
/// a statement prepared once per batch, values bound by position, stepped and reset per record. Measured here,
/// Microsoft.Data.Sqlite's own command spends ~15 µs a row resolving 31 named parameters and a JSON-unpacking
/// statement ~20 µs; this costs what SQLite itself costs, a few µs — the writer's CPU is the request path's budget.
/// </summary>
internal static class SqliteRows
{
    public static List<UsageRecord> Insert(DbSession session, string sql, IReadOnlyList<UsageRecord> records)
    {
        var db = ((Microsoft.Data.Sqlite.SqliteConnection)session.Connection).Handle!;
        var rc = SQLitePCL.raw.sqlite3_prepare_v2(db, sql, out var stmt);
        Microsoft.Data.Sqlite.SqliteException.ThrowExceptionForRC(rc, db);
        var inserted = new List<UsageRecord>(records.Count);
        using (stmt)
        {
            foreach (var r in records)
            {
                var i = 0;
                Text(r.RequestId); Long(r.At.ToUnixTimeMilliseconds()); Long(r.UserId); Long(r.KeyId); Text(r.KeyPrefix); Text(r.Client);
                Text(r.ClientVersion); Text(r.UserAgent); Text(r.SessionId); Text(r.FrontDoor); Text(r.RequestedModel); Text(r.Model);
                Text(r.Provider); Text(r.Login); Text(r.UpstreamModel); Long(r.Fallbacks); Long(r.Stream ? 1 : 0); Text(r.Task);
                Long(r.InputTokens); Long(r.OutputTokens); Long(r.CacheReadTokens); Long(r.CacheWriteTokens); Long(r.ReasoningTokens);
                Long(r.Estimated ? 1 : 0); Double(r.Credits); Double(r.CostUsd); Double(r.TimeToFirstByteMs); Double(r.DurationMs);
                Long(r.HttpStatus); Text(r.Status); Text(r.ErrorKind);

                rc = SQLitePCL.raw.sqlite3_step(stmt);
                if (rc != SQLitePCL.raw.SQLITE_DONE) Microsoft.Data.Sqlite.SqliteException.ThrowExceptionForRC(rc, db);
                // 0 changes: the request id was already stored (ON CONFLICT DO NOTHING).
                if (SQLitePCL.raw.sqlite3_changes(db) == 1) inserted.Add(r);
                SQLitePCL.raw.sqlite3_reset(stmt);

                void Text(string? value)
                {
                    i++;
                    if (value is null) SQLitePCL.raw.sqlite3_bind_null(stmt, i);
                    else SQLitePCL.raw.sqlite3_bind_text(stmt, i, value);
                }

                void Long(long? value)
                {
                    i++;
                    if (value is { } v) SQLitePCL.raw.sqlite3_bind_int64(stmt, i, v);
                    else SQLitePCL.raw.sqlite3_bind_null(stmt, i);
                }

                void Double(double? value)
                {
                    i++;
                    if (value is { } v) SQLitePCL.raw.sqlite3_bind_double(stmt, i, v);
                    else SQLitePCL.raw.sqlite3_bind_null(stmt, i);
                }
            }
        }
        return inserted;
    }
}
