using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace Gapura.Budgets.Alerts;

/// <summary>
/// Delivery settings that are not configuration: fixed in production, shortened by tests (a 1 s base delay would make a
/// retry test take seconds).
/// </summary>
internal sealed record BudgetAlertTuning
{
    public static readonly BudgetAlertTuning Default = new();

    /// <summary>The wait after the first failed attempt; it doubles after each further one (1 s, 2 s, 4 s, 8 s).</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Attempts per webhook delivery (and per audit write), the first one included.</summary>
    public int MaxAttempts { get; init; } = 5;

    /// <summary>How long one POST may take, connection included.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The longest <c>Retry-After</c> honoured; a longer one is cut to this.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Webhook deliveries waiting; when full, the oldest is dropped (logged).</summary>
    public int WebhookQueue { get; init; } = 256;

    /// <summary>
    /// Audit entries waiting. Alerts come at most once per scope, window and quantity, so this is never reached unless
    /// the database is down for long; then the alert is still in the log line <see cref="BudgetAlerts.Raise"/> wrote.
    /// </summary>
    public int AuditQueue { get; init; } = 10_000;

    /// <summary>How long shutdown waits for queued audit entries and webhook deliveries.</summary>
    public TimeSpan ShutdownFlush { get; init; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// Announces budget events (a threshold crossed, a budget paused, a budget reset): a warning in the log at once, then —
/// off the request path, in <see cref="BudgetAlertDelivery"/> — an audit entry and, when <c>Budgets:WebhookUrl</c> is
/// set, a JSON POST retried with back-off. The caller decides that an alert is due (once per window across instances,
/// through <c>IBudgetCounters.TryMarkAlertedAsync</c>); this only delivers it.
/// </summary>
internal sealed class BudgetAlerts
{
    /// <summary>The audit actor of budget events, in the canary monitor's words for things the gateway does by itself.</summary>
    public const string Actor = "gapura (automatic)";

    public const string WebhookSetting = "Budgets:WebhookUrl";

    private readonly ILogger _log;
    private readonly Channel<BudgetAlert> _audit;
    private readonly Channel<BudgetAlert> _webhook;

    public BudgetAlerts(IOptions<BudgetOptions> options, ILogger<BudgetAlerts> log)
        : this(options.Value.WebhookUrl, log, BudgetAlertTuning.Default) { }

    /// <exception cref="BudgetConfigException"><paramref name="webhookUrl"/> is set but not an absolute http(s) URL.</exception>
    internal BudgetAlerts(string? webhookUrl, ILogger log, BudgetAlertTuning tuning)
    {
        _log = log;
        Tuning = tuning;
        WebhookUrl = ParseWebhookUrl(webhookUrl);
        _audit = Channel.CreateBounded<BudgetAlert>(new BoundedChannelOptions(tuning.AuditQueue)
        {
            FullMode = BoundedChannelFullMode.Wait, // TryWrite then says false, and Raise logs what was lost
            SingleReader = true,
        });
        _webhook = Channel.CreateBounded<BudgetAlert>(new BoundedChannelOptions(tuning.WebhookQueue)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        }, dropped => _log.LogWarning(
            "Budget alert webhook queue is full ({Capacity}); dropped the oldest delivery, {Event} {Id} for {Target} (it is still audited)",
            Tuning.WebhookQueue, dropped.Event, dropped.Id, dropped.Target));
    }

    public BudgetAlertTuning Tuning { get; }

    /// <summary>Where events are POSTed, or null when <c>Budgets:WebhookUrl</c> is empty.</summary>
    public Uri? WebhookUrl { get; }

    internal ChannelReader<BudgetAlert> AuditQueue => _audit.Reader;

    internal ChannelReader<BudgetAlert> WebhookQueue => _webhook.Reader;

    /// <summary>
    /// Announces <paramref name="alert"/>: logs it now and queues its audit entry and webhook delivery. Returns at once
    /// and never throws — the request that noticed the alert must not wait for, or fail with, its delivery.
    /// </summary>
    public void Raise(BudgetAlert alert)
    {
        try
        {
            _log.LogWarning("Budget {Kind} for {Target}: {Message}", alert.Kind, alert.Target, alert.Message);
            if (!_audit.Writer.TryWrite(alert))
                _log.LogError("Budget alert {Event} {Id} for {Target} is not audited: the audit queue is full or the gateway is stopping",
                    alert.Event, alert.Id, alert.Target);
            if (WebhookUrl is not null && !_webhook.Writer.TryWrite(alert))
                _log.LogWarning("Budget alert {Event} {Id} for {Target} is not sent to the webhook: the gateway is stopping",
                    alert.Event, alert.Id, alert.Target);
        }
        catch (Exception e)
        {
            // A logging provider that throws must not fail the request that raised the alert.
            try { _log.LogError(e, "Budget alert {Id} could not be queued", alert?.Id); }
            catch (Exception) { }
        }
    }

    /// <summary>No more alerts: the queues end once drained (shutdown).</summary>
    internal void Complete()
    {
        _audit.Writer.TryComplete();
        _webhook.Writer.TryComplete();
    }

    internal static Uri? ParseWebhookUrl(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        if (!Uri.TryCreate(value.Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new BudgetConfigException(WebhookSetting, $"{WebhookSetting}: not an absolute http(s) URL.");
        return uri;
    }

    /// <summary>
    /// The webhook as logs show it: scheme and host only. Its path and query may be the secret (chat webhooks put their
    /// token in the path), so they never reach a log line.
    /// </summary>
    internal static string Describe(Uri url) => $"{url.Scheme}://{url.Authority}";
}
