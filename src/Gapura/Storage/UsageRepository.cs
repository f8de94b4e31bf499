using System.Globalization;
using System.Text;
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
    /// <summary>Rows per INSERT statement: well under SQLite's 32,766 parameters at 31 columns.</summary>
    private const int RowsPerStatement = 500;

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
            for (var start = 0; start < records.Count; start += RowsPerStatement)
            {
                var chunk = records.Skip(start).Take(RowsPerStatement).ToList();
                var ids = (await InsertCommand(session, chunk).ListAsync(r => r.String("request_id"), ct)).ToHashSet(StringComparer.Ordinal);
                inserted.AddRange(chunk.Where(r => ids.Contains(r.RequestId)));
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

    private static SqlCommand InsertCommand(DbSession session, List<UsageRecord> chunk)
    {
        var sql = new StringBuilder("INSERT INTO usage_records (").AppendJoin(", ", RecordColumns).Append(") VALUES ");
        for (var i = 0; i < chunk.Count; i++)
        {
            sql.Append(i == 0 ? "(" : ", (");
            for (var c = 0; c < RecordColumns.Length; c++) sql.Append(c == 0 ? "" : ", ").Append(CultureInfo.InvariantCulture, $"@r{i}c{c}");
            sql.Append(')');
        }
        sql.Append(" ON CONFLICT (request_id) DO NOTHING RETURNING request_id");
        var command = session.Sql(sql.ToString());
        for (var i = 0; i < chunk.Count; i++)
        {
            var r = chunk[i];
            object?[] values =
            [
                r.RequestId, r.At, r.UserId, r.KeyId, r.KeyPrefix, r.Client, r.ClientVersion, r.UserAgent, r.SessionId,
                r.FrontDoor, r.RequestedModel, r.Model, r.Provider, r.Login, r.UpstreamModel, r.Fallbacks, r.Stream, r.Task,
                r.InputTokens, r.OutputTokens, r.CacheReadTokens, r.CacheWriteTokens, r.ReasoningTokens, r.Estimated,
                r.Credits, r.CostUsd, r.TimeToFirstByteMs, r.DurationMs, r.HttpStatus, r.Status, r.ErrorKind,
            ];
            for (var c = 0; c < values.Length; c++) command.Param($"r{i}c{c}", values[c]);
        }
        return command;
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
        var rows = sums.ToList();
        for (var start = 0; start < rows.Count; start += RowsPerStatement)
        {
            var chunk = rows.Skip(start).Take(RowsPerStatement).ToList();
            var sql = new StringBuilder("INSERT INTO ").Append(table).Append(" (").AppendJoin(", ", keyColumns).Append(", ")
                .AppendJoin(", ", RollupSums).Append(") VALUES ");
            var width = keyColumns.Length + RollupSums.Length;
            for (var i = 0; i < chunk.Count; i++)
            {
                sql.Append(i == 0 ? "(" : ", (");
                for (var c = 0; c < width; c++) sql.Append(c == 0 ? "" : ", ").Append(CultureInfo.InvariantCulture, $"@g{i}c{c}");
                sql.Append(')');
            }
            sql.Append(" ON CONFLICT (").AppendJoin(", ", keyColumns).Append(") DO UPDATE SET ")
                .AppendJoin(", ", RollupSums.Select(c => $"{c} = {table}.{c} + excluded.{c}"));
            var command = session.Sql(sql.ToString());
            for (var i = 0; i < chunk.Count; i++)
            {
                var (k, s) = chunk[i];
                object[] values =
                [
                    k.Bucket, k.UserId, k.KeyId, k.Client, k.Model, k.Provider, k.Task,
                    s.Requests, s.Errors, s.ClientClosed, s.Input, s.Output, s.CacheRead, s.CacheWrite, s.Reasoning, s.Estimated,
                    s.Credits, s.CostUsd, s.Unpriced, s.DurationMs, s.TtfbMs, s.TtfbCount,
                ];
                for (var c = 0; c < values.Length; c++) command.Param($"g{i}c{c}", values[c]);
            }
            await command.ExecuteAsync(ct);
        }
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
