using Gapura.Api;
using Gapura.Api.Admin;
using Gapura.Ledger;
using Gapura.Storage;

namespace Gapura.Tests.Ledger;

/// <summary>The report formats in isolation: CSV quoting, the Kiro-style text, the parameter rules.</summary>
public sealed class UsageFormattingTests
{
    private static UsageRowView Row(string? client, string? model, double? cost) => new(
        null, null, null, null, null, null, client, model, null, null, 3, 0, 0, 1000, 200, 0, 0, 0, 0, cost, cost is null ? 3 : 0, 12.5, null);

    [Fact]
    public void Csv_quotes_fields_that_need_it_and_defuses_formulas()
    {
        var csv = AdminUsageEndpoints.Csv([UsageDimension.Client, UsageDimension.Model], [Row("a,b", "say \"hi\"", 0.5), Row("=cmd()", "m", null)]);
        var lines = csv.Split("\r\n");
        Assert.StartsWith("client,model,requests,", lines[0]);
        Assert.Equal("\"a,b\",\"say \"\"hi\"\"\",3,0,0,1000,200,0,0,0,0,0.5,0,12.5,", lines[1]);
        Assert.Equal("'=cmd(),m,3,0,0,1000,200,0,0,0,0,,3,12.5,", lines[2]);
        Assert.Equal("", lines[3]);
    }

    [Fact]
    public void The_text_report_without_a_session_shows_today_and_says_when_cost_is_unknown()
    {
        var totals = new UsageTotalsView(4, 47_832, 12_441, 0, 0, null, 4);
        var models = new List<UsageModelView>
        {
            new("claude-sonnet-4.5", 2, 31_200, 9_800, 0, 0, null, 2),
            new("local-llama", 2, 16_632, 2_641, 0, 0, null, 2),
        };
        var today = new UsagePeriodView(DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddDays(1), models, totals);
        var text = CallerUsageEndpoint.TextReport(new CallerUsageView("usage", 1, "a@example.com", null, today, today, null));
        Assert.Equal(
            "Today's token usage:\n" +
            "Input: 47,832 tokens (claude-sonnet-4.5: 31,200 | local-llama: 16,632)\n" +
            "Output: 12,441 tokens (claude-sonnet-4.5: 9,800 | local-llama: 2,641)\n" +
            "Estimated cost: unknown (no price for these models)\n" +
            "Daily usage: 47,832 input / 12,441 output tokens\n" +
            "Monthly usage: 47,832 input / 12,441 output tokens\n", text);
    }

    [Fact]
    public void Window_defaults_to_the_last_7_whole_days_and_enforces_its_bounds()
    {
        var now = new DateTimeOffset(2026, 12, 5, 22, 30, 0, TimeSpan.Zero);
        Assert.Equal((new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 12, 6, 0, 0, 0, TimeSpan.Zero)),
            UsageReportParameters.Window(null, null, now, 400));
        var day = UsageReportParameters.ParseTime("2026-12-01", "to", endOfDay: true);
        Assert.Equal(new DateTimeOffset(2026, 12, 2, 0, 0, 0, TimeSpan.Zero), day);
        Assert.Equal(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero), UsageReportParameters.ParseTime("2026-12-01T09:00:00+01:00", "from"));
        Assert.Equal(new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero), UsageReportParameters.ParseTime("2026-12-01T08:00:00", "from"));
        Assert.Equal("from", Assert.Throws<UsageQueryException>(() => UsageReportParameters.Window(now.AddDays(-11), now, now, 10)).Param);
        Assert.Equal("groupBy", Assert.Throws<UsageQueryException>(() => UsageReportParameters.ParseGroupBy(["day", "model;drop table"], "groupBy")).Param);
        Assert.Equal([UsageDimension.Day, UsageDimension.Model], UsageReportParameters.ParseGroupBy(["DAY, model", "day"], "groupBy"));
        var (from, to) = UsageReportParameters.Since("12h", now, 400, "--since");
        Assert.Equal((new DateTimeOffset(2026, 12, 5, 11, 0, 0, TimeSpan.Zero), now), (from, to));
    }
}
