using System.Text.Json;
using Gapura.Budgets;
using Gapura.Budgets.Alerts;
using Gapura.Storage;
using Gapura.Tests.Integration;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Budgets.Alerts;

/// <summary>Budget alerts inside a real gateway: its own registration, store and shutdown.</summary>
public sealed class BudgetAlertsGatewayTests
{
    [Fact]
    public async Task A_gateway_with_a_webhook_delivers_alerts_and_audits_them_in_its_database()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var gateway = new GatewayFixture();
        gateway.Settings.Add($"--Budgets:WebhookUrl={receiver.Url}");
        await gateway.InitializeAsync();
        try
        {
            var alert = BudgetAlert.Reset(BudgetScope.User(3), DateTimeOffset.UtcNow, GatewayFixture.AdminEmail, "carol@example.com");

            gateway.Services.GetRequiredService<BudgetAlerts>().Raise(alert);

            Assert.True(await Eventually.HoldsAsync(() => receiver.Received.Count == 1));
            using var json = JsonDocument.Parse(receiver.Received.Single().Body);
            Assert.Equal(alert.Id, json.RootElement.GetProperty("id").GetString());
            Assert.Equal("budget.reset", json.RootElement.GetProperty("event").GetString());
            Assert.Equal(GatewayFixture.AdminEmail, json.RootElement.GetProperty("reset_by").GetString());
            var store = gateway.Services.GetRequiredService<IGapuraStore>();
            Assert.True(await Eventually.HoldsAsync(async () =>
                (await store.Audit.ListAsync(new AuditQuery(Actor: BudgetAlerts.Actor))).Any(e => e.Action == "budget.reset" && e.Target == "user:carol@example.com")));
            Assert.Contains(gateway.Logs.Lines, l => l.Contains(alert.Message));
            await gateway.StopAsync(); // the delivery stops with the host, within its flush time
            Assert.DoesNotContain(gateway.Logs.Lines, l => l.Contains("secret-path-token"));
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_webhook_url_that_is_not_http_stops_the_gateway_at_start()
    {
        var gateway = new GatewayFixture();
        gateway.Settings.Add("--Budgets:WebhookUrl=hooks.example.com/budget");
        try
        {
            var error = await Assert.ThrowsAsync<BudgetConfigException>(gateway.InitializeAsync);
            Assert.Contains("Budgets:WebhookUrl", error.Message);
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }
}
