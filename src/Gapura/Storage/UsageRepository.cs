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
    private static readonly string[] RecordColumns =
    [
        "request_id", "at", "user_id", "key_id", "key_prefix", "client", "client_version", "user_agent", "session_id",
        "front_door", "requested_model", "model", "provider", "login", "upstream_model", "fallbacks", "stream", "task",
        "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "estimated",
        "credits", "cost_usd", "ttfb_ms", "duration_ms", "http_status", "status", "error_kind",
    ];

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
            var inserted = new List<UsageRecord>(records.Count);
            await using (var insert = new RowStatement(session, InsertSql(), RecordColumns.Length))
            {
                foreach (var r in records)
                {
                    insert.Set(
                        r.RequestId, r.At, r.UserId, r.KeyId, r.KeyPrefix, r.Client, r.ClientVersion, r.UserAgent, r.SessionId,
                        r.FrontDoor, r.RequestedModel, r.Model, r.Provider, r.Login, r.UpstreamModel, r.Fallbacks, r.Stream, r.Task,
                        r.InputTokens, r.OutputTokens, r.CacheReadTokens, r.CacheWriteTokens, r.ReasoningTokens, r.Estimated,
                        r.Credits, r.CostUsd, r.TimeToFirstByteMs, r.DurationMs, r.HttpStatus, r.Status, r.ErrorKind);
                    // 0 rows: the request id is already stored (a retried batch); it must not grow the rollups again.
                    if (await insert.ExecuteAsync(ct) == 1) inserted.Add(r);
                }
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

    private static string InsertSql() =>
        $"INSERT INTO usage_records ({string.Join(", ", RecordColumns)}) VALUES ({string.Join(", ", RecordColumns.Select((_, i) => $"@p{i}"))}) " +
        "ON CONFLICT (request_id) DO NOTHING";

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
                p.ParameterName = "p" + i.ToString(CultureInfo.InvariantCulture);
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
