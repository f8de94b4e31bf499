using System.Text.Json;
using Gapura.Cli;
using Gapura.Conversations;
using Gapura.Providers.Copilot;
using Gapura.Providers.Kiro.Auth;
using Gapura.Simulators.Copilot;
using Microsoft.Extensions.Configuration;
using static Gapura.Tests.Providers.Copilot.CopilotTestKit;

namespace Gapura.Tests.Providers.Copilot;

/// <summary>GitHub's device flow and <c>gapura login copilot</c> against the simulated GitHub.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class CopilotLoginTests : IDisposable
{
    private readonly string _home = Directory.CreateTempSubdirectory("gapura-copilot-home-").FullName;
    private readonly List<TimeSpan> _waits = [];

    public void Dispose()
    {
        try { Directory.Delete(_home, recursive: true); } catch (IOException) { }
    }

    /// <summary>Records each poll wait instead of sleeping it.</summary>
    private Task Wait(TimeSpan delay, CancellationToken ct)
    {
        lock (_waits) _waits.Add(delay);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Device_flow_polls_through_pending_and_slow_down_and_returns_the_token()
    {
        await using var sim = await CopilotSimulator.StartAsync();
        sim.ScriptPolls(DevicePoll.Pending, DevicePoll.SlowDown, DevicePoll.Pending, DevicePoll.Approve);
        var flow = new GitHubDeviceFlow(new HttpClient(), Options(sim), delay: Wait);
        var code = await flow.StartAsync(default);
        Assert.Equal(sim.BaseUrl + "/login/device", code.VerificationUri);
        Assert.Matches("^[0-9A-F]{4}-[0-9A-F]{4}$", code.UserCode);
        var token = await flow.WaitForTokenAsync(code, default);
        Assert.StartsWith("gho_", token);
        // The interval, again after pending, then 5 s longer from slow_down on.
        Assert.Equal([5, 5, 10, 10], _waits.Select(w => w.TotalSeconds).ToArray());
        var start = sim.Requests.First(r => r.Path == "/login/device/code");
        Assert.Contains("client_id=Iv1.b507a08c87ecfe98", start.Body);
        Assert.Contains("scope=read%3Auser", start.Body);
        var poll = sim.DevicePolls[0];
        Assert.Contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code", poll.Body);
        Assert.Equal("application/json", poll.Header("Accept"));
    }

    [Theory]
    [InlineData(DevicePoll.Deny, "cancelled")]
    [InlineData(DevicePoll.Expire, "expired")]
    public async Task Device_flow_stops_on_denial_and_expiry(DevicePoll outcome, string says)
    {
        await using var sim = await CopilotSimulator.StartAsync();
        sim.ScriptPolls(DevicePoll.Pending, outcome);
        var flow = new GitHubDeviceFlow(new HttpClient(), Options(sim), delay: Wait);
        var e = await Assert.ThrowsAsync<GatewayException>(async () => await flow.WaitForTokenAsync(await flow.StartAsync(default), default));
        Assert.Contains(says, e.Message);
        Assert.Equal(2, sim.DevicePolls.Count);
    }

    [Fact]
    public async Task Login_saves_the_github_token_readable_by_the_owner_only_and_the_provider_finds_it()
    {
        await using var sim = await CopilotSimulator.StartAsync();
        sim.ScriptPolls(DevicePoll.Pending);
        var output = new StringWriter();
        var code = await CopilotLoginCommand.RunAsync(Configuration(sim), new KiroAuthEnvironment(_home), new HttpClient(), output, default, Wait);
        Assert.True(code == 0, output.ToString());
        Assert.Contains(sim.BaseUrl + "/login/device", output.ToString());
        Assert.Equal(1, sim.Exchanges);

        var path = Path.Combine(_home, ".gapura", "copilot.json");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        using var saved = JsonDocument.Parse(File.ReadAllText(path));
        var token = saved.RootElement.GetProperty("github_token").GetString()!;
        Assert.StartsWith("gho_", token);
        Assert.DoesNotContain(token, output.ToString());

        Assert.Equal(token, CopilotServiceCollectionExtensions.ProcessAccount(new CopilotOptions(), _home)!.GitHubToken);
        // The setting wins over the file.
        Assert.Equal("gho_setting", CopilotServiceCollectionExtensions.ProcessAccount(new CopilotOptions { GitHubToken = "gho_setting" }, _home)!.GitHubToken);
        Assert.Null(CopilotServiceCollectionExtensions.ProcessAccount(new CopilotOptions(), Path.Combine(_home, "elsewhere")));
    }

    [Fact]
    public async Task Login_of_an_account_without_copilot_fails_and_saves_nothing()
    {
        await using var sim = await CopilotSimulator.StartAsync(new CopilotSimulatorOptions { DeviceLoginsHaveSeat = false });
        var output = new StringWriter();
        var code = await CopilotLoginCommand.RunAsync(Configuration(sim), new KiroAuthEnvironment(_home), new HttpClient(), output, default, Wait);
        Assert.Equal(1, code);
        Assert.Contains("not valid for Copilot", output.ToString());
        Assert.False(File.Exists(Path.Combine(_home, ".gapura", "copilot.json")));
    }

    private static IConfiguration Configuration(CopilotSimulator sim) => new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["Providers:Copilot:GitHubBaseUrl"] = sim.BaseUrl,
        ["Providers:Copilot:GitHubApiBaseUrl"] = sim.BaseUrl,
    }).Build();
}
