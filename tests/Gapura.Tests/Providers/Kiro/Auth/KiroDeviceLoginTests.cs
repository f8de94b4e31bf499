using Gapura.Cli;
using Gapura.Conversations;
using Gapura.Providers.Kiro;
using Gapura.Providers.Kiro.Auth;
using Gapura.Simulators.Kiro;
using Microsoft.Extensions.Options;

namespace Gapura.Tests.Providers.Kiro.Auth;

public sealed class KiroDeviceLoginTests : IDisposable
{
    private readonly TempHome _home = new();
    private readonly List<TimeSpan> _waits = [];

    public void Dispose() => _home.Dispose();

    private KiroDeviceLogin Login(KiroSimulator simulator, Action<int>? onWait = null)
    {
        var options = Options.Create(KiroAuthKit.OptionsFor(simulator));
        return new KiroDeviceLogin(options, new KiroAuthClient(KiroAuthKit.Http, options), new KiroCredentialStore(options, _home.Environment), delay: (wait, _) =>
        {
            _waits.Add(wait);
            onWait?.Invoke(_waits.Count);
            return Task.CompletedTask;
        });
    }

    [Fact]
    public async Task Device_flow_goes_pending_then_slow_down_then_approved_and_stores_the_login_owner_only()
    {
        await using var simulator = await KiroSimulator.StartAsync(new KiroSimulatorOptions { PollsUntilApproved = 2, SlowDownOnPolls = [2], DeviceInterval = 1 });
        var login = Login(simulator);

        var code = await login.StartAsync(default);
        var credential = await login.CompleteAsync(code, default);

        Assert.Matches("^[A-Z]{4}-[A-Z]{4}$", code.UserCode);
        Assert.Equal(3, simulator.DeviceTokenPolls);
        // pending at 1 s, slow_down at 1 s, then the interval has grown by five seconds.
        Assert.Equal([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(6)], _waits);
        Assert.True(simulator.IsValidAccessToken(credential.AccessToken));
        Assert.Equal(KiroCredentialSourceKind.GapuraStore, credential.Source.Kind);

        var path = _home.File(".gapura/kiro-credentials.json");
        Assert.True(File.Exists(path));
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        var stored = _home.ReadJson(".gapura/kiro-credentials.json");
        Assert.Equal(credential.RefreshToken, stored["refreshToken"]!.GetValue<string>());
        Assert.Equal(code.ClientId, stored["clientId"]!.GetValue<string>());
        Assert.Equal("IdC", stored["authMethod"]!.GetValue<string>());

        // The gateway finds the new login and refreshes it through OIDC with the stored client.
        var (provider, _) = KiroAuthKit.Provider(KiroAuthKit.OptionsFor(simulator), _home);
        var first = await provider.GetAsync(false, default);
        Assert.Equal(credential.AccessToken, first.Token);
        File.WriteAllText(path, File.ReadAllText(path).Replace(stored["expiresAt"]!.GetValue<string>(), "2000-01-01T00:00:00.000Z"));
        var (restarted, _) = KiroAuthKit.Provider(KiroAuthKit.OptionsFor(simulator), _home);
        var refreshed = await restarted.GetAsync(false, default);
        Assert.Equal(1, simulator.OidcRefreshCalls);
        Assert.True(simulator.IsValidAccessToken(refreshed.Token));
        if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public async Task The_user_approving_in_the_browser_ends_the_wait()
    {
        await using var simulator = await KiroSimulator.StartAsync(new KiroSimulatorOptions { PollsUntilApproved = 0 });
        KiroDeviceCode? code = null;
        var login = Login(simulator, onWait: n => { if (n == 4) Assert.True(simulator.Approve(code!.UserCode)); });

        code = await login.StartAsync(default);
        var credential = await login.CompleteAsync(code, default);

        Assert.Equal(4, simulator.DeviceTokenPolls);
        Assert.True(simulator.IsValidAccessToken(credential.AccessToken));
    }

    [Theory]
    [InlineData(true, "denied")]
    [InlineData(false, "expired")]
    public async Task Denied_or_expired_codes_stop_the_login(bool deny, string expected)
    {
        await using var simulator = await KiroSimulator.StartAsync(new KiroSimulatorOptions { PollsUntilApproved = 0 });
        KiroDeviceCode? code = null;
        var login = Login(simulator, onWait: n =>
        {
            if (n == 2) Assert.True(deny ? simulator.Deny(code!.UserCode) : simulator.ExpireDeviceCode(code!.UserCode));
        });

        code = await login.StartAsync(default);
        var error = await Assert.ThrowsAsync<GatewayException>(() => login.CompleteAsync(code, default));

        Assert.Equal(ErrorKind.UpstreamLogin, error.Kind);
        Assert.Contains(expected, error.Message);
        Assert.Equal(2, simulator.DeviceTokenPolls);
        Assert.False(File.Exists(_home.File(".gapura/kiro-credentials.json")));
    }

    [Fact]
    public async Task Login_command_prints_the_code_takes_overrides_and_stores_the_login()
    {
        await using var simulator = await KiroSimulator.StartAsync(new KiroSimulatorOptions { PollsUntilApproved = 1 });
        var configuration = LoginCommand.BuildConfiguration(
            [$"--Kiro:OidcEndpoint={simulator.BaseUrl}", "--Kiro:StartUrl=https://example.awsapps.com/start"]);
        var output = new StringWriter();

        var exit = await LoginCommand.RunKiroAsync(configuration, _home.Environment, KiroAuthKit.Http, output, default, delay: (_, _) => Task.CompletedTask);

        Assert.Equal(0, exit);
        var text = output.ToString();
        Assert.Contains("/device?user_code=", text);
        Assert.Contains("Signed in", text);
        var device = simulator.Requests.Single(r => r.Path == "/device_authorization").Json!;
        Assert.Equal("https://example.awsapps.com/start", device["startUrl"]!.GetValue<string>());
        Assert.Contains(device.AsObject()["clientId"]!.GetValue<string>(), File.ReadAllText(_home.File(".gapura/kiro-credentials.json")));
        var stored = _home.ReadJson(".gapura/kiro-credentials.json");
        Assert.Equal("Enterprise", stored["provider"]!.GetValue<string>());
        Assert.DoesNotContain(stored["accessToken"]!.GetValue<string>(), text);
        Assert.DoesNotContain(stored["refreshToken"]!.GetValue<string>(), text);
    }
}
