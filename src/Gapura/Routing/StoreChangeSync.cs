using System.ComponentModel.DataAnnotations;
using Gapura.Storage;
using Microsoft.Extensions.Options;

namespace Gapura.Routing;

/// <summary>
/// An in-memory view of some tables that must follow the database, which every instance shares
/// (routing settings, users' upstream logins). Loaded whole at start, then kept current from the change feed.
/// </summary>
internal interface IStoreChangeListener
{
    /// <summary>Loads everything: at start, and when changes were missed (the feed was pruned or replaced).</summary>
    Task ReloadAllAsync(CancellationToken ct);

    /// <summary>Applies the changes since the last call; entries of other entities are ignored.</summary>
    Task ApplyAsync(IReadOnlyList<Change> changes, CancellationToken ct);
}

/// <summary>Settings of the routing stage (section <c>Routing</c>).</summary>
internal sealed class RoutingOptions
{
    public const string Section = "Routing";

    /// <summary>How often the change counter is read; changes made on another instance show within this time.</summary>
    [Range(0.1, 3600)]
    public double SyncSeconds { get; set; } = 1;
}

/// <summary>
/// Keeps every <see cref="IStoreChangeListener"/> current, the way <c>IdentitySync</c> keeps the key index:
/// one primary-key read of the change counter per tick, and the entries since the last version only when
/// it moved. The first load happens before the host serves requests, so the request path never reads the
/// database for routing or logins.
/// </summary>
internal sealed class StoreChangeSync(
    IGapuraStore store,
    IEnumerable<IStoreChangeListener> listeners,
    IOptions<RoutingOptions> options,
    TimeProvider time,
    ILogger<StoreChangeSync> log) : BackgroundService
{
    private readonly IStoreChangeListener[] _listeners = [.. listeners];
    private long _version = -1;
    private bool _failing;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await ReloadAllAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(Math.Max(0.05, options.Value.SyncSeconds)), time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken)) await TickAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    /// <summary>One poll; public to tests so they need not wait for the timer.</summary>
    internal async Task TickAsync(CancellationToken ct)
    {
        try
        {
            var version = await store.Changes.GetVersionAsync(ct);
            if (version != _version)
            {
                var batch = await store.Changes.GetChangesSinceAsync(_version, ct: ct);
                if (!batch.Complete) await ReloadAllAsync(ct);
                else
                {
                    foreach (var listener in _listeners) await listener.ApplyAsync(batch.Changes, ct);
                    _version = batch.Version;
                }
            }
            if (_failing) log.LogInformation("The database answers again; routing settings and upstream logins are in sync");
            _failing = false;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Keep serving from memory; the version did not move, so the next tick tries the same changes again.
            if (!_failing) log.LogWarning("Cannot follow changes to routing settings and upstream logins ({Error}); using the last known state", e.Message);
            _failing = true;
        }
    }

    private async Task ReloadAllAsync(CancellationToken ct)
    {
        // The version is read first: a change landing during the reload is applied again next tick, never lost.
        var version = await store.Changes.GetVersionAsync(ct);
        foreach (var listener in _listeners) await listener.ReloadAllAsync(ct);
        _version = version;
    }
}
