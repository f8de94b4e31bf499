using System.Diagnostics;
using System.Text.Json;
using Gapura.Budgets;
using Gapura.Budgets.Alerts;
using Gapura.Budgets.Counters;
using Gapura.Storage;
using Gapura.Tests.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gapura.Tests.Budgets.Alerts;

/// <summary>
/// Budget alerts end to end: <see cref="BudgetAlerts.Raise"/> against a real webhook receiver on 127.0.0.1 and a real
/// SQLite audit log, with the back-off shortened (<see cref="BudgetAlertTuning"/>) so retries take milliseconds.
/// </summary>
public sealed class BudgetAlertsTests : StoreTestBase
{
    private static readonly DateTimeOffset At = new(2026, 3, 1, 14, 3, 11, TimeSpan.Zero);
    private static readonly DateTimeOffset DayEnd = new(2026, 3, 2, 0, 0, 0, TimeSpan.Zero);

    private static readonly BudgetAlertTuning Fast = new()
    {
        BaseDelay = TimeSpan.FromMilliseconds(20),
        AttemptTimeout = TimeSpan.FromSeconds(3),
        ShutdownFlush = TimeSpan.FromMilliseconds(500),
    };

    private const string ThresholdMessage =
        "User alice@example.com has used 81% of the daily input-token budget (405k of 500k); action: restrict — requests are now served by the fast profile.";

    private protected override IBackend CreateBackend() => new SqliteBackend();

    private static BudgetLine Line(BudgetScope scope, string action, BudgetQuantity quantity, double used, double limit, bool resume = false)
    {
        var window = new BudgetLimit(BudgetPeriod.Daily,
            quantity == BudgetQuantity.Input ? (long)limit : null, quantity == BudgetQuantity.Output ? (long)limit : null,
            quantity == BudgetQuantity.Cost ? limit : null, 0.8, action, resume);
        return new BudgetLine(scope, scope.KindName, window, quantity, new MeterKey(scope.Name, BudgetPeriod.Daily, "2026-03-01"),
            used, 0, limit, DayEnd, BudgetStates.Alerted, null);
    }

    private static BudgetAlert AliceThreshold()
        => BudgetAlert.ThresholdCrossed(Line(BudgetScope.User(42), BudgetActions.Restrict, BudgetQuantity.Input, 405_000, 500_000), At, "alice@example.com");

    [Fact]
    public async Task The_webhook_receives_the_event_json_and_the_audit_log_has_it()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var rig = await Rig.StartAsync(Store, receiver.Url);
        var alert = AliceThreshold();

        rig.Alerts.Raise(alert);

        Assert.True(await Eventually.HoldsAsync(() => receiver.Received.Count == 1));
        var hook = Assert.Single(receiver.Received);
        Assert.StartsWith("application/json", hook.ContentType);
        Assert.Equal("budget.threshold", hook.Headers["x-gapura-event"]);
        Assert.Equal(alert.Id, hook.Headers["x-gapura-event-id"]);
        Assert.Equal("1", hook.Headers["x-gapura-attempt"]);
        using var json = JsonDocument.Parse(hook.Body);
        var e = json.RootElement;
        Assert.Equal(alert.Id, e.GetProperty("id").GetString());
        Assert.True(Guid.TryParse(alert.Id, out _));
        Assert.Equal("budget.threshold", e.GetProperty("event").GetString());
        Assert.Equal("threshold", e.GetProperty("kind").GetString());
        Assert.Equal(At, e.GetProperty("at").GetDateTimeOffset());
        Assert.Equal("user:42", e.GetProperty("scope").GetString());
        Assert.Equal("user", e.GetProperty("scope_kind").GetString());
        Assert.Equal("alice@example.com", e.GetProperty("user_email").GetString());
        Assert.Equal(JsonValueKind.Null, e.GetProperty("key_prefix").ValueKind);
        Assert.Equal("daily", e.GetProperty("window").GetString());
        Assert.Equal("input", e.GetProperty("quantity").GetString());
        Assert.Equal(405_000, e.GetProperty("used").GetInt64());
        Assert.Equal(500_000, e.GetProperty("limit").GetInt64());
        Assert.Equal(0.81, e.GetProperty("share").GetDouble());
        Assert.Equal(0.8, e.GetProperty("threshold").GetDouble());
        Assert.Equal("restrict", e.GetProperty("action").GetString());
        Assert.Equal(DayEnd, e.GetProperty("window_end").GetDateTimeOffset());
        Assert.Equal(JsonValueKind.Null, e.GetProperty("reset_by").ValueKind);
        Assert.Equal(ThresholdMessage, e.GetProperty("message").GetString());
        Assert.Contains("\"at\":\"2026-03-01T14:03:11Z\"", hook.Body);
        Assert.Contains("\"window_end\":\"2026-03-02T00:00:00Z\"", hook.Body);
        Assert.Contains("— requests", hook.Body); // written as is, not as \u2014

        Assert.True(await Eventually.HoldsAsync(async () => (await AuditAsync()).Count == 1));
        var entry = Assert.Single(await AuditAsync());
        Assert.Equal(("budget.threshold", "user:alice@example.com"), (entry.Action, entry.Target));
        Assert.Equal($"{ThresholdMessage} (event {alert.Id})", entry.Detail);

        // The warning is written by Raise itself; the webhook's path (its secret) never reaches a log line.
        Assert.Contains(rig.Log.Lines, l => l.StartsWith("Warning:") && l.Contains(ThresholdMessage));
        Assert.Contains(rig.Log.Lines, l => Delivered(l) && l.Contains(receiver.BaseUrl));
        Assert.DoesNotContain(rig.Log.Lines, l => l.Contains("secret-path-token"));
    }

    [Fact]
    public async Task A_receiver_failing_twice_with_500_gets_the_event_on_the_third_attempt()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (attempt, http) =>
        {
            if (attempt <= 2) http.Response.StatusCode = 500;
            return Task.CompletedTask;
        };
        await using var rig = await Rig.StartAsync(Store, receiver.Url);
        var alert = AliceThreshold();

        rig.Alerts.Raise(alert);

        Assert.True(await Eventually.HoldsAsync(() => rig.Log.Lines.Any(Delivered)));
        var hooks = receiver.Received.ToList();
        Assert.Equal(new[] { "1", "2", "3" }, hooks.Select(h => h.Headers["x-gapura-attempt"]));
        Assert.All(hooks, h => Assert.Equal(alert.Id, h.Headers["x-gapura-event-id"]));
        Assert.Single(hooks.Select(h => h.Body).Distinct());
        Assert.Equal(2, rig.Log.Lines.Count(l => l.Contains("answered 500") && l.Contains("retrying")));
        Assert.Contains(rig.Log.Lines, l => Delivered(l) && l.Contains("attempt 3"));
    }

    [Fact]
    public async Task A_redirect_is_not_followed_and_is_logged_with_its_target()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (_, http) =>
        {
            http.Response.StatusCode = 302;
            http.Response.Headers.Location = receiver.BaseUrl + "/moved/elsewhere?token=redirect-secret";
            return Task.CompletedTask;
        };
        await using var rig = await Rig.StartAsync(Store, receiver.Url);

        rig.Alerts.Raise(AliceThreshold());

        Assert.True(await Eventually.HoldsAsync(() => rig.Log.Lines.Any(l => l.Contains("was not delivered"))));
        await Task.Delay(Fast.BaseDelay * 8); // time enough for a retry, if there were one
        Assert.Single(receiver.Received);
        Assert.Empty(receiver.Elsewhere);
        var failure = Assert.Single(rig.Log.Lines, l => l.Contains("was not delivered"));
        Assert.Contains("302", failure);
        Assert.Contains(receiver.BaseUrl + "/moved/elsewhere", failure);
        Assert.Contains("not retried", failure);
        Assert.DoesNotContain("redirect-secret", string.Join("\n", rig.Log.Lines));
        // The audit entry does not depend on the webhook.
        Assert.True(await Eventually.HoldsAsync(async () => (await AuditAsync()).Count == 1));
    }

    [Fact]
    public async Task A_400_is_not_retried()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (_, http) =>
        {
            http.Response.StatusCode = 400;
            return Task.CompletedTask;
        };
        await using var rig = await Rig.StartAsync(Store, receiver.Url);

        rig.Alerts.Raise(AliceThreshold());

        Assert.True(await Eventually.HoldsAsync(() => rig.Log.Lines.Any(l => l.Contains("was not delivered"))));
        await Task.Delay(Fast.BaseDelay * 8);
        Assert.Single(receiver.Received);
        Assert.Contains(rig.Log.Lines, l => l.Contains("answered 400") && l.Contains("not retried"));
    }

    [Fact]
    public async Task A_429_is_retried()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (attempt, http) =>
        {
            if (attempt == 1) http.Response.StatusCode = 429;
            return Task.CompletedTask;
        };
        await using var rig = await Rig.StartAsync(Store, receiver.Url);

        rig.Alerts.Raise(AliceThreshold());

        Assert.True(await Eventually.HoldsAsync(() => rig.Log.Lines.Any(l => Delivered(l) && l.Contains("attempt 2"))));
        Assert.Equal(2, receiver.Received.Count);
    }

    [Fact]
    public async Task Raise_returns_at_once_while_the_receiver_hangs_and_a_full_queue_drops_only_webhook_deliveries()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (_, _) => receiver.Hang();
        await using var rig = await Rig.StartAsync(Store, receiver.Url, Fast with { WebhookQueue = 4 });
        rig.Alerts.Raise(AliceThreshold()); // the first call pays for JIT compilation; this one is not timed
        Assert.True(await Eventually.HoldsAsync(() => receiver.Received.Count == 1)); // the receiver now holds a delivery

        var times = new List<TimeSpan>();
        for (var i = 0; i < 40; i++)
        {
            var alert = AliceThreshold();
            var clock = Stopwatch.StartNew();
            rig.Alerts.Raise(alert);
            times.Add(clock.Elapsed);
        }

        times.Sort();
        Assert.True(times[times.Count / 2] < TimeSpan.FromMilliseconds(1), $"median Raise took {times[times.Count / 2].TotalMilliseconds} ms");
        Assert.True(times[^1] < TimeSpan.FromMilliseconds(100), $"slowest Raise took {times[^1].TotalMilliseconds} ms");
        // 40 alerts into a queue of 4: 36 webhook deliveries dropped, oldest first, each logged; every alert is audited.
        Assert.Equal(36, rig.Log.Lines.Count(l => l.Contains("dropped the oldest delivery")));
        Assert.True(await Eventually.HoldsAsync(async () => (await AuditAsync()).Count == 41));
    }

    [Fact]
    public async Task Without_a_webhook_nothing_is_posted_but_the_audit_is_written()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var rig = await Rig.StartAsync(Store, webhookUrl: null);
        var paused = BudgetAlert.Paused(Line(BudgetScope.Key(7), BudgetActions.Pause, BudgetQuantity.Cost, 20.004, 20), At, "bob@example.com", "gk_ab12");
        var reset = BudgetAlert.Reset(BudgetScope.Key(7), At, "admin@example.com", "bob@example.com", "gk_ab12");

        rig.Alerts.Raise(paused);
        rig.Alerts.Raise(reset);

        Assert.True(await Eventually.HoldsAsync(async () => (await AuditAsync()).Count == 2));
        var entries = await AuditAsync();
        Assert.Equal(new[] { "budget.reset", "budget.paused" }, entries.Select(e => e.Action)); // newest first
        Assert.All(entries, e => Assert.Equal("key:gk_ab12", e.Target));
        Assert.Equal(
            "API key gk_ab12 of bob@example.com is paused: it has used 100% of the daily cost budget ($20.00 of $20.00); requests are refused until an admin resets it.",
            paused.Message);
        Assert.Equal(
            "API key gk_ab12 of bob@example.com had its budget reset by admin@example.com: its current windows count from zero again and any pause is lifted.",
            reset.Message);
        await rig.StopAsync();
        Assert.Empty(receiver.Received);
        Assert.Empty(receiver.Elsewhere);
        Assert.Null(rig.Alerts.WebhookUrl);
    }

    [Fact]
    public async Task Shutdown_flushes_what_is_queued()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var rig = await Rig.StartAsync(Store, receiver.Url);

        for (var i = 0; i < 3; i++) rig.Alerts.Raise(AliceThreshold());
        await rig.StopAsync();

        Assert.Equal(3, receiver.Received.Count);
        Assert.Equal(3, (await AuditAsync()).Count);
        rig.Alerts.Raise(AliceThreshold()); // after shutdown: logged, not queued, and no exception
        Assert.Contains(rig.Log.Lines, l => l.Contains("not audited") && l.Contains("stopping"));
    }

    [Fact]
    public void Events_serialize_to_one_shape_and_messages_read_well()
    {
        var reset = BudgetAlert.Reset(BudgetScope.Gateway, At, resetBy: null);
        using (var json = JsonDocument.Parse(reset.ToJson()))
        {
            var e = json.RootElement;
            Assert.Equal("budget.reset", e.GetProperty("event").GetString());
            Assert.Equal("gateway", e.GetProperty("scope").GetString());
            foreach (var field in new[] { "window", "quantity", "used", "limit", "share", "threshold", "action", "window_end", "reset_by", "user_email", "key_prefix" })
                Assert.Equal(JsonValueKind.Null, e.GetProperty(field).ValueKind);
        }
        Assert.Equal("The gateway had its budget reset: its current windows count from zero again and any pause is lifted.", reset.Message);
        Assert.Equal("gateway", reset.Target);

        // A limit of 0 makes the share infinite, which JSON cannot hold.
        var zero = BudgetAlert.Paused(Line(BudgetScope.User(5), BudgetActions.Pause, BudgetQuantity.Output, 12, 0, resume: true), At);
        using (var json = JsonDocument.Parse(zero.ToJson()))
            Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("share").ValueKind);
        Assert.Equal(
            "User #5 is paused: it has used >999% of the daily output-token budget (12 of 0); requests are refused until the window ends (2026-03-02 00:00 UTC) or an admin resets it.",
            zero.Message);
        Assert.Equal("user:5", zero.Target);

        var notify = BudgetAlert.ThresholdCrossed(Line(BudgetScope.Gateway, BudgetActions.Notify, BudgetQuantity.Cost, 16.5, 20), At);
        Assert.Equal("The gateway has used 82% of the daily cost budget ($16.50 of $20.00); action: notify — requests go on.", notify.Message);
        using (var json = JsonDocument.Parse(notify.ToJson()))
            Assert.Equal(16.5, json.RootElement.GetProperty("used").GetDouble());

        Assert.NotEqual(AliceThreshold().Id, AliceThreshold().Id);
    }

    [Fact]
    public void A_webhook_url_that_is_not_http_is_refused_naming_the_setting()
    {
        var error = Assert.Throws<BudgetConfigException>(() => new BudgetAlerts("ftp://example.com/hook", new LogSink().For<BudgetAlerts>(), Fast));
        Assert.Contains("Budgets:WebhookUrl", error.Message);
        Assert.Null(new BudgetAlerts("  ", new LogSink().For<BudgetAlerts>(), Fast).WebhookUrl);
    }

    [Fact]
    public void AddGapuraBudgets_registers_the_alerts_and_their_delivery()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["Budgets:WebhookUrl"] = "https://hooks.example.com/budget" })
            .Build();
        var services = new ServiceCollection().AddLogging().AddSingleton<IGapuraStore>(Store).AddSingleton(Db)
            .AddSingleton<IConfiguration>(configuration).AddSingleton(TimeProvider.System);
        services.AddGapuraBudgets(configuration);
        using var provider = services.BuildServiceProvider();

        var alerts = provider.GetRequiredService<BudgetAlerts>();
        Assert.Equal("https://hooks.example.com/budget", alerts.WebhookUrl?.ToString());
        Assert.Contains(provider.GetServices<IHostedService>(), s => s is BudgetAlertDelivery);
        Assert.IsType<SqlBudgetCounters>(provider.GetRequiredService<IBudgetCounters>());
    }

    private static bool Delivered(string line) => line.Contains("delivered to the webhook") && !line.Contains("not delivered");

    private Task<IReadOnlyList<AuditEntry>> AuditAsync() => Store.Audit.ListAsync(new AuditQuery(Actor: BudgetAlerts.Actor));

    /// <summary>A started <see cref="BudgetAlerts"/> and its delivery, stopped at the end of the test.</summary>
    private sealed class Rig : IAsyncDisposable
    {
        private bool _stopped;

        private Rig(BudgetAlerts alerts, BudgetAlertDelivery delivery, LogSink log) => (Alerts, Delivery, Log) = (alerts, delivery, log);

        public BudgetAlerts Alerts { get; }

        public BudgetAlertDelivery Delivery { get; }

        public LogSink Log { get; }

        public static async Task<Rig> StartAsync(IGapuraStore store, string? webhookUrl, BudgetAlertTuning? tuning = null)
        {
            var log = new LogSink();
            var alerts = new BudgetAlerts(webhookUrl, log.For<BudgetAlerts>(), tuning ?? Fast);
            var delivery = new BudgetAlertDelivery(alerts, store, TimeProvider.System, log.For<BudgetAlertDelivery>());
            await delivery.StartAsync(CancellationToken.None);
            return new Rig(alerts, delivery, log);
        }

        public async Task StopAsync()
        {
            if (_stopped) return;
            _stopped = true;
            await Delivery.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        }

        public async ValueTask DisposeAsync()
        {
            await StopAsync();
            Delivery.Dispose();
        }
    }
}
