using Gapura.Providers.Kiro.Logins;
using Gapura.Simulators.Kiro;
using Gapura.Tests.Integration;
using Gapura.Tests.Providers.Kiro.Logins;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Telemetry;

/// <summary>Users' upstream logins by state, read from the in-memory pools when scraped.</summary>
public sealed class LoginMetricsTests
{
    [Fact]
    public async Task Logins_show_by_provider_and_state_and_follow_a_login_going_dead()
    {
        await using var gateway = await LoginsGateway.StartAsync();
        var (user, _) = await gateway.AddUserAsync("logins-metrics@gapura.test");
        await gateway.ConnectAsync(user.Id, "work", gateway.Kiro.IssueCredentials(KiroLoginKind.Social, TimeSpan.FromHours(1)));
        var home = await gateway.ConnectAsync(user.Id, "home", gateway.Kiro.IssueCredentials(KiroLoginKind.Social, TimeSpan.FromHours(1)));

        using var http = gateway.Http(apiKey: null);
        var scrape = new PrometheusText(await http.GetStringAsync("/metrics"));
        Assert.Equal(2, scrape.Sum("gapura_upstream_logins", ("provider", "kiro"), ("state", "alive")));
        Assert.Equal(0, scrape.Sum("gapura_upstream_logins", ("provider", "kiro"), ("state", "dead")));
        Assert.Contains("gapura_upstream_logins{provider=\"kiro\",state=\"dead\"} 0", scrape.Text);

        await gateway.Store.UpstreamLogins.MarkDeadAsync(home.Id, "refused by the upstream: test");
        await gateway.Services.GetRequiredService<KiroLoginPool>().ReloadLoginAsync(home.Id, default);
        scrape = new PrometheusText(await http.GetStringAsync("/metrics"));
        Assert.Equal(1, scrape.Sum("gapura_upstream_logins", ("provider", "kiro"), ("state", "alive")));
        Assert.Equal(1, scrape.Sum("gapura_upstream_logins", ("provider", "kiro"), ("state", "dead")));
        // Labels are providers and states: no label names a user, an email or a login's label.
        Assert.DoesNotContain("logins-metrics@gapura.test", scrape.Text);
        Assert.DoesNotContain("\"home\"", scrape.Text);
    }
}
