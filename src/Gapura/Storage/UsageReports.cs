using System.Text;

namespace Gapura.Storage;

/// <summary>What a usage report may group by. Each maps to one fixed column expression, never to caller text.</summary>
internal enum UsageDimension
{
    Day,
    Hour,
    User,
    Key,
    Client,
    Model,
    Provider,
    Task,
}

/// <summary>
/// A report over the rollups: buckets whose start lies in [<see cref="From"/>, <see cref="To"/>), grouped by any
/// combination of <see cref="GroupBy"/> (none: one total row), optionally narrowed to one user, model or key.
/// </summary>
internal sealed record UsageQuery(DateTimeOffset From, DateTimeOffset To, IReadOnlyList<UsageDimension> GroupBy,
    long? UserId = null, string? Model = null, long? KeyId = null)
{
    /// <summary>
    /// The daily rollup answers when the window is whole UTC days and nothing asks for hours: about 24 times fewer
    /// rows to add up. Otherwise the hourly one, which every other window needs.
    /// </summary>
    public bool UsesDaily => !GroupBy.Contains(UsageDimension.Hour) && IsWholeDay(From) && IsWholeDay(To);

    private static bool IsWholeDay(DateTimeOffset t) => t.ToUnixTimeMilliseconds() % 86_400_000L == 0;
}

/// <summary>
/// One row of a report: the values of the grouped dimensions (null for those not grouped by) and the sums.
/// <see cref="CostUsd"/> is null when no request in the row had a price, so "free" and "unknown" stay apart;
/// otherwise it is the cost of the priced ones, with <see cref="UnpricedRequests"/> saying how many were left out.
/// </summary>
internal sealed record UsageReportRow
{
    public DateTimeOffset? Day { get; init; }
    public DateTimeOffset? Hour { get; init; }
    /// <summary>0 = no user (a request refused before it was authenticated).</summary>
    public long? UserId { get; init; }
    /// <summary>0 = no key (the configured bootstrap key, or none).</summary>
    public long? KeyId { get; init; }
    public string? Client { get; init; }
    public string? Model { get; init; }
    /// <summary>Empty when no provider was reached.</summary>
    public string? Provider { get; init; }
    public string? Task { get; init; }

    public long Requests { get; init; }
    public long Errors { get; init; }
    public long ClientClosed { get; init; }
    public long InputTokens { get; init; }
    public long OutputTokens { get; init; }
    public long CacheReadTokens { get; init; }
    public long CacheWriteTokens { get; init; }
    public long ReasoningTokens { get; init; }
    public double Credits { get; init; }
    public double? CostUsd { get; init; }
    public long UnpricedRequests { get; init; }
    public double? AvgDurationMs { get; init; }
    public double? AvgTtfbMs { get; init; }
    /// <summary>Requests that sent a first byte: the weight of <see cref="AvgTtfbMs"/>.</summary>
    public long TtfbCount { get; init; }

    /// <summary>The rows added up into one, without group values (averages weighted by their requests).</summary>
    public static UsageReportRow Total(IEnumerable<UsageReportRow> rows)
    {
        long requests = 0, errors = 0, closed = 0, input = 0, output = 0, cacheRead = 0, cacheWrite = 0, reasoning = 0, unpriced = 0, ttfbCount = 0;
        double credits = 0, cost = 0, duration = 0, ttfb = 0;
        var priced = false;
        foreach (var r in rows)
        {
            requests += r.Requests; errors += r.Errors; closed += r.ClientClosed; input += r.InputTokens; output += r.OutputTokens;
            cacheRead += r.CacheReadTokens; cacheWrite += r.CacheWriteTokens; reasoning += r.ReasoningTokens; unpriced += r.UnpricedRequests;
            credits += r.Credits;
            if (r.CostUsd is { } c) { cost += c; priced = true; }
            duration += (r.AvgDurationMs ?? 0) * r.Requests;
            ttfb += (r.AvgTtfbMs ?? 0) * r.TtfbCount;
            ttfbCount += r.TtfbCount;
        }
        return new UsageReportRow
        {
            Requests = requests, Errors = errors, ClientClosed = closed, InputTokens = input, OutputTokens = output,
            CacheReadTokens = cacheRead, CacheWriteTokens = cacheWrite, ReasoningTokens = reasoning, Credits = credits,
            CostUsd = priced ? cost : null, UnpricedRequests = unpriced,
            AvgDurationMs = requests == 0 ? null : duration / requests, AvgTtfbMs = ttfbCount == 0 ? null : ttfb / ttfbCount, TtfbCount = ttfbCount,
        };
    }
}

/// <summary>Reads the usage ledger for reports: the rollups for time windows, the raw rows for one client session.</summary>
internal interface IUsageReports
{
    Task<IReadOnlyList<UsageReportRow>> QueryAsync(UsageQuery query, CancellationToken ct = default);

    /// <summary>
    /// One client session of one user, per model, from the raw records (indexed by session id): sessions are short
    /// and not in the rollups. Empty when the records were deleted by retention or never existed.
    /// </summary>
    Task<IReadOnlyList<UsageReportRow>> SessionAsync(long userId, string sessionId, CancellationToken ct = default);
}

internal sealed class UsageReports(IDbScope scope) : IUsageReports
{
    private static readonly string[] Sums =
    [
        "requests", "errors", "client_closed", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
        "reasoning_tokens", "unpriced", "ttfb_count",
    ];

    public Task<IReadOnlyList<UsageReportRow>> QueryAsync(UsageQuery query, CancellationToken ct = default)
    {
        if (query.From > query.To) throw new ArgumentException("The report window ends before it starts.", nameof(query));
        var daily = query.UsesDaily;
        var (table, time) = daily ? ("usage_daily", "day") : ("usage_hourly", "hour");
        // Buckets whose start lies in the window: the first whole bucket at or after From, up to the first at or after To.
        var (lo, hi) = daily
            ? (CeilDiv(query.From.ToUnixTimeMilliseconds(), 86_400_000L), CeilDiv(query.To.ToUnixTimeMilliseconds(), 86_400_000L))
            : (CeilDiv(query.From.ToUnixTimeMilliseconds(), 3_600_000L), CeilDiv(query.To.ToUnixTimeMilliseconds(), 3_600_000L));

        // Only whitelisted expressions reach the SQL text; every value is a parameter. Distinct, in a fixed order,
        // so the same grouping asked two ways is the same statement.
        var groups = query.GroupBy.Distinct().Order().Select(d => (Dimension: d, Expression: d switch
        {
            UsageDimension.Day => daily ? "day" : "hour / 24",
            UsageDimension.Hour => "hour",
            UsageDimension.User => "user_id",
            UsageDimension.Key => "key_id",
            UsageDimension.Client => "client",
            UsageDimension.Model => "model",
            UsageDimension.Provider => "provider",
            UsageDimension.Task => "task",
            _ => throw new ArgumentOutOfRangeException(nameof(query), d, "Unknown usage dimension."),
        }, Alias: "g_" + d.ToString().ToLowerInvariant())).ToList();

        var sql = new StringBuilder("SELECT ");
        foreach (var g in groups) sql.Append(g.Expression).Append(" AS ").Append(g.Alias).Append(", ");
        // CAST: PostgreSQL's SUM of bigint is numeric; both read back as a 64-bit integer this way.
        foreach (var s in Sums) sql.Append("CAST(COALESCE(SUM(").Append(s).Append("), 0) AS BIGINT) AS ").Append(s).Append(", ");
        sql.Append("COALESCE(SUM(credits), 0) AS credits, COALESCE(SUM(cost_usd), 0) AS cost_usd, ")
            .Append("COALESCE(SUM(duration_ms), 0) AS duration_ms, COALESCE(SUM(ttfb_ms), 0) AS ttfb_ms")
            .Append(" FROM ").Append(table).Append(" WHERE ").Append(time).Append(" >= @lo AND ").Append(time).Append(" < @hi");
        if (query.UserId is not null) sql.Append(" AND user_id = @user");
        if (query.KeyId is not null) sql.Append(" AND key_id = @key");
        if (query.Model is not null) sql.Append(" AND model = @model");
        if (groups.Count > 0)
        {
            var list = string.Join(", ", groups.Select(g => g.Expression));
            sql.Append(" GROUP BY ").Append(list).Append(" ORDER BY ").Append(list);
        }

        return scope.ReadAsync<IReadOnlyList<UsageReportRow>>(async session =>
        {
            var command = session.Sql(sql.ToString()).Param("lo", lo).Param("hi", hi);
            if (query.UserId is { } user) command.Param("user", user);
            if (query.KeyId is { } key) command.Param("key", key);
            if (query.Model is { } model) command.Param("model", model);
            var rows = await command.ListAsync(r =>
            {
                var row = Totals(r);
                foreach (var g in groups)
                {
                    row = g.Dimension switch
                    {
                        UsageDimension.Day => row with { Day = UsageBuckets.StartOfDay(Convert.ToInt64(r.Value(g.Alias), System.Globalization.CultureInfo.InvariantCulture)) },
                        UsageDimension.Hour => row with { Hour = UsageBuckets.StartOfHour(r.Long(g.Alias)) },
                        UsageDimension.User => row with { UserId = r.Long(g.Alias) },
                        UsageDimension.Key => row with { KeyId = r.Long(g.Alias) },
                        UsageDimension.Client => row with { Client = r.String(g.Alias) },
                        UsageDimension.Model => row with { Model = r.String(g.Alias) },
                        UsageDimension.Provider => row with { Provider = r.String(g.Alias) },
                        _ => row with { Task = r.String(g.Alias) },
                    };
                }
                return row;
            }, ct);
            // Without grouping an empty window still yields one all-zero row; a report of nothing has no rows.
            return rows.Where(r => r.Requests > 0).ToList();
        }, ct);
    }

    public Task<IReadOnlyList<UsageReportRow>> SessionAsync(long userId, string sessionId, CancellationToken ct = default)
        => scope.ReadAsync<IReadOnlyList<UsageReportRow>>(async session => await session.Sql("""
            SELECT model,
                   CAST(COUNT(*) AS BIGINT) AS requests,
                   CAST(SUM(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS BIGINT) AS errors,
                   CAST(SUM(CASE WHEN status = 'client_closed' THEN 1 ELSE 0 END) AS BIGINT) AS client_closed,
                   CAST(SUM(input_tokens) AS BIGINT) AS input_tokens,
                   CAST(SUM(output_tokens) AS BIGINT) AS output_tokens,
                   CAST(SUM(cache_read_tokens) AS BIGINT) AS cache_read_tokens,
                   CAST(SUM(cache_write_tokens) AS BIGINT) AS cache_write_tokens,
                   CAST(SUM(reasoning_tokens) AS BIGINT) AS reasoning_tokens,
                   CAST(SUM(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS unpriced,
                   CAST(COUNT(ttfb_ms) AS BIGINT) AS ttfb_count,
                   COALESCE(SUM(credits), 0) AS credits,
                   COALESCE(SUM(cost_usd), 0) AS cost_usd,
                   COALESCE(SUM(duration_ms), 0) AS duration_ms,
                   COALESCE(SUM(ttfb_ms), 0) AS ttfb_ms
            FROM usage_records
            WHERE session_id = @session AND user_id = @user
            GROUP BY model
            ORDER BY model
            """).Param("session", sessionId).Param("user", userId)
            .ListAsync(r => Totals(r) with { Model = r.String("model") }, ct), ct);

    private static UsageReportRow Totals(Row r)
    {
        var requests = r.Long("requests");
        var unpriced = r.Long("unpriced");
        var ttfbCount = r.Long("ttfb_count");
        return new UsageReportRow
        {
            Requests = requests,
            Errors = r.Long("errors"),
            ClientClosed = r.Long("client_closed"),
            InputTokens = r.Long("input_tokens"),
            OutputTokens = r.Long("output_tokens"),
            CacheReadTokens = r.Long("cache_read_tokens"),
            CacheWriteTokens = r.Long("cache_write_tokens"),
            ReasoningTokens = r.Long("reasoning_tokens"),
            Credits = Double(r, "credits"),
            CostUsd = requests > 0 && unpriced == requests ? null : Double(r, "cost_usd"),
            UnpricedRequests = unpriced,
            AvgDurationMs = requests == 0 ? null : Double(r, "duration_ms") / requests,
            AvgTtfbMs = ttfbCount == 0 ? null : Double(r, "ttfb_ms") / ttfbCount,
            TtfbCount = ttfbCount,
        };
    }

    /// <summary>SQLite returns an integer for a sum of whole numbers even from a REAL column; both become a double.</summary>
    private static double Double(Row r, string column) => Convert.ToDouble(r.Value(column), System.Globalization.CultureInfo.InvariantCulture);

    private static long CeilDiv(long value, long by) => Math.DivRem(value, by, out var rest) + (rest > 0 ? 1 : 0);
}
