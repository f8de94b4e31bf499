using Gapura.Ledger;
using Gapura.Routing.Canary;
using Gapura.Routing.Profiles;
using Gapura.Storage;
using Gapura.Tests.Ledger;
using Gapura.Tests.Storage;

namespace Gapura.Tests.Routing.Canary;

/// <summary>A canary's figures read from the ledger on both back ends: per variant, since the start, one profile only.</summary>
public abstract class CanaryFiguresTests : StoreTestBase
{
    private static readonly DateTimeOffset Start = new(2026, 5, 4, 10, 0, 0, TimeSpan.Zero);

    private static UsageRecord R(string id, string? variant, DateTimeOffset at, string status = UsageStatus.Ok, double? ttfb = 100, double? cost = 0.01,
        int toolErrors = 0, string profile = "primary", int input = 100)
        => UsageRepositoryTests.Record(id, at, cost: cost, input: input, status: status) with
        {
            Profile = profile, Variant = variant, ToolErrors = toolErrors, TimeToFirstByteMs = ttfb,
        };

    [Fact]
    public async Task Figures_are_per_variant_since_the_start_for_the_profile_only()
    {
        await Store.Usage.AppendAsync(
        [
            R("before", "candidate", Start.AddMinutes(-1), status: UsageStatus.Error),      // an earlier canary: not counted
            R("other", "candidate", Start.AddMinutes(1), profile: "fast"),                  // another profile
            R("plain", null, Start.AddMinutes(1)),                                          // no canary
            R("b1", "baseline", Start.AddMinutes(1), ttfb: 100, input: 100),
            R("b2", "baseline", Start.AddMinutes(2), ttfb: 300, input: 300, status: UsageStatus.ClientClosed),
            R("b3", "baseline", Start.AddMinutes(3), ttfb: 200, input: 200, toolErrors: 1),
            R("c1", "candidate", Start.AddMinutes(1), ttfb: 50, cost: null, toolErrors: 2),
            R("c2", "candidate", Start.AddMinutes(2), ttfb: null, status: UsageStatus.Error, cost: 0.03),
            R("c3", "candidate", Start.AddMinutes(3), ttfb: 70, cost: 0.05),
            R("c4", "candidate", Start.AddMinutes(4), ttfb: 90, cost: 0.01, status: UsageStatus.Error),
        ]);

        var canary = new CanaryDefinition("primary", "claude-haiku-4.5", null, 50, Start, "test");
        var status = await CanaryStatus.ReadAsync(Store, canary, new CanaryOptions { MinRequests = 4, MaxErrorRateIncrease = 0.05 }, default);

        var b = status.Baseline;
        Assert.Equal((3L, 0L, 1L, 1L), (b.Requests, b.Figures.Errors, b.Figures.ClientClosed, b.Figures.ToolErrorRequests));
        Assert.Equal(0.0, b.ErrorRate);
        Assert.Equal(200.0, b.Figures.TtfbMeanMs);
        Assert.Equal(200.0, b.Figures.TtfbP50Ms);
        Assert.Equal(200.0, b.InputTokensPerRequest);
        Assert.Equal(0.01, b.CostUsdPerRequest!.Value, 9);

        var c = status.Candidate;
        Assert.Equal((4L, 2L, 1L, 2L), (c.Requests, c.Figures.Errors, c.Figures.ToolErrorRequests, c.Figures.ToolErrors));
        Assert.Equal(0.5, c.ErrorRate);
        Assert.Equal(0.25, c.ToolErrorRate);
        Assert.Equal(3L, c.Figures.TtfbCount);
        Assert.Equal(70.0, c.Figures.TtfbMeanMs!.Value, 9);
        Assert.Equal(70.0, c.Figures.TtfbP50Ms);
        Assert.Equal(1L, c.Figures.UnpricedRequests);
        Assert.Equal(0.03, c.CostUsdPerRequest!.Value, 9);    // (0.03 + 0.05 + 0.01) over the 3 priced requests

        Assert.Equal(0.5, status.ErrorRateIncrease);
        Assert.Equal(-130.0, status.TtfbP50MsDifference);
        Assert.True(status.ShouldRollBack);
        Assert.Contains("over the automatic rollback threshold", status.RollbackNote);
    }

    [Fact]
    public async Task A_canary_with_no_requests_yet_has_empty_sides_and_is_not_judged()
    {
        var canary = new CanaryDefinition("primary", "claude-haiku-4.5", null, 10, Start, "test");
        var status = await CanaryStatus.ReadAsync(Store, canary, new CanaryOptions(), default);

        Assert.Equal(0, status.Baseline.Requests + status.Candidate.Requests);
        Assert.Null(status.Candidate.ErrorRate);
        Assert.Null(status.Candidate.CostUsdPerRequest);
        Assert.Null(status.ErrorRateIncrease);
        Assert.False(status.ShouldRollBack);
        Assert.StartsWith("not judged yet: 0 of 50", status.RollbackNote);
    }
}

public sealed class SqliteCanaryFiguresTests : CanaryFiguresTests
{
    private protected override IBackend CreateBackend() => new SqliteBackend();

    [Fact]
    public async Task The_figures_query_uses_the_canary_index()
    {
        await using var connection = await Db.OpenAsync(CancellationToken.None);
        var plan = await new DbSession(Db, connection, null).Sql("""
            EXPLAIN QUERY PLAN SELECT variant, COUNT(*) FROM usage_records
            WHERE variant IS NOT NULL AND profile = @profile AND at >= @since GROUP BY variant
            """).Param("profile", "primary").Param("since", DateTimeOffset.UnixEpoch).ListAsync(r => r.Value("detail").ToString(), CancellationToken.None);

        Assert.Contains(plan, line => line!.Contains("usage_records_canary", StringComparison.Ordinal));
    }
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresCanaryFiguresTests(PostgresCluster cluster) : CanaryFiguresTests
{
    private protected override IBackend CreateBackend() => new PostgresBackend(cluster, nameof(PostgresCanaryFiguresTests));
}
