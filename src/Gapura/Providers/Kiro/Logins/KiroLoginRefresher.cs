using Gapura.Conversations;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Kiro.Logins;

/// <summary>
/// Keeps users' Kiro tokens fresh ahead of time, so requests almost never wait on a refresh. Every scan
/// picks the alive logins expiring within <see cref="KiroOptions.LoginRefreshAheadSeconds"/> and refreshes
/// them with at most <see cref="KiroOptions.LoginRefreshConcurrency"/> at a time — many users, but never a
/// burst against the login service. Refreshes go through each login's single flight, so a request that
/// needs the same login meanwhile shares the refresh. Dead logins are skipped (no retry loop); a login
/// whose refresh failed for a passing reason waits out its back-off.
/// </summary>
internal sealed class KiroLoginRefresher(KiroLoginPool pool, IOptions<KiroOptions> options, TimeProvider time, ILogger<KiroLoginRefresher> log) : BackgroundService
{
    private readonly KiroOptions _options = options.Value;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(Math.Max(1, _options.LoginRefreshScanSeconds)), time);
        try
        {
            do await RefreshDueAsync(stoppingToken);
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    /// <summary>The logins one scan would refresh now.</summary>
    internal IReadOnlyList<KiroUserLogin> Due()
    {
        var now = time.GetUtcNow();
        var horizon = now + TimeSpan.FromSeconds(Math.Max(_options.LoginRefreshAheadSeconds, _options.RefreshSkewSeconds));
        return [.. pool.All.Where(l => !l.IsDead && l.ExpiresAt <= horizon && l.NextAttemptAt <= now).OrderBy(l => l.ExpiresAt)];
    }

    /// <summary>One scan; returns how many logins were refreshed. Internal so tests run a scan without waiting.</summary>
    internal async Task<int> RefreshDueAsync(CancellationToken ct)
    {
        var due = Due();
        if (due.Count == 0) return 0;
        var refreshed = 0;
        await Parallel.ForEachAsync(due, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, _options.LoginRefreshConcurrency), CancellationToken = ct },
            async (login, token) =>
            {
                try
                {
                    await login.RefreshAsync(forceRefresh: false, token);
                    Interlocked.Increment(ref refreshed);
                }
                catch (GatewayException e)
                {
                    // Already logged by the login (dead) or passing; the scan carries on with the others.
                    log.LogDebug("Background refresh of {Login} failed: {Kind}", login, e.Kind);
                }
            });
        log.LogDebug("Background refresh: {Refreshed} of {Due} due Kiro logins refreshed", refreshed, due.Count);
        return refreshed;
    }
}
