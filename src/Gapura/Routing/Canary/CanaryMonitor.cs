using Gapura.Routing.Profiles;
using Gapura.Storage;
using Microsoft.Extensions.Options;

namespace Gapura.Routing.Canary;

/// <summary>
/// Rolls a canary back by itself when its candidate fails more than the baseline: every <c>Routing:Canary:CheckSeconds</c>
/// it reads each running canary's figures from the ledger and, past <see cref="CanaryStatus.ShouldRollBack"/>, ends the
/// canary through <see cref="RoutingChanges"/> (audited as <see cref="Actor"/>), which every instance then follows.
/// Runs on every instance, off the request path; two instances rolling back the same canary are harmless — the second
/// finds it gone.
/// </summary>
internal sealed class CanaryMonitor(
    IGapuraStore store,
    RoutingConfigSource source,
    IOptions<CanaryOptions> options,
    TimeProvider time,
    ILogger<CanaryMonitor> log) : BackgroundService
{
    public const string Actor = "gapura (automatic)";

    private readonly RoutingChanges _changes = new(store, source, router: null,
        (action, target, detail) => new NewAuditEntry(Actor, action, target, detail, null));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(Math.Max(0.05, options.Value.CheckSeconds)), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken)) await CheckAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    /// <summary>One pass over the running canaries; returns the ones this call rolled back.</summary>
    internal async Task<IReadOnlyList<CanaryDefinition>> CheckAsync(CancellationToken ct)
    {
        var canaries = source.Current.Canaries;
        if (canaries.Count == 0) return [];
        var rolledBack = new List<CanaryDefinition>();
        foreach (var canary in canaries.Values)
        {
            try
            {
                var status = await CanaryStatus.ReadAsync(store, canary, options.Value, ct);
                if (!status.ShouldRollBack) continue;
                // Only the canary that was judged: one replaced meanwhile (a new start) has figures of its own.
                if (source.Current.CanaryOf(canary.Profile) is not { } current || current.StartedAt != canary.StartedAt || current.Choice != canary.Choice) continue;
                var reason = $"automatic rollback: candidate error rate {CanaryStatus.Percent(status.Candidate.ErrorRate ?? 0)} vs baseline " +
                             $"{CanaryStatus.Percent(status.Baseline.ErrorRate ?? 0)} over {status.Candidate.Requests} requests";
                if (await _changes.EndCanaryAsync(canary.Profile, promote: false, reason, ct) is null) continue;
                rolledBack.Add(canary);
                log.LogWarning("Canary on profile {Profile} ({Candidate} at {Percent}%) rolled back: {Reason}", canary.Profile, canary.Choice, canary.Percent, reason);
            }
            catch (Exception e) when (e is StorageException or System.Data.Common.DbException)
            {
                // The database is away: the canary keeps running and is judged at the next check.
                log.LogWarning("Could not check the canary on profile {Profile}: {Error}", canary.Profile, e.Message);
            }
        }
        return rolledBack;
    }
}
