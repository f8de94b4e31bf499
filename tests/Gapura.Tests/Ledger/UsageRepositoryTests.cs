using Gapura.Ledger;
using Gapura.Storage;
using Gapura.Tests.Storage;

namespace Gapura.Tests.Ledger;

/// <summary>The ledger's tables on both back ends: raw rows as written, rollups that add up, appends that never count twice.</summary>
public abstract class UsageRepositoryTests : StoreTestBase
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 30, 23, 30, 0, TimeSpan.Zero);

    internal static UsageRecord Record(string id, DateTimeOffset at, long user = 7, string model = "claude-sonnet-4.5", double? cost = 0.01,
        int input = 100, int output = 10, string status = UsageStatus.Ok) => new()
    {
        RequestId = id,
        At = at,
        UserId = user,
        KeyId = 3,
        KeyPrefix = "gpr_abcdefgh",
        Client = ClientApps.ClaudeCode,
        ClientVersion = "2.1.197",
        SessionId = "sess-1",
        FrontDoor = "anthropic-messages",
        RequestedModel = "claude-sonnet-4-5",
        Provider = "kiro",
        Login = "work",
        UpstreamModel = model,
        Fallbacks = 1,
        Stream = true,
        InputTokens = input,
        OutputTokens = output,
        CacheReadTokens = 5,
        CacheWriteTokens = 2,
        ReasoningTokens = 3,
        Credits = 0.25,
        CostUsd = cost,
        TimeToFirstByteMs = 12.5,
        DurationMs = 40,
        HttpStatus = 200,
        Status = status,
        ErrorKind = status == UsageStatus.Error ? "upstream_unavailable" : null,
    };

    [Fact]
    public async Task A_record_is_stored_with_every_field()
    {
        var written = await Store.Usage.AppendAsync([Record("r1", T0)]);

        Assert.Equal(1, written);
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM usage_records WHERE request_id = 'r1' AND user_id = 7 AND key_id = 3 AND client = 'claude-code' " +
            "AND client_version = '2.1.197' AND session_id = 'sess-1' AND front_door = 'anthropic-messages' AND requested_model = 'claude-sonnet-4-5' " +
            "AND model = 'claude-sonnet-4.5' AND provider = 'kiro' AND login = 'work' AND fallbacks = 1 AND input_tokens = 100 AND output_tokens = 10 " +
            "AND cache_read_tokens = 5 AND cache_write_tokens = 2 AND reasoning_tokens = 3 AND credits = 0.25 AND http_status = 200 AND status = 'ok' " +
            "AND error_kind IS NULL AND task = 'unknown'"));
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM usage_records WHERE at = @at", ("at", T0)));
    }

    [Fact]
    public async Task The_routing_profile_canary_variant_and_tool_errors_are_stored()
    {
        await Store.Usage.AppendAsync([Record("routed", T0) with { Profile = "primary", Variant = "candidate", ToolErrors = 2 }, Record("plain", T0)]);

        Assert.Equal(1, await CountAsync("SELECT count(*) FROM usage_records WHERE request_id = 'routed' AND profile = 'primary' AND variant = 'candidate' AND tool_errors = 2"));
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM usage_records WHERE request_id = 'plain' AND profile IS NULL AND variant IS NULL AND tool_errors = 0"));
    }

    [Fact]
    public async Task Appending_a_batch_again_stores_and_counts_nothing_twice()
    {
        // A batch whose commit reached the database but whose acknowledgement was lost is retried whole.
        List<UsageRecord> batch = [Record("a", T0), Record("b", T0.AddMinutes(1)), Record("c", T0.AddMinutes(2))];
        Assert.Equal(3, await Store.Usage.AppendAsync(batch));

        Assert.Equal(1, await Store.Usage.AppendAsync([.. batch, Record("d", T0.AddMinutes(3))]));

        Assert.Equal(4, await CountAsync("SELECT count(*) FROM usage_records"));
        Assert.Equal(4, await CountAsync("SELECT sum(requests) FROM usage_hourly"));
        Assert.Equal(4, await CountAsync("SELECT sum(requests) FROM usage_daily"));
        Assert.Equal(400, await CountAsync("SELECT sum(input_tokens) FROM usage_daily"));
    }

    [Fact]
    public async Task Rollups_add_up_per_hour_and_day_and_keep_unpriced_requests_apart()
    {
        await Store.Usage.AppendAsync(
        [
            Record("1", T0, cost: 0.5),                                 // 23:30 on Nov 30
            Record("2", T0.AddMinutes(10), cost: null),                 // same hour, no price
            Record("3", T0.AddMinutes(40), cost: 0.25, status: UsageStatus.Error), // 00:10 on Dec 1
            Record("4", T0.AddMinutes(40), user: 8, model: "gpt-5", cost: 1),
        ]);

        var hour = UsageBuckets.HourOf(T0);
        Assert.Equal(2, await CountAsync("SELECT requests FROM usage_hourly WHERE hour = @h AND user_id = 7", ("h", hour)));
        Assert.Equal(1, await CountAsync("SELECT unpriced FROM usage_hourly WHERE hour = @h AND user_id = 7", ("h", hour)));
        Assert.Equal("0.5", await ScalarTextAsync("SELECT CAST(cost_usd AS TEXT) AS v FROM usage_hourly WHERE hour = @h AND user_id = 7", ("h", hour)));
        Assert.Equal(1, await CountAsync("SELECT errors FROM usage_daily WHERE day = @d AND user_id = 7", ("d", UsageBuckets.DayOf(T0.AddMinutes(40)))));
        Assert.Equal(3, await CountAsync("SELECT count(*) FROM usage_daily"));
        Assert.Equal(4, await CountAsync("SELECT sum(ttfb_count) FROM usage_daily"));
        Assert.Equal(20, await CountAsync("SELECT sum(cache_read_tokens) FROM usage_hourly"));
    }

    [Fact]
    public async Task Retention_deletes_old_raw_records_and_keeps_the_rollups()
    {
        await Store.Usage.AppendAsync([Record("old1", T0.AddDays(-100)), Record("old2", T0.AddDays(-95)), Record("new", T0)]);

        var deleted = await Store.Usage.DeleteRecordsBeforeAsync(T0.AddDays(-90), limit: 1);
        deleted += await Store.Usage.DeleteRecordsBeforeAsync(T0.AddDays(-90), limit: 1);
        deleted += await Store.Usage.DeleteRecordsBeforeAsync(T0.AddDays(-90), limit: 1);

        Assert.Equal(2, deleted);
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM usage_records"));
        Assert.Equal(3, await CountAsync("SELECT sum(requests) FROM usage_daily"));
    }

    [Fact]
    public async Task A_large_batch_spans_several_statements()
    {
        var batch = Enumerable.Range(0, 1234).Select(i => Record($"r{i}", T0.AddSeconds(i), user: i % 5)).ToList();

        Assert.Equal(1234, await Store.Usage.AppendAsync(batch));

        Assert.Equal(1234, await CountAsync("SELECT count(*) FROM usage_records"));
        Assert.Equal(1234 * 100, await CountAsync("SELECT sum(input_tokens) FROM usage_hourly"));
    }
}

public sealed class SqliteUsageRepositoryTests : UsageRepositoryTests
{
    private protected override IBackend CreateBackend() => new SqliteBackend();
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresUsageRepositoryTests(PostgresCluster cluster) : UsageRepositoryTests
{
    private protected override IBackend CreateBackend() => new PostgresBackend(cluster, nameof(PostgresUsageRepositoryTests));
}
