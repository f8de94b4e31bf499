using Gapura.Ledger;
using Gapura.Storage;
using Gapura.Tests.Storage;

namespace Gapura.Tests.Ledger;

/// <summary>
/// The report queries over the rollups, on both back ends: every grouping checked against the same sums worked
/// out in memory from the records written, the daily and hourly rollups agreeing, filters, windows and costs.
/// </summary>
public abstract class UsageReportsTests : StoreTestBase
{
    private static readonly DateTimeOffset Day0 = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);
    private static int s_ids;

    internal static UsageRecord Record(DateTimeOffset at, long? user, string model, int input, int output, double? cost,
        string client = "claude-code", string? provider = "kiro", long? key = null, string status = UsageStatus.Ok, double? ttfb = 100,
        double duration = 1000, int cacheRead = 0, int cacheWrite = 0, string? session = null, string task = "unknown") => new()
    {
        RequestId = $"req-{Interlocked.Increment(ref s_ids)}",
        At = at,
        UserId = user,
        KeyId = key,
        Client = client,
        SessionId = session,
        FrontDoor = "openai-chat",
        RequestedModel = model,
        UpstreamModel = model,
        Provider = provider,
        Task = task,
        InputTokens = input,
        OutputTokens = output,
        CacheReadTokens = cacheRead,
        CacheWriteTokens = cacheWrite,
        ReasoningTokens = output / 4,
        Credits = provider == "kiro" ? 0.5 : null,
        CostUsd = cost,
        TimeToFirstByteMs = ttfb,
        DurationMs = duration,
        HttpStatus = status == UsageStatus.Error ? 502 : 200,
        Status = status,
    };

    /// <summary>Three days, three users (one none), two keys, three models (one unpriced), two clients and providers, every status.</summary>
    private static List<UsageRecord> Mixed()
    {
        var records = new List<UsageRecord>();
        var random = new Random(42);
        string[] models = ["claude-sonnet-4.5", "gpt-5", "local-llama"];
        string[] clients = ["claude-code", "codex-cli"];
        string?[] providers = ["kiro", "openai", null];
        string[] statuses = [UsageStatus.Ok, UsageStatus.Ok, UsageStatus.Ok, UsageStatus.Error, UsageStatus.ClientClosed];
        for (var i = 0; i < 400; i++)
        {
            var model = models[random.Next(models.Length)];
            var user = random.Next(3) switch { 0 => (long?)null, var u => u };
            records.Add(Record(
                Day0.AddMinutes(random.Next(3 * 24 * 60)).AddMilliseconds(random.Next(60_000)), user, model,
                random.Next(1, 5000), random.Next(0, 2000), model == "local-llama" ? null : Math.Round(random.NextDouble(), 4),
                client: clients[random.Next(2)], provider: providers[random.Next(3)], key: user is null ? null : random.Next(2) == 0 ? null : 10 + user,
                status: statuses[random.Next(statuses.Length)], ttfb: random.Next(4) == 0 ? null : random.Next(50, 500), duration: random.Next(100, 9000),
                cacheRead: random.Next(0, 300), cacheWrite: random.Next(0, 100), task: random.Next(2) == 0 ? "unknown" : "chat"));
        }
        return records;
    }

    public static TheoryData<string> Groupings => new()
    {
        "", "day", "hour", "user", "key", "client", "model", "provider", "task", "day,model", "model,day", "user,model", "day,hour",
        "client,provider,task", "day,user,key,client,model,provider,task", "hour,user,key,client,model,provider,task",
    };

    [Theory]
    [MemberData(nameof(Groupings))]
    public async Task Every_grouping_adds_up_to_the_records_written(string groupBy)
    {
        var records = Mixed();
        Assert.Equal(records.Count, await Store.Usage.AppendAsync(records));
        var dimensions = UsageReportParameters.ParseGroupBy([groupBy], "groupBy");

        foreach (var (from, to) in new[] { (Day0, Day0.AddDays(3)), (Day0.AddHours(5).AddMinutes(30), Day0.AddDays(2).AddHours(7)), (Day0.AddDays(1), Day0.AddDays(2)) })
        {
            var query = new UsageQuery(from, to, dimensions);
            var actual = await Store.UsageReports.QueryAsync(query);
            var expected = Expected(records, query);
            Assert.Equal(expected.Count, actual.Count);
            for (var i = 0; i < expected.Count; i++) AssertSameRow(expected[i], actual[i]);
        }
    }

    [Fact]
    public async Task The_daily_and_the_hourly_rollups_give_the_same_totals()
    {
        var records = Mixed();
        await Store.Usage.AppendAsync(records);
        var daily = new UsageQuery(Day0, Day0.AddDays(3), [UsageDimension.Day, UsageDimension.Model]);
        var hourly = daily with { GroupBy = [UsageDimension.Day, UsageDimension.Hour, UsageDimension.Model] };
        Assert.True(daily.UsesDaily);
        Assert.False(hourly.UsesDaily);
        // The same window, a millisecond short of whole days, must also read hours.
        Assert.False((daily with { To = Day0.AddDays(3).AddMilliseconds(-1) }).UsesDaily);

        var fromDaily = await Store.UsageReports.QueryAsync(daily);
        var fromHourly = (await Store.UsageReports.QueryAsync(hourly))
            .GroupBy(r => (r.Day, r.Model))
            .Select(g => UsageReportRow.Total(g) with { Day = g.Key.Day, Model = g.Key.Model })
            .OrderBy(r => r.Day).ThenBy(r => r.Model, StringComparer.Ordinal)
            .ToList();

        Assert.Equal(9, fromDaily.Count);
        Assert.Equal(fromDaily.Count, fromHourly.Count);
        for (var i = 0; i < fromDaily.Count; i++) AssertSameRow(fromDaily[i], fromHourly[i]);
        Assert.Equal(records.Count, fromDaily.Sum(r => r.Requests));
    }

    [Fact]
    public async Task Filters_narrow_to_one_user_model_or_key()
    {
        var records = Mixed();
        await Store.Usage.AppendAsync(records);
        var window = new UsageQuery(Day0, Day0.AddDays(3), [UsageDimension.Model]);

        var byUser = await Store.UsageReports.QueryAsync(window with { UserId = 2 });
        Assert.Equal(records.Count(r => r.UserId == 2), byUser.Sum(r => r.Requests));
        Assert.Equal(records.Where(r => r.UserId == 2).Sum(r => (long)r.InputTokens), byUser.Sum(r => r.InputTokens));

        var byModel = Assert.Single(await Store.UsageReports.QueryAsync(window with { Model = "gpt-5" }));
        Assert.Equal("gpt-5", byModel.Model);
        Assert.Equal(records.Count(r => r.Model == "gpt-5"), byModel.Requests);

        var byKey = await Store.UsageReports.QueryAsync(window with { KeyId = 11, GroupBy = [UsageDimension.User] });
        Assert.Equal(1L, Assert.Single(byKey).UserId);
        Assert.Equal(records.Count(r => r.KeyId == 11), byKey[0].Requests);

        // No user (a refused request) is user 0, and no key (the bootstrap key) is key 0.
        var none = await Store.UsageReports.QueryAsync(window with { GroupBy = [UsageDimension.User, UsageDimension.Key] });
        Assert.Contains(none, r => r.UserId == 0 && r.KeyId == 0 && r.Requests == records.Count(x => x.UserId is null));

        Assert.Empty(await Store.UsageReports.QueryAsync(window with { UserId = 999 }));
        Assert.Empty(await Store.UsageReports.QueryAsync(window with { Model = "no-such-model" }));
    }

    [Fact]
    public async Task Cost_is_null_when_nothing_in_the_row_had_a_price_and_the_priced_sum_otherwise()
    {
        await Store.Usage.AppendAsync(
        [
            Record(Day0.AddHours(1), 1, "priced", 1000, 100, 0.25),
            Record(Day0.AddHours(2), 1, "priced", 1000, 100, 0.5),
            Record(Day0.AddHours(1), 1, "unpriced", 1000, 100, null),
            Record(Day0.AddHours(2), 1, "unpriced", 1000, 100, null),
            Record(Day0.AddHours(3), 1, "free", 1000, 100, 0),
        ]);
        var rows = await Store.UsageReports.QueryAsync(new UsageQuery(Day0, Day0.AddDays(1), [UsageDimension.Model]));

        var priced = rows.Single(r => r.Model == "priced");
        Assert.Equal(0.75, priced.CostUsd!.Value, 9);
        Assert.Equal(0, priced.UnpricedRequests);
        var unpriced = rows.Single(r => r.Model == "unpriced");
        Assert.Null(unpriced.CostUsd);
        Assert.Equal(2, unpriced.UnpricedRequests);
        Assert.Equal(0d, rows.Single(r => r.Model == "free").CostUsd); // a price of 0 is 0, not unknown

        var total = Assert.Single(await Store.UsageReports.QueryAsync(new UsageQuery(Day0, Day0.AddDays(1), [])));
        Assert.Equal(0.75, total.CostUsd!.Value, 9);
        Assert.Equal(2, total.UnpricedRequests);
        Assert.Equal(5, total.Requests);
        Assert.Equal(0.75, UsageReportRow.Total(rows).CostUsd!.Value, 9);
    }

    [Fact]
    public async Task Averages_weigh_by_requests_and_time_to_first_byte_only_counts_requests_that_sent_one()
    {
        await Store.Usage.AppendAsync(
        [
            Record(Day0.AddHours(1), 1, "m", 1, 1, 0.1, duration: 1000, ttfb: 100),
            Record(Day0.AddHours(1), 1, "m", 1, 1, 0.1, duration: 3000, ttfb: 300),
            Record(Day0.AddHours(1), 1, "m", 1, 1, 0.1, duration: 500, ttfb: null, status: UsageStatus.Error),
        ]);
        var row = Assert.Single(await Store.UsageReports.QueryAsync(new UsageQuery(Day0, Day0.AddDays(1), [UsageDimension.Model])));
        Assert.Equal(1500, row.AvgDurationMs!.Value, 6);
        Assert.Equal(200, row.AvgTtfbMs!.Value, 6);
        Assert.Equal(1, row.Errors);
    }

    [Fact]
    public async Task A_window_counts_the_buckets_that_start_inside_it()
    {
        await Store.Usage.AppendAsync(
        [
            Record(Day0.AddHours(-1), 1, "m", 1, 0, null),              // the hour before the window
            Record(Day0.AddMinutes(59), 1, "m", 10, 0, null),           // hour 0
            Record(Day0.AddHours(5).AddMinutes(10), 1, "m", 100, 0, null),  // hour 5
            Record(Day0.AddHours(6), 1, "m", 1000, 0, null),            // hour 6: starts at the window's end
        ]);
        var rows = await Store.UsageReports.QueryAsync(new UsageQuery(Day0, Day0.AddHours(6), [UsageDimension.Hour]));
        Assert.Equal([Day0, Day0.AddHours(5)], rows.Select(r => r.Hour!.Value));
        Assert.Equal(110, rows.Sum(r => r.InputTokens));

        // A window starting mid-hour begins with the next whole hour; one ending mid-hour includes the hour it ends in.
        var shifted = await Store.UsageReports.QueryAsync(new UsageQuery(Day0.AddMinutes(30), Day0.AddHours(5).AddMinutes(1), []));
        Assert.Equal(100, Assert.Single(shifted).InputTokens);
        Assert.Empty(await Store.UsageReports.QueryAsync(new UsageQuery(Day0.AddDays(10), Day0.AddDays(11), [UsageDimension.Model])));
    }

    [Fact]
    public async Task A_session_is_read_from_the_raw_records_of_that_user_only()
    {
        await Store.Usage.AppendAsync(
        [
            Record(Day0.AddHours(1), 1, "claude-sonnet-4.5", 100, 10, 0.01, session: "s-1", cacheRead: 5, cacheWrite: 7),
            Record(Day0.AddHours(2), 1, "claude-sonnet-4.5", 200, 20, 0.02, session: "s-1"),
            Record(Day0.AddHours(2), 1, "local-llama", 300, 30, null, session: "s-1"),
            Record(Day0.AddHours(2), 1, "claude-sonnet-4.5", 5000, 500, 1, session: "s-2"),
            Record(Day0.AddHours(2), 2, "claude-sonnet-4.5", 7000, 700, 1, session: "s-1"),
            Record(Day0.AddHours(2), 1, "claude-sonnet-4.5", 9000, 900, 1),
        ]);

        var rows = await Store.UsageReports.SessionAsync(1, "s-1");

        Assert.Equal(["claude-sonnet-4.5", "local-llama"], rows.Select(r => r.Model));
        var sonnet = rows[0];
        Assert.Equal((2L, 300L, 30L, 5L, 7L), (sonnet.Requests, sonnet.InputTokens, sonnet.OutputTokens, sonnet.CacheReadTokens, sonnet.CacheWriteTokens));
        Assert.Equal(0.03, sonnet.CostUsd!.Value, 9);
        Assert.Null(rows[1].CostUsd);
        Assert.Empty(await Store.UsageReports.SessionAsync(2, "s-2"));
        Assert.Empty(await Store.UsageReports.SessionAsync(1, "nope"));
    }

    /// <summary>The report worked out from the records themselves, with the documented window rule.</summary>
    private static List<UsageReportRow> Expected(List<UsageRecord> records, UsageQuery query)
    {
        var daily = query.UsesDaily;
        bool Inside(UsageRecord r)
        {
            var start = daily ? UsageBuckets.StartOfDay(UsageBuckets.DayOf(r.At)) : UsageBuckets.StartOfHour(UsageBuckets.HourOf(r.At));
            return start >= query.From && start < query.To;
        }
        var dims = query.GroupBy.Distinct().Order().ToList();
        return records.Where(Inside)
            .GroupBy(r => string.Join("|", dims.Select(d => KeyOf(r, d))))
            .Select(g =>
            {
                var first = g.First();
                var list = g.ToList();
                var priced = list.Where(r => r.CostUsd is not null).ToList();
                var ttfb = list.Where(r => r.TimeToFirstByteMs is not null).ToList();
                return new UsageReportRow
                {
                    Day = dims.Contains(UsageDimension.Day) ? UsageBuckets.StartOfDay(UsageBuckets.DayOf(first.At)) : null,
                    Hour = dims.Contains(UsageDimension.Hour) ? UsageBuckets.StartOfHour(UsageBuckets.HourOf(first.At)) : null,
                    UserId = dims.Contains(UsageDimension.User) ? first.UserId ?? 0 : null,
                    KeyId = dims.Contains(UsageDimension.Key) ? first.KeyId ?? 0 : null,
                    Client = dims.Contains(UsageDimension.Client) ? first.Client : null,
                    Model = dims.Contains(UsageDimension.Model) ? first.Model : null,
                    Provider = dims.Contains(UsageDimension.Provider) ? first.Provider ?? "" : null,
                    Task = dims.Contains(UsageDimension.Task) ? first.Task : null,
                    Requests = list.Count,
                    Errors = list.Count(r => r.Status == UsageStatus.Error),
                    ClientClosed = list.Count(r => r.Status == UsageStatus.ClientClosed),
                    InputTokens = list.Sum(r => (long)r.InputTokens),
                    OutputTokens = list.Sum(r => (long)r.OutputTokens),
                    CacheReadTokens = list.Sum(r => (long)r.CacheReadTokens),
                    CacheWriteTokens = list.Sum(r => (long)r.CacheWriteTokens),
                    ReasoningTokens = list.Sum(r => (long)r.ReasoningTokens),
                    Credits = list.Sum(r => r.Credits ?? 0),
                    CostUsd = priced.Count == 0 ? null : priced.Sum(r => r.CostUsd!.Value),
                    UnpricedRequests = list.Count - priced.Count,
                    AvgDurationMs = list.Average(r => r.DurationMs),
                    AvgTtfbMs = ttfb.Count == 0 ? null : ttfb.Average(r => r.TimeToFirstByteMs!.Value),
                    TtfbCount = ttfb.Count,
                };
            })
            .OrderBy(r => r.Day).ThenBy(r => r.Hour).ThenBy(r => r.UserId).ThenBy(r => r.KeyId)
            .ThenBy(r => r.Client, StringComparer.Ordinal).ThenBy(r => r.Model, StringComparer.Ordinal)
            .ThenBy(r => r.Provider, StringComparer.Ordinal).ThenBy(r => r.Task, StringComparer.Ordinal)
            .ToList();
    }

    private static string KeyOf(UsageRecord r, UsageDimension d) => d switch
    {
        UsageDimension.Day => UsageBuckets.DayOf(r.At).ToString(System.Globalization.CultureInfo.InvariantCulture),
        UsageDimension.Hour => UsageBuckets.HourOf(r.At).ToString(System.Globalization.CultureInfo.InvariantCulture),
        UsageDimension.User => (r.UserId ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture),
        UsageDimension.Key => (r.KeyId ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture),
        UsageDimension.Client => r.Client,
        UsageDimension.Model => r.Model,
        UsageDimension.Provider => r.Provider ?? "",
        _ => r.Task,
    };

    private static void AssertSameRow(UsageReportRow expected, UsageReportRow actual)
    {
        var tolerance = 1e-6;
        Assert.Equal(expected with { Credits = 0, CostUsd = null, AvgDurationMs = null, AvgTtfbMs = null },
            actual with { Credits = 0, CostUsd = null, AvgDurationMs = null, AvgTtfbMs = null });
        Assert.Equal(expected.Credits, actual.Credits, tolerance);
        Assert.Equal(expected.CostUsd is null, actual.CostUsd is null);
        if (expected.CostUsd is { } cost) Assert.Equal(cost, actual.CostUsd!.Value, tolerance);
        Assert.Equal(expected.AvgDurationMs!.Value, actual.AvgDurationMs!.Value, tolerance);
        Assert.Equal(expected.AvgTtfbMs is null, actual.AvgTtfbMs is null);
        if (expected.AvgTtfbMs is { } ttfb) Assert.Equal(ttfb, actual.AvgTtfbMs!.Value, tolerance);
    }
}

public sealed class SqliteUsageReportsTests : UsageReportsTests
{
    private protected override IBackend CreateBackend() => new SqliteBackend();
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresUsageReportsTests(PostgresCluster cluster) : UsageReportsTests
{
    private protected override IBackend CreateBackend() => new PostgresBackend(cluster, GetType().Name);
}
