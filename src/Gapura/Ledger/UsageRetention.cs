using Gapura.Storage;
using Microsoft.Extensions.Options;

namespace Gapura.Ledger;

/// <summary>
/// Deletes raw usage records older than <c>Usage:RetentionDays</c>, hourly, in bounded batches so the ledger
/// writer is never held up for long; the rollups are kept, so reports over older windows still work.
/// </summary>
internal sealed class UsageRetention(IGapuraStore store, IOptions<UsageOptions> options, TimeProvider time, ILogger<UsageRetention> log) : BackgroundService
{
    private const int BatchSize = 5000;
    private static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.RetentionDays <= 0) return;
        try
        {
            // A first pass soon after start (not during it), then hourly.
            await Task.Delay(TimeSpan.FromMinutes(1), time, stoppingToken);
            while (true)
            {
                try { await PurgeAsync(stoppingToken); }
                catch (Exception e) when (e is DatabaseUnavailableException or System.Data.Common.DbException)
                {
                    log.LogWarning("Usage retention: cannot reach the database ({Error}); trying again in an hour", e.Message);
                }
                await Task.Delay(Interval, time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }

    /// <summary>Deletes every expired raw record; returns how many.</summary>
    public async Task<int> PurgeAsync(CancellationToken ct)
    {
        var before = time.GetUtcNow() - TimeSpan.FromDays(options.Value.RetentionDays);
        var total = 0;
        int deleted;
        do
        {
            deleted = await store.Usage.DeleteRecordsBeforeAsync(before, BatchSize, ct);
            total += deleted;
        } while (deleted == BatchSize && !ct.IsCancellationRequested);
        if (total > 0) log.LogInformation("Usage retention: deleted {Count} records older than {Days} days", total, options.Value.RetentionDays);
        return total;
    }
}
