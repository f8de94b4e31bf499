using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.Channels;
using Gapura.Conversations;
using Gapura.Identity;
using Gapura.Storage;
using Microsoft.Extensions.Options;

namespace Gapura.Budgets.RateLimits;

/// <summary>
/// Per-user and per-key rate limits on the request path: <see cref="AcquireAsync"/> before a request goes upstream,
/// <see cref="RateLease.Release"/> when it ends. The counters are shared by every instance
/// (<see cref="IRateLimitCounters"/>); this instance's open leases are renewed, and releases written, in the
/// background by <see cref="RateLimitMaintenance"/>.
/// </summary>
internal sealed class RateLimiter
{
    /// <summary>Most releases written in one transaction (or one Redis pipeline).</summary>
    private const int ReleaseBatch = 256;

    private const int ReleaseAttempts = 3;

    private readonly BudgetConfigSource _config;
    private readonly IRateLimitCounters _counters;
    private readonly TimeProvider _time;
    private readonly ILogger<RateLimiter> _log;
    private readonly bool _failOpen;
    private readonly Channel<RateRelease> _releases = Channel.CreateUnbounded<RateRelease>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<string, RateLease> _open = new(StringComparer.Ordinal);

    public RateLimiter(BudgetConfigSource config, IRateLimitCounters counters, IOptions<RateLimitOptions> options, IOptions<BudgetOptions> budgets,
        TimeProvider time, ILogger<RateLimiter> log)
    {
        var seconds = options.Value.LeaseSeconds;
        if (seconds is < RateLimitOptions.MinLeaseSeconds or > RateLimitOptions.MaxLeaseSeconds)
            throw new BudgetConfigException("RateLimits:LeaseSeconds",
                $"RateLimits:LeaseSeconds: {RateLimitOptions.MinLeaseSeconds} to {RateLimitOptions.MaxLeaseSeconds} seconds (got {seconds}).");
        _config = config;
        _counters = counters;
        _time = time;
        _log = log;
        _failOpen = budgets.Value.FailOpen;
        LeaseLifetime = TimeSpan.FromSeconds(seconds);
    }

    /// <summary>This process's name on the leases it holds (for an operator looking at the table).</summary>
    public string Instance { get; } = Guid.NewGuid().ToString("N");

    public TimeSpan LeaseLifetime { get; }

    /// <summary>Requests running on this instance that hold a concurrency lease.</summary>
    public int OpenLeases => _open.Count;

    /// <summary>
    /// Counts a request against the caller's rate limits: null at once, with no allocation and no store, when none
    /// applies; otherwise a lease to release when the request ends, or a 429 <see cref="GatewayException"/> naming the
    /// limit, with <c>Retry-After</c>. An unreachable store is a 503, or — with <c>Budgets:FailOpen</c> — a logged pass.
    /// </summary>
    public ValueTask<RateLease?> AcquireAsync(Caller? caller, long estimatedTokens, CancellationToken ct)
    {
        if (caller is null) return default;
        var config = _config.Current;
        if (!config.HasRateLimits || !Applies(config, caller)) return default;
        return AcquireCountedAsync(config.RateLimitsFor(caller), caller, Math.Max(0, estimatedTokens), ct);
    }

    /// <summary><see cref="BudgetConfig.RateLimitsFor"/>'s rule, asked without building the list.</summary>
    private static bool Applies(BudgetConfig config, Caller caller)
        => config.DefaultUserRate is not null || config.UserRates.ContainsKey(caller.UserId)
           || caller.KeyId is { } key && (config.DefaultKeyRate is not null || config.KeyRates.ContainsKey(key));

    private async ValueTask<RateLease?> AcquireCountedAsync(IReadOnlyList<ApplicableRateLimit> limits, Caller caller, long tokens, CancellationToken ct)
    {
        var charges = new RateScopeCharge[limits.Count];
        for (var i = 0; i < charges.Length; i++) charges[i] = RateScopeCharge.Of(limits[i]);
        var now = _time.GetUtcNow();
        var id = Guid.CreateVersion7(now).ToString("N");
        RateAcquireResult result;
        try
        {
            result = await _counters.AcquireAsync(new RateAcquire(id, Instance, tokens, charges, now, now + LeaseLifetime), ct);
        }
        catch (Exception e) when (e is DatabaseUnavailableException or RedisUnavailableException)
        {
            if (!_failOpen)
            {
                _log.LogError("Rate limits cannot be checked: {Error}", e.Message);
                throw new GatewayException(ErrorKind.UpstreamUnavailable,
                    "The gateway's rate-limit counters are unreachable, so rate limits cannot be checked; try again shortly.", 503);
            }
            _log.LogWarning("Rate limits not checked for user {UserId}: {Error} (Budgets:FailOpen is true: the request goes through)", caller.UserId, e.Message);
            return null;
        }
        if (!result.Admitted) throw Refused(result.Refusal!, caller);

        var leaseScopes = charges.Where(c => c.ConcurrentRequests is not null).Select(c => c.Scope).ToArray();
        var correctsTokens = charges.Any(c => c.TokensPerMinute is not null);
        // Requests per minute alone need nothing at the end: the count is final at acquire.
        if (leaseScopes.Length == 0 && !correctsTokens) return RateLease.Counted;
        var lease = new RateLease(this, id, [.. charges.Select(c => c.Scope)], leaseScopes, RateClock.Of(now).Minute, tokens, correctsTokens);
        if (leaseScopes.Length > 0) _open[id] = lease;
        return lease;
    }

    /// <summary>"Rate limit of key sk-gp-ab12…: 60 requests per minute reached; retry in 14 s."</summary>
    internal static GatewayException Refused(RateRefusal refusal, Caller caller)
    {
        var scope = BudgetScope.TryParse(refusal.Scope);
        var who = scope?.Kind == ScopeKind.Key ? $"key {caller.KeyPrefix ?? scope.Value.Id.ToString(CultureInfo.InvariantCulture)}…" : $"user {caller.Email}";
        var n = refusal.Limit.ToString(CultureInfo.InvariantCulture);
        var what = refusal.Dimension switch
        {
            RateDimension.Requests => refusal.Limit == 1 ? "1 request per minute" : $"{n} requests per minute",
            RateDimension.Tokens => refusal.Limit == 1 ? "1 token per minute" : $"{n} tokens per minute",
            _ => refusal.Limit == 1 ? "1 concurrent request" : $"{n} concurrent requests",
        };
        var seconds = (long)Math.Max(1, Math.Ceiling(refusal.RetryAfter.TotalSeconds));
        return new GatewayException(ErrorKind.RateLimited, $"Rate limit of {who}: {what} reached; retry in {seconds} s.", 429, TimeSpan.FromSeconds(seconds));
    }

    /// <summary>Called once by <see cref="RateLease.Release"/>: stops renewing the lease and queues the write.</summary>
    internal void Release(RateLease lease, long actualTokens)
    {
        if (lease.LeaseScopes.Count > 0) _open.TryRemove(lease.Id, out _);
        var delta = lease.CorrectsTokens ? Math.Max(0, actualTokens) - lease.EstimatedTokens : 0;
        if (lease.LeaseScopes.Count == 0 && delta == 0) return;
        _releases.Writer.TryWrite(new RateRelease(lease.Id, lease.Scopes, lease.LeaseScopes, lease.AcquiredMinute, delta));
    }

    /// <summary>Writes queued releases as they come, a batch at a time, until <paramref name="stop"/>.</summary>
    internal async Task RunReleasesAsync(CancellationToken stop)
    {
        var reader = _releases.Reader;
        var batch = new List<RateRelease>(ReleaseBatch);
        try
        {
            while (await reader.WaitToReadAsync(stop))
            {
                while (batch.Count < ReleaseBatch && reader.TryRead(out var release)) batch.Add(release);
                await WriteReleasesAsync(batch, stop);
                batch.Clear();
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
    }

    /// <summary>At shutdown (requests drained): writes whatever is still queued.</summary>
    internal async Task DrainAsync(CancellationToken ct)
    {
        var batch = new List<RateRelease>(ReleaseBatch);
        while (_releases.Reader.TryRead(out var release))
        {
            batch.Add(release);
            if (batch.Count < ReleaseBatch && _releases.Reader.Count > 0) continue;
            await WriteReleasesAsync(batch, ct);
            batch.Clear();
        }
    }

    private async Task WriteReleasesAsync(List<RateRelease> batch, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await _counters.ReleaseAsync(batch, _time.GetUtcNow(), ct);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException && attempt < ReleaseAttempts)
            {
                _log.LogDebug("Writing {Count} rate-limit releases failed (attempt {Attempt}): {Error}", batch.Count, attempt, e.Message);
                await Task.Delay(TimeSpan.FromSeconds(attempt), _time, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Not renewed any more, their leases stop counting within a lease lifetime; only the token corrections are lost.
                _log.LogWarning("{Count} rate-limit releases could not be written: {Error}; their leases expire within {Seconds} s",
                    batch.Count, e.Message, LeaseLifetime.TotalSeconds);
                return;
            }
        }
    }

    /// <summary>Renews this instance's open leases for another lifetime, then tidies expired ones away.</summary>
    internal async Task RenewAsync(CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        var open = _open.Values.Where(l => !l.IsReleased).Select(l => new RateLeaseRef(l.Id, l.LeaseScopes)).ToList();
        if (open.Count > 0) await _counters.RenewAsync(open, now, now + LeaseLifetime, ct);
        // Without rate limits there is nothing to tidy, and no reason to write to the database every few seconds.
        if (_config.Current.HasRateLimits) await _counters.ExpireAsync(now, ct);
    }
}

/// <summary>
/// The rate limiter's background work: writes releases as they are queued, and every quarter of
/// <c>RateLimits:LeaseSeconds</c> renews this instance's open leases (so they outlive it by at most a lifetime).
/// </summary>
internal sealed class RateLimitMaintenance(RateLimiter limiter, TimeProvider time, ILogger<RateLimitMaintenance> log) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
        => Task.WhenAll(limiter.RunReleasesAsync(stoppingToken), RenewLoopAsync(stoppingToken));

    private async Task RenewLoopAsync(CancellationToken stop)
    {
        var every = TimeSpan.FromTicks(Math.Max(TimeSpan.TicksPerSecond, limiter.LeaseLifetime.Ticks / 4));
        using var timer = new PeriodicTimer(every, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                try
                {
                    await limiter.RenewAsync(stop);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    log.LogWarning("Renewing rate-limit leases failed: {Error}; trying again in {Seconds} s", e.Message, every.TotalSeconds);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await limiter.DrainAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            log.LogWarning("Shutdown timed out before every rate-limit release was written; their leases expire by themselves");
        }
    }
}
