using Gapura.Api;
using Gapura.Storage;
using Microsoft.Extensions.Options;

namespace Gapura.Identity;

/// <summary>
/// Keeps this instance's <see cref="ApiKeyIndex"/> in step with the database, which all instances share:
/// once a second it reads the change counter (one primary-key read) and reloads the keys when it moved.
/// It also writes the batched last-used times. The first load happens before the host serves requests.
/// </summary>
internal sealed class IdentitySync(
    IGapuraStore store,
    ApiKeyIndex index,
    LastUsedRecorder lastUsed,
    IOptions<GatewayOptions> gateway,
    IOptions<IdentityOptions> options,
    TimeProvider time,
    ILogger<IdentitySync> log) : BackgroundService
{
    private readonly IdentityOptions _options = options.Value;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private DateTimeOffset _lastFlush;
    private bool _failing;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await ReloadAsync(await store.Changes.GetVersionAsync(cancellationToken), cancellationToken);
        _lastFlush = time.GetUtcNow();
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(_options.RefreshSeconds), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken)) await TickAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
        finally
        {
            await FlushLastUsedAsync(CancellationToken.None);
        }
    }

    /// <summary>
    /// One sync: reloads the key index if the database moved. The timer calls it every <c>Identity:RefreshSeconds</c>;
    /// the admin API calls it right after creating or revoking a key, so this instance knows at once (others within
    /// the interval). One at a time, so an older reload never lands after a newer one.
    /// </summary>
    internal async Task TickAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            var version = await store.Changes.GetVersionAsync(ct);
            if (version != index.Version) await ReloadAsync(version, ct);
            if (time.GetUtcNow() - _lastFlush >= TimeSpan.FromSeconds(_options.LastUsedFlushSeconds)) await FlushLastUsedAsync(ct);
            if (_failing) log.LogInformation("The database answers again; identity is in sync");
            _failing = false;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Keep serving with the last known keys; say so once, not every second.
            if (!_failing) log.LogWarning("Cannot refresh API keys from the database ({Error}); using the last known keys", e.Message);
            _failing = true;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task ReloadAsync(long version, CancellationToken ct)
    {
        var keys = await store.ApiKeys.ListActiveAsync(time.GetUtcNow(), ct: ct);
        var bootstrap = gateway.Value.ApiKey;
        User? owner = null;
        if (!string.IsNullOrEmpty(bootstrap))
            owner = (await store.Users.ListAsync(ct)).Where(u => u.IsAdmin && !u.Disabled).MinBy(u => u.Id);
        index.Replace(keys, string.IsNullOrEmpty(bootstrap) ? null : ApiKeys.Hash(bootstrap), owner, version);
        log.LogDebug("API key index reloaded: {Count} keys at change {Version}", index.Count, version);
    }

    private async Task FlushLastUsedAsync(CancellationToken ct)
    {
        _lastFlush = time.GetUtcNow();
        var batch = lastUsed.Drain();
        if (batch.Count == 0) return;
        try { await store.ApiKeys.RecordLastUsedAsync(batch, ct); }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            lastUsed.Restore(batch);
            throw;
        }
    }
}
