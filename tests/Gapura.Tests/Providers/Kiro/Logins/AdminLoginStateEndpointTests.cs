using System.Net;
using System.Text.Json;
using Gapura.Simulators.Kiro;

namespace Gapura.Tests.Providers.Kiro.Logins;

/// <summary>What the console needs from the admin API beyond connecting: how each provider takes a login, and a login's rest.</summary>
public sealed class AdminLoginStateEndpointTests : IAsyncLifetime
{
    private LoginsGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await LoginsGateway.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task Any_signed_in_user_reads_how_each_provider_takes_a_login()
    {
        var (_, aliceKey) = await _gateway.AddUserAsync("alice@example.com");
        using var http = _gateway.Http(aliceKey);

        using var answer = await http.GetAsync("/admin/api/logins/methods");
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        using var json = JsonDocument.Parse(await answer.Content.ReadAsStringAsync());
        var methods = json.RootElement.GetProperty("methods").EnumerateArray().ToDictionary(m => m.GetProperty("provider").GetString()!,
            m => (Device: m.GetProperty("device_sign_in").GetBoolean(), SignIn: m.TryGetProperty("sign_in", out var s) ? s.GetString() : null,
                Key: m.TryGetProperty("key_kind", out var k) ? k.GetString() : null));

        Assert.Equal((true, null, null), methods["kiro"]);
        Assert.Equal((true, null, "github"), methods["copilot"]);
        Assert.Equal((false, "Claude", "api_key"), methods["anthropic"]);
        Assert.Equal((false, "ChatGPT", "api_key"), methods["openai"]);
        Assert.Equal((false, null, "aws"), methods["bedrock"]);

        using var anonymous = await _gateway.Http(apiKey: null).GetAsync("/admin/api/logins/methods");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
    }

    [Fact]
    public async Task A_login_out_of_quota_is_listed_as_resting()
    {
        var (alice, aliceKey) = await _gateway.AddUserAsync("alice@example.com");
        var login = await _gateway.ConnectAsync(alice.Id, "laptop", _gateway.Kiro.IssueCredentials(KiroLoginKind.Social));
        using var http = _gateway.Http(aliceKey);
        Assert.Contains("\"status\":\"alive\"", await http.GetStringAsync($"/admin/api/users/{alice.Id}/logins"));

        // Alice's login is out of quota: it rests (tried after any other until then) and is listed so.
        _gateway.Kiro.Enqueue(KiroScenario.MonthlyQuota());
        using (var chat = await LoginsGateway.ChatAsync(http))
            Assert.NotEqual(HttpStatusCode.OK, chat.StatusCode);
        using var listed = JsonDocument.Parse(await http.GetStringAsync($"/admin/api/users/{alice.Id}/logins"));
        var view = listed.RootElement.GetProperty("logins")[0];
        Assert.Equal((login.Id, "resting"), (view.GetProperty("id").GetInt64(), view.GetProperty("status").GetString()));
    }
}
