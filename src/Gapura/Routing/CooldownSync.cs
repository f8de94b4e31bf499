using Gapura.Storage.Shared;
using Microsoft.Extensions.Options;

namespace Gapura.Routing;

/// <summary>
/// Shares <see cref="LoginCooldowns"/> between instances: a rest started here is written to the shared store at once (in
/// the background — never by the request that hit the 429), and every <c>Routing:SyncSeconds</c> the rests not yet over
/// are read back and merged, so an account or provider throttled on one instance rests on all of them within that time.
/// With the store down, each instance keeps its own rests and shares them when it answers again.
/// </summary>
internal sealed class CooldownSync(
    LoginCooldowns cooldowns,
    ISharedState store,
    IOptions<RoutingOptions> options,
    TimeProvider time,
    ILogger<CooldownSync> log) : BackgroundService
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private List<SharedRest> _retry = [];
    private bool _failing;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await Task.WhenAll(ShareAsync(stoppingToken), PollAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    /// <summary>Writes each new rest as soon as it starts.</summary>
    private async Task ShareAsync(CancellationToken ct)
    {
        while (await cooldowns.Unshared.WaitToReadAsync(ct)) await GuardedAsync(FlushAsync, ct);
    }

    private async Task PollAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(Math.Max(0.05, options.Value.SyncSeconds)), time);
        do await GuardedAsync(TickAsync, ct);
        while (await timer.WaitForNextTickAsync(ct));
    }

    /// <summary>One round: shares what is waiting, then merges every rest the store holds. Internal so tests need not wait for the timer.</summary>
    internal async Task TickAsync(CancellationToken ct)
    {
        await FlushAsync(ct);
        cooldowns.Merge(await store.RestingAsync(time.GetUtcNow(), ct));
    }

    private async Task FlushAsync(CancellationToken ct)
    {
        var batch = _retry;
        _retry = [];
        while (cooldowns.Unshared.TryRead(out var rest)) batch.Add(rest);
        if (batch.Count == 0) return;
        try
        {
            await store.RestAsync(batch, time.GetUtcNow(), ct);
        }
        catch
        {
            var now = time.GetUtcNow();
            _retry = batch.FindAll(r => r.Until > now);
            throw;
        }
    }

    private async Task GuardedAsync(Func<CancellationToken, Task> work, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            await work(ct);
            if (_failing) log.LogInformation("The shared store answers again; upstream cool-downs are shared between instances");
            _failing = false;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            if (!_failing) log.LogWarning("Cannot share upstream cool-downs with other instances ({Error}); each instance rests what it saw itself", e.Message);
            _failing = true;
        }
        finally
        {
            _gate.Release();
        }
    }

    public override void Dispose()
    {
        _gate.Dispose();
        base.Dispose();
    }
}
