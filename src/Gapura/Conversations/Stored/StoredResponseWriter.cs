using System.Data.Common;
using Gapura.Storage;

namespace Gapura.Conversations.Stored;

/// <summary>
/// Drains the <see cref="ResponseStore"/>'s queue into the database: everything queued goes in one transaction, at once
/// (another instance may be waiting for it — see <see cref="ResponseStore.InFlightWait"/>). While the database is away
/// the batch is retried with back-off; a batch it refuses is written one by one and only the offender is dropped (a turn
/// whose user was deleted meanwhile). Everything queued is written on shutdown.
/// </summary>
internal sealed class StoredResponseWriter(ResponseStore store, TimeProvider time, ILogger<StoredResponseWriter> log) : BackgroundService
{
    private const int BatchSize = 200;
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    private readonly List<StoredTurn> _batch = [];
    private long _droppedLogged;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (await store.Queue.WaitToReadAsync(stoppingToken))
            {
                Fill();
                await WriteBatchAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            do
            {
                Fill();
                await WriteBatchAsync(cancellationToken);
            } while (_batch.Count > 0 || store.Queue.Count > 0);
        }
        catch (OperationCanceledException)
        {
            log.LogError("Shutdown timed out with {Count} kept responses not written", _batch.Count + store.Queue.Count);
        }
    }

    private void Fill()
    {
        while (_batch.Count < BatchSize && store.Queue.TryRead(out var turn))
            if (!turn.Deleted) _batch.Add(turn);
    }

    private async Task WriteBatchAsync(CancellationToken ct)
    {
        var backoff = TimeSpan.FromMilliseconds(250);
        while (_batch.Count > 0)
        {
            try
            {
                _batch.RemoveAll(t => t.Deleted);
                await store.Repository.InsertAsync(_batch, ct);
                _batch.Clear();
                LogDrops();
                return;
            }
            catch (DbException e) when (IsRefused(e) && !ct.IsCancellationRequested)
            {
                foreach (var turn in _batch.ToList())
                {
                    try { await store.Repository.InsertAsync([turn], ct); }
                    catch (DbException one) when (IsRefused(one))
                    {
                        log.LogWarning("Kept responses: the database refused response {Id}; it is not kept: {Error}", turn.Id, one.Message);
                    }
                    _batch.Remove(turn);
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                if (e is not (DatabaseUnavailableException or DbException or TimeoutException))
                    log.LogError(e, "Kept responses: unexpected failure writing {Count} responses; retrying", _batch.Count);
                else
                    log.LogWarning("Kept responses: cannot write to the database ({Error}); retrying", e.Message);
                await Task.Delay(backoff, time, ct);
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
            }
        }
    }

    /// <summary>A refusal of the data itself (a constraint: the user is gone), as opposed to a database that is away or busy.</summary>
    private static bool IsRefused(DbException e) => e switch
    {
        Npgsql.PostgresException pg => pg.SqlState.StartsWith("23", StringComparison.Ordinal),
        Microsoft.Data.Sqlite.SqliteException sqlite => sqlite.SqliteErrorCode is 19,
        _ => false,
    };

    private void LogDrops()
    {
        var dropped = store.Dropped;
        if (dropped == _droppedLogged) return;
        log.LogError("Kept responses: {Count} responses were not kept because the write queue was full ({Capacity})", dropped - _droppedLogged, ResponseStore.QueueCapacity);
        _droppedLogged = dropped;
    }
}

/// <summary>Deletes kept responses past <c>Responses:RetentionMinutes</c>, every minute, in bounded batches.</summary>
internal sealed class StoredResponseSweep(ResponseStore store, ILogger<StoredResponseSweep> log) : BackgroundService
{
    private const int BatchSize = 5000;
    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (true)
            {
                await Task.Delay(Interval, store.Time, stoppingToken);
                try { await PurgeAsync(stoppingToken); }
                catch (Exception e) when (e is DatabaseUnavailableException or DbException)
                {
                    log.LogWarning("Kept responses: cannot reach the database to delete expired ones ({Error}); trying again in a minute", e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    /// <summary>Deletes every expired response; returns how many.</summary>
    public async Task<int> PurgeAsync(CancellationToken ct)
    {
        var now = store.Time.GetUtcNow();
        var total = 0;
        int deleted;
        do
        {
            deleted = await store.Repository.DeleteExpiredAsync(now, BatchSize, ct);
            total += deleted;
        } while (deleted == BatchSize && !ct.IsCancellationRequested);
        if (total > 0) log.LogInformation("Kept responses: deleted {Count} expired", total);
        return total;
    }
}

internal static class StoredResponseServiceCollectionExtensions
{
    /// <summary>Kept answers of <c>/v1/responses</c>: the store, its writer and its sweep. Register after storage.</summary>
    public static IServiceCollection AddGapuraStoredResponses(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<ResponsesOptions>(configuration.GetSection(ResponsesOptions.Section));
        Hosting.SettingsValidation.ValidateSettings<ResponsesOptions>(services, ResponsesOptions.Section);
        services.AddSingleton(sp => new StoredResponseRepository(sp.GetRequiredService<Database>(), sp.GetRequiredService<Secrets.SecretBox>()));
        services.AddSingleton<ResponseStore>();
        services.AddSingleton<StoredResponseWriter>();
        services.AddHostedService(sp => sp.GetRequiredService<StoredResponseWriter>());
        services.AddSingleton<StoredResponseSweep>();
        services.AddHostedService(sp => sp.GetRequiredService<StoredResponseSweep>());
        return services;
    }
}
