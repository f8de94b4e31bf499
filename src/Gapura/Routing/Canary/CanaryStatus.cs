using System.ComponentModel.DataAnnotations;
using Gapura.Routing.Profiles;
using Gapura.Storage;

namespace Gapura.Routing.Canary;

/// <summary>Settings of canaries (section <c>Routing:Canary</c>): when one rolls back by itself, and how often that is checked.</summary>
internal sealed class CanaryOptions
{
    public const string Section = "Routing:Canary";

    /// <summary>The candidate's error rate may exceed the baseline's by this much (0.05 = 5 points) before the canary rolls back.</summary>
    [Range(0d, 1d)]
    public double MaxErrorRateIncrease { get; set; } = 0.05;

    /// <summary>The candidate requests needed before its error rate is judged at all.</summary>
    [Range(1, 1_000_000)]
    public int MinRequests { get; set; } = 50;

    /// <summary>How often each instance checks the running canaries.</summary>
    [Range(0.1, 3600)]
    public double CheckSeconds { get; set; } = 10;
}

/// <summary>One side of a canary with its rates and per-request figures; a rate is null when the side has no requests.</summary>
internal sealed record CanaryVariantStatus(VariantFigures Figures)
{
    public long Requests => Figures.Requests;

    /// <summary>Failed requests (status error) over all requests; a client that hung up is not an error.</summary>
    public double? ErrorRate => Per(Figures.Errors);

    /// <summary>Requests whose latest turn reported at least one failed tool call, over all requests.</summary>
    public double? ToolErrorRate => Per(Figures.ToolErrorRequests);

    public double? InputTokensPerRequest => Per(Figures.InputTokens);

    public double? OutputTokensPerRequest => Per(Figures.OutputTokens);

    /// <summary>USD per priced request; null when none had a price (unknown, not free).</summary>
    public double? CostUsdPerRequest => Figures.Requests - Figures.UnpricedRequests is var priced and > 0 ? Figures.CostUsd / priced : null;

    private double? Per(long value) => Figures.Requests == 0 ? null : (double)value / Figures.Requests;
}

/// <summary>
/// A running canary compared with its baseline since it started, as <c>gapura routing canary status</c>, the admin API and
/// <see cref="CanaryMonitor"/> read it. Differences are candidate minus baseline, null when either side has nothing to compare.
/// </summary>
internal sealed record CanaryStatus(CanaryDefinition Canary, CanaryVariantStatus Baseline, CanaryVariantStatus Candidate, double MaxErrorRateIncrease, int MinRequests)
{
    public double? ErrorRateIncrease => Diff(Candidate.ErrorRate, Baseline.ErrorRate);
    public double? ToolErrorRateIncrease => Diff(Candidate.ToolErrorRate, Baseline.ToolErrorRate);
    public double? TtfbMeanMsDifference => Diff(Candidate.Figures.TtfbMeanMs, Baseline.Figures.TtfbMeanMs);
    public double? TtfbP50MsDifference => Diff(Candidate.Figures.TtfbP50Ms, Baseline.Figures.TtfbP50Ms);
    public double? InputTokensPerRequestDifference => Diff(Candidate.InputTokensPerRequest, Baseline.InputTokensPerRequest);
    public double? OutputTokensPerRequestDifference => Diff(Candidate.OutputTokensPerRequest, Baseline.OutputTokensPerRequest);
    public double? CostUsdPerRequestDifference => Diff(Candidate.CostUsdPerRequest, Baseline.CostUsdPerRequest);

    /// <summary>
    /// How far the candidate's error rate is above the baseline's for the rollback rule: a baseline with no requests yet
    /// (a canary at 100%) counts as 0%, so a failing candidate is still caught.
    /// </summary>
    public double? JudgedIncrease => Candidate.ErrorRate is { } c ? c - (Baseline.ErrorRate ?? 0) : null;

    /// <summary>The automatic rollback's rule: enough candidate requests, and its error rate above the baseline's by more than allowed.</summary>
    public bool ShouldRollBack => Candidate.Requests >= MinRequests && JudgedIncrease > MaxErrorRateIncrease;

    /// <summary>One sentence on where the canary stands against the automatic rollback.</summary>
    public string RollbackNote
    {
        get
        {
            var increase = JudgedIncrease ?? 0;
            var limit = $"{Percent(MaxErrorRateIncrease)} over at least {MinRequests} candidate requests";
            if (ShouldRollBack) return $"over the automatic rollback threshold ({Percent(increase)} > {limit}): it rolls back at the next check";
            if (Candidate.Requests < MinRequests)
                return $"not judged yet: {Candidate.Requests} of {MinRequests} candidate requests (rollback at an error-rate increase above {Percent(MaxErrorRateIncrease)})";
            return increase > MaxErrorRateIncrease / 2
                ? $"near the automatic rollback threshold: error rate +{Percent(increase)}, rollback above +{limit}"
                : $"well within the automatic rollback threshold: error rate {(increase >= 0 ? "+" : "")}{Percent(increase)}, rollback above +{limit}";
        }
    }

    public static string Percent(double rate) => (rate * 100).ToString("0.#", System.Globalization.CultureInfo.InvariantCulture) + "%";

    /// <summary>Reads the canary's figures from the ledger (records already written: the ledger writes in batches, a second or so behind).</summary>
    public static async Task<CanaryStatus> ReadAsync(IGapuraStore store, CanaryDefinition canary, CanaryOptions options, CancellationToken ct)
    {
        var figures = await store.Usage.VariantFiguresAsync(canary.Profile, canary.StartedAt, ct);
        VariantFigures Of(string variant) => figures.FirstOrDefault(f => f.Variant == variant) ?? VariantFigures.None(variant);
        return new CanaryStatus(canary, new CanaryVariantStatus(Of(CanaryDefinition.Baseline)), new CanaryVariantStatus(Of(CanaryDefinition.Candidate)),
            options.MaxErrorRateIncrease, options.MinRequests);
    }

    private static double? Diff(double? candidate, double? baseline) => candidate is { } c && baseline is { } b ? c - b : null;
}
