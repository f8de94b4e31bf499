using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gapura.Simulators.Kiro;
using Gapura.Storage;

namespace Gapura.Tests.Providers.Kiro.Logins;

/// <summary>Which Kiro login a request goes out with, seen from the bearer token the simulator received.</summary>
public sealed class UserLoginRequestTests : IAsyncLifetime
{
    private LoginsGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await LoginsGateway.StartAsync();

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task A_users_request_goes_out_with_their_own_token_and_a_user_without_one_uses_the_shared_login()
    {
        var (alice, aliceKey) = await _gateway.AddUserAsync("alice@example.com");
        var (_, bobKey) = await _gateway.AddUserAsync("bob@example.com");
        var aliceLogin = _gateway.Kiro.IssueCredentials(KiroLoginKind.Social);
        await _gateway.ConnectAsync(alice.Id, "work", aliceLogin);

        using (var response = await LoginsGateway.ChatAsync(_gateway.Http(aliceKey)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("Bearer " + aliceLogin.AccessToken, _gateway.LastBearer());
            Assert.Equal("work", response.Headers.GetValues("x-gapura-login").Single());
        }
        using (var response = await LoginsGateway.ChatAsync(_gateway.Http(bobKey)))
        {
            // Kiro:ShareProcessLogin defaults to true: a single-user install needs no set-up.
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("Bearer " + _gateway.ProcessLogin.AccessToken, _gateway.LastBearer());
            Assert.Equal("process", response.Headers.GetValues("x-gapura-login").Single());
        }
    }

    [Fact]
    public async Task A_users_token_refused_by_kiro_is_refreshed_once_and_never_sent_again()
    {
        var (carol, carolKey) = await _gateway.AddUserAsync("carol@example.com");
        var login = _gateway.Kiro.IssueCredentials(KiroLoginKind.Social);
        await _gateway.ConnectAsync(carol.Id, "laptop", login);
        using (var first = await LoginsGateway.ChatAsync(_gateway.Http(carolKey))) Assert.Equal(HttpStatusCode.OK, first.StatusCode);

        // Kiro now refuses the token although it has not reached its expiry (revoked server-side).
        _gateway.Kiro.ExpireAccessToken(login.AccessToken);
        var refreshes = _gateway.Kiro.RefreshCalls;
        using var response = await LoginsGateway.ChatAsync(_gateway.Http(carolKey));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(refreshes + 1, _gateway.Kiro.RefreshCalls);
        Assert.NotEqual("Bearer " + login.AccessToken, _gateway.LastBearer());
    }

    [Fact]
    public async Task When_sharing_is_switched_off_in_the_settings_table_a_user_without_a_login_gets_a_clear_503()
    {
        var (alice, aliceKey) = await _gateway.AddUserAsync("alice@example.com");
        var (_, bobKey) = await _gateway.AddUserAsync("bob@example.com");
        var aliceLogin = _gateway.Kiro.IssueCredentials(KiroLoginKind.Social);
        await _gateway.ConnectAsync(alice.Id, "work", aliceLogin);

        await _gateway.Store.Settings.SetAsync("Kiro:ShareProcessLogin", "false");
        await _gateway.SyncAsync();
        var calls = _gateway.Kiro.ChatCalls;

        using (var response = await LoginsGateway.ChatAsync(_gateway.Http(bobKey)))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            var body = await response.Content.ReadAsStringAsync();
            Assert.Contains("Kiro:ShareProcessLogin", body);
            Assert.Contains("gapura login kiro --user", body);
        }
        using (var response = await LoginsGateway.MessagesAsync(_gateway.Http(bobKey)))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal("error", doc.RootElement.GetProperty("type").GetString());
        }
        Assert.Equal(calls, _gateway.Kiro.ChatCalls);

        using (var response = await LoginsGateway.ChatAsync(_gateway.Http(aliceKey)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("Bearer " + aliceLogin.AccessToken, _gateway.LastBearer());
        }

        await _gateway.Store.Settings.SetAsync("Kiro:ShareProcessLogin", "true");
        await _gateway.SyncAsync();
        using (var response = await LoginsGateway.ChatAsync(_gateway.Http(bobKey)))
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task When_the_first_login_is_out_of_quota_the_second_one_serves()
    {
        var (alice, aliceKey) = await _gateway.AddUserAsync("alice@example.com");
        var first = _gateway.Kiro.IssueCredentials(KiroLoginKind.Social);
        var second = _gateway.Kiro.IssueCredentials(KiroLoginKind.Social);
        await _gateway.ConnectAsync(alice.Id, "one", first);
        await _gateway.ConnectAsync(alice.Id, "two", second);
        _gateway.Kiro.ClearRequests();
        _gateway.Kiro.Enqueue(KiroScenario.MonthlyQuota());

        using var response = await LoginsGateway.ChatAsync(_gateway.Http(aliceKey));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("two", response.Headers.GetValues("x-gapura-login").Single());
        Assert.Equal(["Bearer " + first.AccessToken, "Bearer " + second.AccessToken],
            _gateway.Kiro.ChatRequests.Select(r => r.Header("Authorization")));
        Assert.Contains(_gateway.Logs.Lines, l => l.Contains("'one' could not serve the request (QuotaExceeded"));
    }

    [Fact]
    public async Task A_dead_login_is_skipped_and_a_fresh_sign_in_under_its_label_revives_it()
    {
        var (alice, aliceKey) = await _gateway.AddUserAsync("alice@example.com");
        var spent = _gateway.Kiro.IssueCredentials(KiroLoginKind.Social, TimeSpan.FromSeconds(1));
        var spare = _gateway.Kiro.IssueCredentials(KiroLoginKind.Social);
        var one = await _gateway.ConnectAsync(alice.Id, "one", spent);
        await _gateway.ConnectAsync(alice.Id, "two", spare);
        _gateway.Kiro.RevokeRefreshToken(spent.RefreshToken);

        using (var response = await LoginsGateway.ChatAsync(_gateway.Http(aliceKey)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("two", response.Headers.GetValues("x-gapura-login").Single());
        }
        Assert.Equal(UpstreamLoginStatus.Dead, (await _gateway.Store.UpstreamLogins.FindAsync(one.Id))!.Status);
        var refreshes = _gateway.Kiro.RefreshCalls;
        for (var i = 0; i < 3; i++)
        {
            using var again = await LoginsGateway.ChatAsync(_gateway.Http(aliceKey));
            Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        }
        Assert.Equal(refreshes, _gateway.Kiro.RefreshCalls); // skipped, not retried per request

        var fresh = _gateway.Kiro.IssueCredentials(KiroLoginKind.Social);
        var replaced = await _gateway.ConnectAsync(alice.Id, "one", fresh);
        Assert.Equal(one.Id, replaced.Id);
        using (var response = await LoginsGateway.ChatAsync(_gateway.Http(aliceKey)))
        {
            Assert.Equal("one", response.Headers.GetValues("x-gapura-login").Single());
            Assert.Equal("Bearer " + fresh.AccessToken, _gateway.LastBearer());
        }
    }
}
