using System.Text.Json.Nodes;
using Gapura.Conversations;
using Gapura.Routing.Upgrade;

namespace Gapura.Tests.Routing.Upgrade;

/// <summary>The arithmetic of <c>gapura models compare</c>'s summary, on results made up by hand.</summary>
public sealed class ModelsCompareStatisticsTests
{
    [Theory]
    [InlineData(new double[] { 1, 2, 3, 4 }, 50, 2.5)]
    [InlineData(new double[] { 4, 1, 3, 2 }, 50, 2.5)]
    [InlineData(new double[] { 1, 2, 3, 4, 5 }, 50, 3)]
    [InlineData(new double[] { 7 }, 95, 7)]
    [InlineData(new double[] { 10, 20 }, 95, 19.5)]
    [InlineData(new double[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20 }, 95, 19.05)]
    [InlineData(new double[] { 1, 2, 3 }, 0, 1)]
    [InlineData(new double[] { 1, 2, 3 }, 100, 3)]
    public void Percentiles_interpolate_between_closest_ranks(double[] values, double p, double expected)
        => Assert.Equal(expected, ModelComparisonStatistics.Percentile(values, p)!.Value, 10);

    [Fact]
    public void No_values_have_no_percentile_or_mean()
    {
        Assert.Null(ModelComparisonStatistics.Percentile([], 50));
        Assert.Null(ModelComparisonStatistics.Mean([]));
    }

    [Theory]
    [InlineData(3.0, 2.0, 1.5)]
    [InlineData(0.0, 2.0, 0.0)]
    [InlineData(1.0, 0.0, null)]
    [InlineData(null, 2.0, null)]
    [InlineData(2.0, null, null)]
    public void Ratios_are_candidate_over_baseline_and_absent_without_a_baseline(double? candidate, double? baseline, double? expected)
        => Assert.Equal(expected, ModelComparisonStatistics.Ratio(candidate, baseline));

    private static readonly ComparisonPrompt Prompt = new(1, null, 1, new JsonObject(), "q");

    private static ComparisonResult Result(double latency, double? ttft, int input, int output, double? cost, string? error = null, bool usage = true)
        => new(Prompt, 1, ComparisonSide.Baseline, "m", "r", "kiro", "m", error is null ? 200 : 500, "a", null, [], "end_turn",
            usage ? new Usage(input, output) : null, cost, ttft, latency, error);

    [Fact]
    public void A_summary_counts_errors_in_the_rate_but_not_in_latency_tokens_or_cost_per_request()
    {
        var summary = ModelComparisonStatistics.Summarise("m",
        [
            Result(1000, 100, 10, 100, 0.01),
            Result(2000, 300, 20, 200, 0.03),
            Result(4000, 200, 30, 300, 0.05),
            // Failed half-way: billed tokens count in the totals, nothing else.
            Result(50, null, 40, 5, 0.001, error: "stream error: boom"),
            Result(10, null, 0, 0, null, error: "HTTP 429: slow down", usage: false),
        ]);

        Assert.Equal(5, summary.Requests);
        Assert.Equal(2, summary.Errors);
        Assert.Equal(0.4, summary.ErrorRate, 10);
        Assert.Equal(7000 / 3.0, summary.LatencyMeanMs!.Value, 10);
        Assert.Equal(2000, summary.LatencyP50Ms);
        Assert.Equal(3800, summary.LatencyP95Ms!.Value, 10); // rank 1.9 between 2000 and 4000
        Assert.Equal(200, summary.TtftMeanMs);
        Assert.Equal(200, summary.TtftP50Ms);
        Assert.Equal(20, summary.InputTokensPerRequest);
        Assert.Equal(200, summary.OutputTokensPerRequest);
        Assert.Equal(100, summary.InputTokensTotal);
        Assert.Equal(605, summary.OutputTokensTotal);
        Assert.Equal(0.03, summary.CostPerRequestUsd!.Value, 10);
        Assert.Equal(0.091, summary.CostTotalUsd!.Value, 10);
        Assert.Equal(0, summary.UnpricedRequests);
    }

    [Fact]
    public void Unpriced_models_have_no_cost_and_say_how_many_requests_lacked_a_price()
    {
        var summary = ModelComparisonStatistics.Summarise("m", [Result(1000, 10, 10, 10, null), Result(1000, 10, 10, 10, null)]);
        Assert.Null(summary.CostTotalUsd);
        Assert.Null(summary.CostPerRequestUsd);
        Assert.Equal(2, summary.UnpricedRequests);
    }

    [Fact]
    public void Ratios_compare_every_figure_of_the_two_summaries()
    {
        var baseline = ModelComparisonStatistics.Summarise("b", [Result(1000, 100, 100, 50, 0.02), Result(3000, 300, 100, 150, 0.04)]);
        var candidate = ModelComparisonStatistics.Summarise("c", [Result(500, 50, 100, 200, 0.01), Result(1500, 250, 100, 200, 0.01)]);

        var ratios = ModelComparisonStatistics.Ratios(baseline, candidate);

        Assert.Equal(0.5, ratios.LatencyMean);
        Assert.Equal(0.5, ratios.LatencyP50);
        Assert.Equal(0.75, ratios.TtftMean); // 150 ms against 200 ms
        Assert.Equal(1.0, ratios.InputTokensPerRequest);
        Assert.Equal(2.0, ratios.OutputTokensPerRequest);
        Assert.Equal(1 / 3.0, ratios.CostTotal!.Value, 10);
        Assert.Null(ratios.ErrorRate); // 0 errors on both sides: no ratio
    }

    [Fact]
    public void The_report_formats_missing_figures_as_a_dash_never_as_zero()
    {
        Assert.Equal("—", Gapura.Routing.Upgrade.ModelComparisonReport.Usd(null));
        Assert.Equal("$0.000123", Gapura.Routing.Upgrade.ModelComparisonReport.Usd(0.000123));
        Assert.Equal("$1.5000", Gapura.Routing.Upgrade.ModelComparisonReport.Usd(1.5));
        Assert.Equal("—", Gapura.Routing.Upgrade.ModelComparisonReport.Seconds(null));
        Assert.Equal("1.80 s", Gapura.Routing.Upgrade.ModelComparisonReport.Seconds(1800));
        Assert.Equal("154 ms", Gapura.Routing.Upgrade.ModelComparisonReport.Seconds(154.4));
        Assert.Equal("12.5 s", Gapura.Routing.Upgrade.ModelComparisonReport.Seconds(12_500));
        Assert.Equal("0.50×", Gapura.Routing.Upgrade.ModelComparisonReport.X(0.5));
    }

    [Fact]
    public void A_prompt_line_becomes_a_messages_body_and_a_messages_line_keeps_its_fields()
    {
        var prompts = ComparisonPrompts.Read(new StringReader("""
            # comment
            {"prompt": "Explain  the\nplan", "system": "Be brief.", "id": "p1"}
            // another
            {"messages": [{"role": "user", "content": "hi"}], "temperature": 0.2, "max_tokens": 64, "model": "x"}
            """), "prompts.jsonl", 512);

        Assert.Equal(2, prompts.Count);
        Assert.Equal((1, "p1", 2), (prompts[0].Number, prompts[0].Id, prompts[0].Line));
        Assert.Equal("Explain the plan", prompts[0].Preview);
        var first = JsonNode.Parse(prompts[0].BodyFor("claude-x"))!;
        Assert.Equal("claude-x", (string?)first["model"]);
        Assert.True((bool)first["stream"]!);
        Assert.Equal(512, (int)first["max_tokens"]!);
        Assert.Equal("Be brief.", (string?)first["system"]);
        Assert.Equal("Explain  the\nplan", (string?)first["messages"]![0]!["content"]);
        var second = JsonNode.Parse(prompts[1].BodyFor("claude-y"))!;
        Assert.Equal(("claude-y", 64, 0.2), ((string?)second["model"], (int)second["max_tokens"]!, (double)second["temperature"]!));
        Assert.Equal(4, prompts[1].Line);
        Assert.Null(prompts[1].Id);
    }
}
