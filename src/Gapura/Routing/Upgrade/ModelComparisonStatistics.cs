namespace Gapura.Routing.Upgrade;

/// <summary>
/// The figures of one model over a comparison. Latency and TTFT statistics cover successful requests only (a
/// refusal in 5 ms is not a fast answer); tokens and cost per request likewise. Totals cover every request, since
/// a request that failed half-way may still have been billed. Costs are null when no request had a price.
/// </summary>
internal sealed record ModelSummary(
    string Model,
    int Requests,
    int Errors,
    double ErrorRate,
    double? LatencyMeanMs,
    double? LatencyP50Ms,
    double? LatencyP95Ms,
    double? TtftMeanMs,
    double? TtftP50Ms,
    double? TtftP95Ms,
    double? InputTokensPerRequest,
    double? OutputTokensPerRequest,
    long InputTokensTotal,
    long OutputTokensTotal,
    double? CostPerRequestUsd,
    double? CostTotalUsd,
    int UnpricedRequests);

/// <summary>Candidate ÷ baseline for each figure; null where either side has no figure or the baseline's is 0.</summary>
internal sealed record ComparisonRatios(
    double? ErrorRate,
    double? LatencyMean,
    double? LatencyP50,
    double? LatencyP95,
    double? TtftMean,
    double? TtftP50,
    double? TtftP95,
    double? InputTokensPerRequest,
    double? OutputTokensPerRequest,
    double? CostPerRequest,
    double? CostTotal);

internal static class ModelComparisonStatistics
{
    /// <summary>
    /// The <paramref name="p"/>-th percentile (0–100) by linear interpolation between closest ranks (rank =
    /// p/100 × (n − 1), as numpy and Excel's PERCENTILE.INC): p50 of 1, 2, 3, 4 is 2.5. Null for no values.
    /// </summary>
    public static double? Percentile(IEnumerable<double> values, double p)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(p, 0);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(p, 100);
        var sorted = values.Order().ToArray();
        if (sorted.Length == 0) return null;
        var rank = p / 100 * (sorted.Length - 1);
        var lower = (int)Math.Floor(rank);
        var upper = (int)Math.Ceiling(rank);
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (rank - lower);
    }

    public static double? Mean(IEnumerable<double> values)
    {
        var all = values.ToArray();
        return all.Length == 0 ? null : all.Average();
    }

    /// <summary>candidate ÷ baseline; null when either is missing or the baseline is 0 (no ratio means anything then).</summary>
    public static double? Ratio(double? candidate, double? baseline)
        => candidate is { } c && baseline is { } b && b != 0 ? c / b : null;

    public static ModelSummary Summarise(string model, IReadOnlyList<ComparisonResult> results)
    {
        var ok = results.Where(r => r.Ok).ToList();
        var latencies = ok.Select(r => r.LatencyMs).ToList();
        var ttfts = ok.Where(r => r.TtftMs is not null).Select(r => r.TtftMs!.Value).ToList();
        var priced = results.Where(r => r.CostUsd is not null).ToList();
        var pricedOk = ok.Where(r => r.CostUsd is not null).ToList();
        var errors = results.Count - ok.Count;
        return new ModelSummary(
            model,
            results.Count,
            errors,
            results.Count == 0 ? 0 : (double)errors / results.Count,
            Mean(latencies), Percentile(latencies, 50), Percentile(latencies, 95),
            Mean(ttfts), Percentile(ttfts, 50), Percentile(ttfts, 95),
            Mean(ok.Select(r => (double)r.InputTokens)),
            Mean(ok.Select(r => (double)r.OutputTokens)),
            results.Sum(r => (long)r.InputTokens),
            results.Sum(r => (long)r.OutputTokens),
            Mean(pricedOk.Select(r => r.CostUsd!.Value)),
            priced.Count == 0 ? null : priced.Sum(r => r.CostUsd!.Value),
            // Requests that reported tokens but found no price: their cost is unknown, not free.
            results.Count(r => r.Usage is not null && r.CostUsd is null));
    }

    public static ComparisonRatios Ratios(ModelSummary baseline, ModelSummary candidate) => new(
        Ratio(candidate.ErrorRate, baseline.ErrorRate),
        Ratio(candidate.LatencyMeanMs, baseline.LatencyMeanMs),
        Ratio(candidate.LatencyP50Ms, baseline.LatencyP50Ms),
        Ratio(candidate.LatencyP95Ms, baseline.LatencyP95Ms),
        Ratio(candidate.TtftMeanMs, baseline.TtftMeanMs),
        Ratio(candidate.TtftP50Ms, baseline.TtftP50Ms),
        Ratio(candidate.TtftP95Ms, baseline.TtftP95Ms),
        Ratio(candidate.InputTokensPerRequest, baseline.InputTokensPerRequest),
        Ratio(candidate.OutputTokensPerRequest, baseline.OutputTokensPerRequest),
        Ratio(candidate.CostPerRequestUsd, baseline.CostPerRequestUsd),
        Ratio(candidate.CostTotalUsd, baseline.CostTotalUsd));
}
