using System.Net;
using System.Text.Json.Nodes;
using Gapura.Simulators.Anthropic;
using Microsoft.Extensions.DependencyInjection;
using Gapura.Storage;
using Gapura.Tests.Admin;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Providers.Accounts;

/// <summary>
/// Users' own upstream accounts for a provider other than Kiro, end to end through a real gateway and the
/// Anthropic simulator: connected by key or by Claude sign-in through the admin API, used only for their
/// owner, renewed before they run out, marked dead when the renewal is refused, and fallen back from to the
/// user's next account. The gateway has no Anthropic key of its own here.
/// </summary>
public sealed class UserAccountsTests : IAsyncLifetime
{
    private AnthropicSimulator _anthropic = null!;
    private GatewayFixture _gateway = null!;

    public async Task InitializeAsync()
    {
        _anthropic = await AnthropicSimulator.StartAsync(new AnthropicSimulatorOptions { OAuthAccessTokenSeconds = 120 });
        _gateway = new GatewayFixture();
        _gateway.Settings.Add($"--Providers:Anthropic:BaseUrl={_anthropic.BaseUrl}");
        _gateway.Settings.Add("--Providers:Anthropic:RetryBaseDelayMilliseconds=10");
        _gateway.Settings.Add($"--Providers:Anthropic:SignIn:AuthorizeUrl={_anthropic.BaseUrl}/oauth/authorize");
        _gateway.Settings.Add($"--Providers:Anthropic:SignIn:TokenUrl={_anthropic.BaseUrl}/v1/oauth/token");
        await _gateway.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _anthropic.DisposeAsync();
    }

    private AdminClient Admin() => new(_gateway.BaseUrl, GatewayFixture.ApiKey);

    private Task<(long Id, string Key)> UserAsync(string email) => AccountsTestKit.UserAsync(_gateway, email);

    private async Task<AdminResponse> ConnectKeyAsync(long userId, string label, string key)
    {
        using var admin = Admin();
        return await admin.PostAsync($"/admin/api/users/{userId}/logins/anthropic", new JsonObject { ["label"] = label, ["api_key"] = key });
    }

    private async Task<(HttpResponseMessage Response, string Body)> AskAsync(string key, string text = "hi there")
    {
        using var http = _gateway.Http(key);
        var body = $$"""{"model":"anthropic/claude-haiku-4-5","max_tokens":50,"messages":[{"role":"user","content":"{{text}}"}]}""";
        return await Wire.SendAsync(http, Wire.Anthropic(body));
    }

    private async Task<List<string>> ModelIdsAsync(string key)
    {
        using var http = _gateway.Http(key);
        var list = JsonNode.Parse(await http.GetStringAsync("/v1/models"))!["data"]!.AsArray();
        return [.. list.Select(m => (string)m!["id"]!)];
    }

    [Fact]
    public async Task A_users_own_key_serves_them_and_nobody_else()
    {
        var alice = await UserAsync("alice@example.com");
        var bob = await UserAsync("bob@example.com");
        var connected = await ConnectKeyAsync(alice.Id, "work", _anthropic.ApiKey);
        Assert.Equal(HttpStatusCode.Created, connected.Status);
        Assert.Equal("anthropic", (string?)connected.Json!["login"]!["provider"]);
        Assert.DoesNotContain(_anthropic.ApiKey, connected.Json.ToJsonString());

        var (response, text) = await AskAsync(alice.Key);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal("anthropic/work", response.Headers.GetValues("x-gapura-provider").Single());
        Assert.Equal(_anthropic.ApiKey, _anthropic.MessageRequests.Last().Header("x-api-key"));
        Assert.Contains(await ModelIdsAsync(alice.Key), id => id.StartsWith("anthropic/", StringComparison.Ordinal));

        // Bob has no account and the gateway none to share: told how to connect one, and not offered the models.
        var calls = _anthropic.MessageRequests.Count;
        var (refused, error) = await AskAsync(bob.Key);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Contains("gapura login anthropic --user", (string?)JsonNode.Parse(error)!["error"]!["message"]);
        Assert.Equal(calls, _anthropic.MessageRequests.Count);
        Assert.DoesNotContain(await ModelIdsAsync(bob.Key), id => id.StartsWith("anthropic/", StringComparison.Ordinal));

        // The key is stored sealed, not as text.
        var row = (await _gateway.Services.GetRequiredService<IGapuraStore>().UpstreamLogins.ListAsync(alice.Id)).Single();
        Assert.Equal("work", row.Label);
    }

    [Fact]
    public async Task A_refused_key_moves_on_to_the_users_next_account()
    {
        var carol = await UserAsync("carol@example.com");
        Assert.Equal(HttpStatusCode.Created, (await ConnectKeyAsync(carol.Id, "old", "sk-ant-api03-revoked")).Status);
        Assert.Equal(HttpStatusCode.Created, (await ConnectKeyAsync(carol.Id, "new", _anthropic.ApiKey)).Status);
        var (response, text) = await AskAsync(carol.Key);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal("anthropic/new", response.Headers.GetValues("x-gapura-provider").Single());
        Assert.Contains(_gateway.Logs.Lines, l => l.Contains("login 'old' could not serve the request"));

        // The refused key is marked dead (the admin API says why) and not knocked on again.
        using var admin = Admin();
        var old = (await admin.GetAsync($"/admin/api/users/{carol.Id}/logins")).Json!["logins"]!.AsArray().Single(l => (string?)l!["label"] == "old")!;
        Assert.Equal("dead", (string?)old["status"]);
        Assert.Contains("refused by the upstream", (string?)old["last_error"]);
        var refusedCalls = _anthropic.MessageRequests.Count(r => r.Header("x-api-key") == "sk-ant-api03-revoked");
        var (second, secondText) = await AskAsync(carol.Key);
        Assert.True(second.StatusCode == HttpStatusCode.OK, secondText);
        Assert.Equal("anthropic/new", second.Headers.GetValues("x-gapura-provider").Single());
        Assert.Equal(refusedCalls, _anthropic.MessageRequests.Count(r => r.Header("x-api-key") == "sk-ant-api03-revoked"));
    }

    [Fact]
    public async Task Claude_sign_in_through_the_admin_api_is_used_renewed_and_marked_dead_when_revoked()
    {
        var dana = await UserAsync("dana@example.com");
        using var admin = Admin();
        var started = await admin.PostAsync($"/admin/api/users/{dana.Id}/logins/anthropic/sign-in", new JsonObject { ["label"] = "max" });
        Assert.Equal(HttpStatusCode.OK, started.Status);
        var authorizeUrl = (string)started.Json!["authorize_url"]!;
        Assert.Contains("code_challenge_method=S256", authorizeUrl);
        var pasted = _anthropic.Approve(authorizeUrl);

        // A code that is not the flow's is refused, and spends nothing.
        var wrongFlow = await admin.PostAsync($"/admin/api/users/{dana.Id}/logins/anthropic/sign-in/not-a-flow", new JsonObject { ["code"] = pasted });
        Assert.Equal(HttpStatusCode.NotFound, wrongFlow.Status);
        var completed = await admin.PostAsync((string)started.Json["complete_url"]!, new JsonObject { ["code"] = pasted });
        Assert.True(completed.Status == HttpStatusCode.Created, completed.ToString());
        Assert.Equal("alive", (string?)completed.Json!["login"]!["status"]);

        // Tokens last 120 s here, under the 5-minute margin: every use renews first, and the rotated refresh token is kept.
        for (var i = 0; i < 2; i++)
        {
            var (response, text) = await AskAsync(dana.Key);
            Assert.True(response.StatusCode == HttpStatusCode.OK, text);
            Assert.Equal("anthropic/max", response.Headers.GetValues("x-gapura-provider").Single());
            var sent = _anthropic.MessageRequests.Last();
            Assert.StartsWith("Bearer sk-ant-oat01-sim-", sent.Header("authorization"));
            Assert.Contains("oauth-2025-04-20", sent.Header("anthropic-beta"));
            Assert.Null(sent.Header("x-api-key"));
        }
        Assert.True(_anthropic.Refreshes >= 2, $"renewed {_anthropic.Refreshes} times");

        // The user revokes the sign-in: the renewal is refused, the login is marked dead, and Dana's key account serves.
        Assert.Equal(HttpStatusCode.Created, (await ConnectKeyAsync(dana.Id, "key", _anthropic.ApiKey)).Status);
        _anthropic.RevokeRefreshTokens();
        var (after, body) = await AskAsync(dana.Key);
        Assert.True(after.StatusCode == HttpStatusCode.OK, body);
        Assert.Equal("anthropic/key", after.Headers.GetValues("x-gapura-provider").Single());
        var logins = (await admin.GetAsync($"/admin/api/users/{dana.Id}/logins")).Json!["logins"]!.AsArray();
        var max = logins.Single(l => (string?)l!["label"] == "max")!;
        Assert.Equal("dead", (string?)max["status"]);
    }

    [Fact]
    public async Task Connecting_an_account_checks_who_asks_and_what_they_send()
    {
        var erin = await UserAsync("erin@example.com");
        var frank = await UserAsync("frank@example.com");
        using var admin = Admin();
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.PostAsync($"/admin/api/users/{erin.Id}/logins/anthropic", new JsonObject { ["label"] = "x" })).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.PostAsync($"/admin/api/users/{erin.Id}/logins/nosuch", new JsonObject { ["api_key"] = "k" })).Status);
        var kiro = await admin.PostAsync($"/admin/api/users/{erin.Id}/logins/kiro", new JsonObject { ["api_key"] = "k" });
        Assert.Equal(HttpStatusCode.BadRequest, kiro.Status);
        Assert.Contains("device", kiro.ErrorMessage);
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.PostAsync($"/admin/api/users/{erin.Id}/logins/anthropic", new JsonObject { ["api_key"] = "k", ["label"] = "bad\"label" })).Status);

        // A user manages only their own accounts.
        using var asFrank = new AdminClient(_gateway.BaseUrl, frank.Key);
        var other = await asFrank.PostAsync($"/admin/api/users/{erin.Id}/logins/anthropic", new JsonObject { ["api_key"] = _anthropic.ApiKey });
        Assert.Equal(HttpStatusCode.Forbidden, other.Status);
        var own = await asFrank.PostAsync($"/admin/api/users/{frank.Id}/logins/anthropic", new JsonObject { ["api_key"] = _anthropic.ApiKey });
        Assert.Equal(HttpStatusCode.Created, own.Status);
        // The same label again replaces the account.
        var again = await asFrank.PostAsync($"/admin/api/users/{frank.Id}/logins/anthropic", new JsonObject { ["api_key"] = _anthropic.ApiKey });
        Assert.Equal(HttpStatusCode.OK, again.Status);
        Assert.True(again.Json!["replaced"]!.GetValue<bool>());
    }
}
