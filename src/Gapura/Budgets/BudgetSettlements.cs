using Gapura.Budgets.Alerts;
using System.Threading.Channels;
using Gapura.Budgets.Counters;
using Microsoft.Extensions.Options;

namespace Gapura.Budgets;

/// <summary>
/// Settles finished requests off the request path: a background loop takes them in batches (one transaction each), then
/// acts on what the new counts say — each window's alert once (across instances, <see cref="IBudgetCounters.TryMarkAlertedAsync"/>),
/// and a <c>pause</c> window that reached its limit is paused. A settlement that cannot be written is kept and retried:
/// the counts never lose a finished request. The same loop renews this instance's open reservations and releases those
/// of instances that died.
/// </summary>
internal sealed class BudgetSettlements(
    IBudgetCounters counters,
    BudgetConfigSource source,
    BudgetWindows windows,
    BudgetAnnouncer announcer,
    IOptions<BudgetOptions> options,
    ILogger<BudgetSettlements> log,
    TimeProvider time) : BackgroundService
{
    private const int MaxBatch = 256;

    /// <summary>The counts this instance last saw, refreshed by every settlement batch (see <see cref="MeterCache"/>).</summary>
    public MeterCache Meters { get; } = new(counters);

    private readonly Channel<Settlement> _queue = Channel.CreateUnbounded<Settlement>(new UnboundedChannelOptions { SingleReader = true });
    private int _pending;

    /// <summary>This process's name on its reservations: renewed while it runs, released by the others when it stops.</summary>
    public string Instance { get; } = $"{(Environment.MachineName.Length > 40 ? Environment.MachineName[..40] : Environment.MachineName)}-{Environment.ProcessId}-{Guid.NewGuid():N}";

    public void Enqueue(Settlement settlement)
    {
        Interlocked.Increment(ref _pending);
        _queue.Writer.TryWrite(settlement);
    }

    /// <summary>Settlements accepted but not yet written (tests wait for 0; shutdown drains them).</summary>
    public int Pending => Volatile.Read(ref _pending);

    /// <summary>Waits until every settlement handed over so far is written, or the timeout passes.</summary>
    public async Task<bool> WhenSettledAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Pending > 0)
        {
            if (DateTime.UtcNow > deadline) return false;
            await Task.Delay(5);
        }
        return true;
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
        => Task.WhenAll(SettleLoopAsync(stoppingToken), RenewLoopAsync(stoppingToken));

    private async Task SettleLoopAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Settlement>(MaxBatch);
        var failures = 0;
        while (true)
        {
            if (batch.Count == 0)
            {
                try
                {
                    if (!await _queue.Reader.WaitToReadAsync(stoppingToken)) return;
                }
                catch (OperationCanceledException)
                {
                    // Stopping: write what is left, within the host's shutdown time.
                    if (!_queue.Reader.TryPeek(out _)) return;
                }
            }
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var next)) batch.Add(next);
            try
            {
                var states = await counters.SettleAsync(batch, CancellationToken.None);
                Meters.Update(states);
                Interlocked.Add(ref _pending, -batch.Count);
                batch.Clear();
                failures = 0;
                await ActOnAsync(states);
            }
            catch (Exception e) when (BudgetGate.IsUnreachable(e))
            {
                // Kept, not dropped: retried until the store is back (a stop gives up after the host's shutdown timeout).
                failures++;
                if (failures == 1 || failures % 60 == 0)
                    log.LogError("Budget settlements cannot be written ({Error}); {Count} kept and retried", e.Message, Pending);
                if (stoppingToken.IsCancellationRequested && failures > 3) return;
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 100 * failures)), CancellationToken.None);
            }
        }
    }

    /// <summary>Alerts and pauses the new counts call for. Each window alerts once: the counters decide which instance sends it.</summary>
    private async Task ActOnAsync(IReadOnlyList<MeterState> states)
    {
        var config = source.Current;
        var now = windows.Now;
        foreach (var state in states)
        {
            if (BudgetScope.TryParse(state.Key.Scope) is not { } scope || config.BudgetOf(scope)?.Of(state.Key.Period) is not { } window) continue;
            foreach (var q in BudgetQuantities.All)
            {
                if (window.LimitOf(q) is not { } limit) continue;
                var used = state.Used.Of(q);
                try
                {
                    if (used >= window.AlertThreshold * limit && !state.Alerted(q) && await counters.TryMarkAlertedAsync(state.Key, q, CancellationToken.None))
                        announcer.Announce(BudgetAlertKinds.Threshold, scope, window, q, used, limit, windows.Of(window.Period, now).End, now);
                    if (window.IsPause && used >= limit)
                    {
                        var end = windows.Of(window.Period, now).End;
                        var pause = new BudgetPause(scope.Name, window.Period, now, window.ResumeAtPeriodEnd ? end : null,
                            $"{window.PeriodName} {q.Name()} limit reached: {BudgetStatus.Amount(q, used)} of {BudgetStatus.Amount(q, limit)}");
                        if (await counters.PauseAsync(pause, CancellationToken.None))
                            announcer.Announce(BudgetAlertKinds.Paused, scope, window, q, used, limit, end, now);
                    }
                }
                catch (Exception e) when (BudgetGate.IsUnreachable(e))
                {
                    log.LogWarning("Budget {Scope} {Window}: the alert or pause could not be recorded ({Error}); the next settlement retries", scope.Name, window.PeriodName, e.Message);
                }
            }
        }
    }

    private async Task RenewLoopAsync(CancellationToken stoppingToken)
    {
        var lifetime = TimeSpan.FromSeconds(Math.Max(10, options.Value.ReservationSeconds));
        // Renewed four times per lifetime: an instance must miss several renewals in a row before its reservations go.
        using var timer = new PeriodicTimer(lifetime / 4, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                if (!source.Current.HasBudgets) continue;
                try
                {
                    var now = windows.Now;
                    await counters.RenewAsync(Instance, now + lifetime, stoppingToken);
                    var expired = await counters.ExpireAsync(now, stoppingToken);
                    if (expired > 0) log.LogWarning("Released {Count} budget reservations of requests whose instance stopped renewing them", expired);
                }
                catch (Exception e) when (BudgetGate.IsUnreachable(e))
                {
                    log.LogWarning("Budget reservations could not be renewed ({Error})", e.Message);
                }
            }
        }
        catch (OperationCanceledException) { }
    }
}
