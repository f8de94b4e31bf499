using System.Text.Json.Nodes;
using Gapura.Conversations;
using Gapura.Providers.Kiro.Auth;
using Gapura.Simulators.Kiro;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Providers.Kiro.Auth;

public sealed class KiroTokenProviderTests : IAsyncLifetime
{
    private const string IdePath = ".aws/sso/cache/kiro-auth-token.json";
    private const string CliPath = ".local/share/kiro-cli/data.sqlite3";
    private readonly TempHome _home = new();
    private KiroSimulator _simulator = null!;

    public async Task InitializeAsync() => _simulator = await KiroSimulator.StartAsync();

    public async Task DisposeAsync()
    {
        await _simulator.DisposeAsync();
        _home.Dispose();
    }

    /// <summary>Within the five-minute refresh skew: the provider must refresh before using it.</summary>
    private static DateTimeOffset SoonExpiring => DateTimeOffset.UtcNow.AddMinutes(2);

    [Fact]
    public async Task A_fresh_token_is_used_without_refreshing()
    {
        var login = _simulator.IssueCredentials();
        _home.WriteJson(IdePath, KiroAuthKit.IdeJson(login));
        var (provider, _) = KiroAuthKit.Provider(KiroAuthKit.OptionsFor(_simulator), _home);

        var token = await provider.GetAsync(false, default);

        Assert.Equal(login.AccessToken, token.Token);
        Assert.Equal(login.ProfileArn, token.ProfileArn);
        Assert.Equal(0, _simulator.RefreshCalls);
    }

    [Fact]
    public async Task A_social_login_refreshes_on_the_desktop_endpoint_and_is_written_back_keeping_unknown_fields()
    {
        var login = _simulator.IssueCredentials(KiroLoginKind.Social);
        var json = KiroAuthKit.IdeJson(login, SoonExpiring);
        json["profileArn"] = null;
        json["someFutureField"] = new JsonObject { ["keep"] = true };
        _home.WriteJson(IdePath, json);
        var (provider, _) = KiroAuthKit.Provider(KiroAuthKit.OptionsFor(_simulator), _home);

        var token = await provider.GetAsync(false, default);

        Assert.Equal(1, _simulator.DesktopRefreshCalls);
        Assert.NotEqual(login.AccessToken, token.Token);
        Assert.True(_simulator.IsValidAccessToken(token.Token));
        Assert.Equal(_simulator.Options.ProfileArn, token.ProfileArn);
        var written = _home.ReadJson(IdePath);
        Assert.Equal(token.Token, written["accessToken"]!.GetValue<string>());
        Assert.NotEqual(login.RefreshToken, written["refreshToken"]!.GetValue<string>());
        Assert.True(written["someFutureField"]!["keep"]!.GetValue<bool>());
        Assert.Equal("Github", written["provider"]!.GetValue<string>());
        Assert.True(DateTimeOffset.Parse(written["expiresAt"]!.GetValue<string>()) > DateTimeOffset.UtcNow.AddMinutes(50));
    }

    [Fact]
    public async Task An_OIDC_login_in_kiro_cli_refreshes_with_the_client_and_keeps_the_refresh_token_when_none_comes_back()
    {
        await using var simulator = await KiroSimulator.StartAsync(new KiroSimulatorOptions { RotateRefreshTokens = false });
        var login = simulator.IssueCredentials(KiroLoginKind.Oidc);
        var token = KiroAuthKit.CliJson(login, SoonExpiring);
        var database = _home.CreateKiroCliDatabase(CliPath, new Dictionary<string, JsonObject>
        {
            ["kirocli:odic:token"] = token,
            ["kirocli:odic:device-registration"] = new() { ["client_id"] = login.ClientId, ["client_secret"] = login.ClientSecret, ["region"] = "us-east-1" },
        });
        var (provider, _) = KiroAuthKit.Provider(KiroAuthKit.OptionsFor(simulator), _home);

        var fresh = await provider.GetAsync(false, default);

        Assert.Equal(1, simulator.OidcRefreshCalls);
        Assert.Equal(0, simulator.DesktopRefreshCalls);
        Assert.True(simulator.IsValidAccessToken(fresh.Token));
        var stored = TempHome.ReadAuthKv(database, "kirocli:odic:token");
        Assert.Equal(fresh.Token, stored["access_token"]!.GetValue<string>());
        Assert.Equal(login.RefreshToken, stored["refresh_token"]!.GetValue<string>());
        Assert.Equal("DeviceCode", stored["oauth_flow"]!.GetValue<string>());
        Assert.Equal("https://view.awsapps.com/start", stored["start_url"]!.GetValue<string>());
        Assert.Single(stored["scopes"]!.AsArray());
    }

    [Fact]
    public async Task An_IdC_login_of_the_Kiro_IDE_refreshes_through_OIDC()
    {
        var login = _simulator.IssueCredentials(KiroLoginKind.Oidc);
        var json = KiroAuthKit.IdeJson(login, SoonExpiring);
        json["clientIdHash"] = "feedbeef";
        _home.WriteJson(IdePath, json);
        _home.WriteJson(".aws/sso/cache/feedbeef.json", new JsonObject { ["clientId"] = login.ClientId, ["clientSecret"] = login.ClientSecret });
        var (provider, _) = KiroAuthKit.Provider(KiroAuthKit.OptionsFor(_simulator), _home);

        var fresh = await provider.GetAsync(false, default);

        Assert.Equal(1, _simulator.OidcRefreshCalls);
        Assert.True(_simulator.IsValidAccessToken(fresh.Token));
        Assert.Equal("feedbeef", _home.ReadJson(IdePath)["clientIdHash"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_dead_login_says_so_once_and_does_not_loop()
    {
        var login = _simulator.IssueCredentials(KiroLoginKind.Oidc);
        var json = KiroAuthKit.IdeJson(login, DateTimeOffset.UtcNow.AddMinutes(-1));
        json["clientId"] = login.ClientId;
        json["clientSecret"] = login.ClientSecret;
        _home.WriteJson(IdePath, json);
        _simulator.RevokeRefreshToken(login.RefreshToken);
        var (provider, _) = KiroAuthKit.Provider(KiroAuthKit.OptionsFor(_simulator), _home);

        var first = await Assert.ThrowsAsync<GatewayException>(() => provider.GetAsync(false, default).AsTask());
        var second = await Assert.ThrowsAsync<GatewayException>(() => provider.GetAsync(true, default).AsTask());

        Assert.Equal(ErrorKind.UpstreamLogin, first.Kind);
        Assert.Contains("gapura login kiro", first.Message);
        Assert.Contains("invalid_grant", first.Message);
        Assert.Same(first, second);
        Assert.Equal(1, _simulator.OidcRefreshCalls);

        // The user signs in again: the provider notices the new login without a restart.
        var again = _simulator.IssueCredentials(KiroLoginKind.Social);
        _home.WriteJson(IdePath, KiroAuthKit.IdeJson(again));
        Assert.Equal(again.AccessToken, (await provider.GetAsync(false, default)).Token);
    }

    [Fact]
    public async Task A_dead_desktop_login_is_reported_too()
    {
        var login = _simulator.IssueCredentials(KiroLoginKind.Social);
        _home.WriteJson(IdePath, KiroAuthKit.IdeJson(login, SoonExpiring));
        _simulator.RevokeRefreshToken(login.RefreshToken);
        var (provider, _) = KiroAuthKit.Provider(KiroAuthKit.OptionsFor(_simulator), _home);

        var error = await Assert.ThrowsAsync<GatewayException>(() => provider.GetAsync(false, default).AsTask());
        Assert.Equal(ErrorKind.UpstreamLogin, error.Kind);
        Assert.Contains("gapura login kiro", error.Message);
    }

    [Fact]
    public async Task Concurrent_callers_share_one_refresh()
    {
        var login = _simulator.IssueCredentials(KiroLoginKind.Social);
        _home.WriteJson(IdePath, KiroAuthKit.IdeJson(login, SoonExpiring));
        var (provider, _) = KiroAuthKit.Provider(KiroAuthKit.OptionsFor(_simulator), _home);

        using var start = new ManualResetEventSlim();
        var callers = Enumerable.Range(0, 32).Select(i => Task.Run(async () =>
        {
            start.Wait();
            return await provider.GetAsync(forceRefresh: i % 2 == 0, default);
        })).ToList();
        start.Set();
        var tokens = await Task.WhenAll(callers);

        Assert.Equal(1, _simulator.DesktopRefreshCalls);
        Assert.Single(tokens.Select(t => t.Token).Distinct());
        Assert.NotEqual(login.AccessToken, tokens[0].Token);
    }

    [Fact]
    public async Task A_forced_refresh_replaces_a_token_the_service_refused()
    {
        var login = _simulator.IssueCredentials(KiroLoginKind.Social);
        _home.WriteJson(IdePath, KiroAuthKit.IdeJson(login));
        var (provider, _) = KiroAuthKit.Provider(KiroAuthKit.OptionsFor(_simulator), _home);
        Assert.Equal(login.AccessToken, (await provider.GetAsync(false, default)).Token);

        _simulator.ExpireAccessToken(login.AccessToken);
        var replaced = await provider.GetAsync(true, default);

        Assert.NotEqual(login.AccessToken, replaced.Token);
        Assert.True(_simulator.IsValidAccessToken(replaced.Token));
        Assert.Equal(1, _simulator.DesktopRefreshCalls);
    }

    [Fact]
    public async Task A_token_refreshed_by_another_program_is_adopted_without_a_refresh()
    {
        var login = _simulator.IssueCredentials(KiroLoginKind.Social);
        _home.WriteJson(IdePath, KiroAuthKit.IdeJson(login));
        var (provider, _) = KiroAuthKit.Provider(KiroAuthKit.OptionsFor(_simulator), _home);
        await provider.GetAsync(false, default);

        // The Kiro IDE refreshes the login on its own.
        var ide = _simulator.IssueCredentials(KiroLoginKind.Social);
        _home.WriteJson(IdePath, KiroAuthKit.IdeJson(ide));
        var token = await provider.GetAsync(true, default);

        Assert.Equal(ide.AccessToken, token.Token);
        Assert.Equal(0, _simulator.RefreshCalls);
    }

    [Fact]
    public async Task Tokens_that_live_shorter_than_the_skew_are_not_refreshed_on_every_call()
    {
        await using var simulator = await KiroSimulator.StartAsync(new KiroSimulatorOptions { AccessTokenLifetime = TimeSpan.FromMinutes(1) });
        var login = simulator.IssueCredentials(KiroLoginKind.Social);
        _home.WriteJson(IdePath, KiroAuthKit.IdeJson(login));
        var (provider, _) = KiroAuthKit.Provider(KiroAuthKit.OptionsFor(simulator), _home);

        var first = await provider.GetAsync(false, default);
        for (var i = 0; i < 5; i++) Assert.Equal(first.Token, (await provider.GetAsync(false, default)).Token);

        Assert.Equal(1, simulator.DesktopRefreshCalls);
    }

    [Fact]
    public void Dependency_injection_builds_one_provider()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Kiro:Region"] = "eu-central-1" }).Build();
        using var services = new ServiceCollection().AddLogging().AddKiroAuth(configuration).BuildServiceProvider();

        Assert.Same(services.GetRequiredService<KiroTokenProvider>(), services.GetRequiredService<KiroTokenProvider>());
        Assert.Equal("eu-central-1", services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Gapura.Providers.Kiro.KiroOptions>>().Value.Region);
    }

    [Fact]
    public async Task The_profile_arn_setting_overrides_the_login()
    {
        var login = _simulator.IssueCredentials(KiroLoginKind.Social);
        _home.WriteJson(IdePath, KiroAuthKit.IdeJson(login));
        var options = KiroAuthKit.OptionsFor(_simulator);
        options.ProfileArn = "arn:aws:codewhisperer:us-east-1:2:profile/OVERRIDE";
        var (provider, _) = KiroAuthKit.Provider(options, _home);

        Assert.Equal(options.ProfileArn, (await provider.GetAsync(false, default)).ProfileArn);
    }

    [Fact]
    public async Task No_token_reaches_a_log_line()
    {
        var login = _simulator.IssueCredentials(KiroLoginKind.Social);
        _home.WriteJson(IdePath, KiroAuthKit.IdeJson(login, SoonExpiring));
        var (provider, log) = KiroAuthKit.Provider(KiroAuthKit.OptionsFor(_simulator), _home);

        var fresh = await provider.GetAsync(false, default);
        // Now the refreshed login dies, and a second provider (a restarted gateway) meets it.
        var written = _home.ReadJson(IdePath);
        _simulator.RevokeRefreshToken(written["refreshToken"]!.GetValue<string>());
        written["expiresAt"] = "2000-01-01T00:00:00.000Z";
        _home.WriteJson(IdePath, written);
        var (restarted, log2) = KiroAuthKit.Provider(KiroAuthKit.OptionsFor(_simulator), _home);
        await Assert.ThrowsAsync<GatewayException>(() => restarted.GetAsync(false, default).AsTask());
        log.Lines.AddRange(log2.Lines);

        Assert.NotEmpty(log.Lines);
        var secrets = new[] { login.AccessToken, login.RefreshToken, fresh.Token, written["refreshToken"]!.GetValue<string>() };
        Assert.All(log.Lines, line => Assert.DoesNotContain(secrets, s => line.Contains(s, StringComparison.Ordinal)));
    }
}
