using Gapura.Conversations;
using Gapura.Providers.Copilot;
using Gapura.Simulators.Copilot;
using Microsoft.Extensions.Logging.Abstractions;
using static Gapura.Tests.Providers.Copilot.CopilotTestKit;

namespace Gapura.Tests.Providers.Copilot;

/// <summary>The Copilot token exchange against the simulated GitHub API: caching, renewal, single flight, refusal.</summary>
public class CopilotTokenServiceTests
{
    [Fact]
    public async Task Token_is_cached_renewed_in_the_background_after_refresh_in_and_awaited_once_expired()
    {
        await using var sim = await CopilotSimulator.StartAsync(new CopilotSimulatorOptions
        {
            CopilotTokenLifetime = TimeSpan.FromMinutes(30), RefreshAhead = TimeSpan.FromMinutes(10),
        });
        var clock = new HandClock(DateTimeOffset.UtcNow);
        var tokens = new CopilotTokenService(new HttpClient(), Options(sim), NullLogger.Instance, clock);
        var account = new CopilotAccount("process", sim.IssueGitHubToken());

        var first = await tokens.GetAsync(account, default);
        Assert.Equal(sim.BaseUrl, first.ApiBaseUrl);
        clock.Advance(TimeSpan.FromMinutes(19));
        Assert.Same(first, await tokens.GetAsync(account, default));
        Assert.Equal(1, sim.Exchanges);

        // Past refresh_in (20 min) but still valid: the old token serves while the renewal runs.
        clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Same(first, await tokens.GetAsync(account, default));
        var deadline = DateTime.UtcNow.AddSeconds(10);
        CopilotToken renewed;
        while (ReferenceEquals(renewed = await tokens.GetAsync(account, default), first) && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.NotEqual(first.Token, renewed.Token);
        Assert.Equal(2, sim.Exchanges);

        // Expired: the caller waits for a fresh one.
        clock.Advance(TimeSpan.FromHours(1));
        var fresh = await tokens.GetAsync(account, default);
        Assert.NotEqual(renewed.Token, fresh.Token);
        Assert.Equal(3, sim.Exchanges);
        var exchange = sim.Requests.Last(r => r.Path == CopilotTokenService.ExchangePath);
        Assert.Equal("token " + account.GitHubToken, exchange.Header("Authorization"));
        Assert.NotNull(exchange.Header("Editor-Version"));
    }

    [Fact]
    public async Task Concurrent_callers_share_one_exchange_and_accounts_do_not_share_tokens()
    {
        await using var sim = await CopilotSimulator.StartAsync(new CopilotSimulatorOptions { ExchangeDelay = TimeSpan.FromMilliseconds(300) });
        var tokens = new CopilotTokenService(new HttpClient(), Options(sim), NullLogger.Instance);
        var account = new CopilotAccount("a", sim.IssueGitHubToken());
        var results = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => tokens.GetAsync(account, default)));
        Assert.Equal(1, sim.Exchanges);
        Assert.Single(results.Select(r => r.Token).Distinct());

        var other = await tokens.GetAsync(new CopilotAccount("b", sim.IssueGitHubToken()), default);
        Assert.Equal(2, sim.Exchanges);
        Assert.NotEqual(results[0].Token, other.Token);
    }

    [Fact]
    public async Task Refused_exchange_is_an_upstream_login_error_and_is_not_cached()
    {
        await using var sim = await CopilotSimulator.StartAsync();
        var tokens = new CopilotTokenService(new HttpClient(), Options(sim), NullLogger.Instance);
        var github = sim.IssueGitHubToken(copilotSeat: false);
        var account = new CopilotAccount("process", github);
        var e = await Assert.ThrowsAsync<GatewayException>(() => tokens.GetAsync(account, default));
        Assert.Equal(ErrorKind.UpstreamLogin, e.Kind);
        Assert.Equal(503, e.Status);
        Assert.Contains("not valid for Copilot", e.Message);
        Assert.DoesNotContain(github, e.Message);

        var unknown = await Assert.ThrowsAsync<GatewayException>(() => tokens.GetAsync(new CopilotAccount("x", "gho_unknown"), default));
        Assert.Equal(503, unknown.Status);
        Assert.Contains("Bad credentials", unknown.Message);

        // The seat comes back: the next call exchanges again rather than replaying the failure.
        sim.SetSeat(github, true);
        Assert.False(string.IsNullOrEmpty((await tokens.GetAsync(account, default)).Token));
    }

    [Fact]
    public void Renewal_time_honours_refresh_in_and_never_falls_before_half_the_life()
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        var t = CopilotTokenService.Parse("""{"token":"t","expires_at":1800001800,"refresh_in":1500,"endpoints":{"api":"https://api.example/"}}""", now);
        Assert.Equal(now.AddSeconds(1500), t.RefreshAt);
        Assert.Equal("https://api.example", t.ApiBaseUrl);
        var noRefreshIn = CopilotTokenService.Parse("""{"token":"t","expires_at":1800001800}""", now);
        Assert.Equal(now.AddMinutes(25), noRefreshIn.RefreshAt);
        Assert.Equal(CopilotOptions.DefaultApiBaseUrl, noRefreshIn.ApiBaseUrl);
        var shortLived = CopilotTokenService.Parse("""{"token":"t","expires_at":1800000120,"refresh_in":10}""", now);
        Assert.Equal(now.AddSeconds(60), shortLived.RefreshAt);
        Assert.DoesNotContain("\"t\"", t.ToString());
    }
}
