using System.Threading.Channels;
using Gapura.Storage;

namespace Gapura.Budgets.Alerts;

/// <summary>
/// Drains <see cref="BudgetAlerts"/>' queues in the background: one loop writes each alert's audit entry (action
/// <c>budget.threshold</c> / <c>budget.paused</c> / <c>budget.reset</c>, actor <see cref="BudgetAlerts.Actor"/>), another
/// POSTs it to the webhook. They are apart so that a receiver that is down (up to ~40 s of attempts per alert) never
/// delays the audit log. On shutdown both get <see cref="BudgetAlertTuning.ShutdownFlush"/> to finish what is queued.
/// </summary>
internal sealed class BudgetAlertDelivery(BudgetAlerts alerts, IGapuraStore store, TimeProvider time, ILogger<BudgetAlertDelivery> log)
    : IHostedService, IDisposable
{
    private readonly CancellationTokenSource _abort = new();
    private BudgetWebhook? _webhook;
    private Task _running = Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (alerts.WebhookUrl is { } url) _webhook = new BudgetWebhook(url, alerts.Tuning, time, log);
        _running = Task.WhenAll(
            Task.Run(() => DrainAsync(alerts.AuditQueue, AuditAsync, "audited")),
            Task.Run(() => DrainAsync(alerts.WebhookQueue, a => _webhook!.DeliverAsync(a, _abort.Token), "sent to the webhook")));
        return Task.CompletedTask;
    }

    /// <summary>The server has stopped taking requests: no alert comes any more, so finish the queues, for a bounded time.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        alerts.Complete();
        _abort.CancelAfter(alerts.Tuning.ShutdownFlush);
        try
        {
            await _running.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            _abort.Cancel();
        }
        var left = alerts.AuditQueue.Count + alerts.WebhookQueue.Count;
        if (left > 0) log.LogWarning("Shutdown: {Count} budget alert deliveries were still queued and are dropped (each alert is in the log)", left);
    }

    private async Task DrainAsync(ChannelReader<BudgetAlert> queue, Func<BudgetAlert, Task> deliver, string what)
    {
        try
        {
            while (await queue.WaitToReadAsync(_abort.Token))
                while (queue.TryRead(out var alert))
                {
                    try
                    {
                        await deliver(alert);
                    }
                    catch (OperationCanceledException) when (_abort.IsCancellationRequested)
                    {
                        log.LogWarning("Shutdown: budget alert {Event} {Id} for {Target} was not {What} in time", alert.Event, alert.Id, alert.Target, what);
                        return;
                    }
                    catch (Exception e)
                    {
                        // Delivery logs its own failures; anything else is a bug, which must not stop the next alerts.
                        log.LogError(e, "Budget alert {Event} {Id} was not {What}", alert.Event, alert.Id, what);
                    }
                }
        }
        catch (OperationCanceledException) when (_abort.IsCancellationRequested) { }
    }

    /// <summary>Writes the audit entry, retrying with the webhook's back-off while the database is unreachable.</summary>
    private async Task AuditAsync(BudgetAlert alert)
    {
        var entry = new NewAuditEntry(BudgetAlerts.Actor, alert.Event, alert.Target, $"{alert.Message} (event {alert.Id})");
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await store.Audit.WriteAsync(entry, _abort.Token);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException || !_abort.IsCancellationRequested)
            {
                if (attempt >= alerts.Tuning.MaxAttempts)
                {
                    log.LogError(e, "Budget alert {Event} {Id} for {Target} could not be audited after {Attempts} attempts", alert.Event, alert.Id, alert.Target, attempt);
                    return;
                }
                await Task.Delay(alerts.Tuning.BaseDelay * Math.Pow(2, attempt - 1), time, _abort.Token);
            }
        }
    }

    public void Dispose()
    {
        _abort.Dispose();
        _webhook?.Dispose();
    }
}
