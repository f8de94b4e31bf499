using System.Net;
using System.Text.Json.Nodes;
using Gapura.Providers.Accounts;
using Gapura.Simulators.Copilot;
using Gapura.Simulators.OpenAi;
using Gapura.Storage;
using Gapura.Tests.Admin;
using Gapura.Tests.Integration;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Providers.Accounts;

/// <summary>
/// Users' own accounts for the OpenAI-shaped upstreams, end to end through a real gateway: an OpenAI key and a
/// ChatGPT sign-in (whose calls go to the Codex backend), a key for a company proxy that bills per user, and a
/// GitHub token for Copilot. The gateway has no OpenAI or Copilot account of its own, and the proxy's own key
/// is not shared, so every answer here is the user's own account at work.
/// </summary>
public sealed class OpenAiFamilyAccountsTests : IAsyncLifetime
{
    private const string AliceOpenAiKey = "sk-alice-0123456789abcdef";
    private const string AliceProxyKey = "sk-proxy-alice-0123456789";

    private OpenAiSimulator _openAi = null!;
    private OpenAiSimulator _proxy = null!;
    private CopilotSimulator _copilot = null!;
    private GatewayFixture _gateway = null!;

    public async Task InitializeAsync()
    {
        // Sign-in tokens last 120 s here, under the gateway's 5-minute margin: every use renews first.
        _openAi = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions { ApiKeys = new(StringComparer.Ordinal) { AliceOpenAiKey }, OAuthAccessTokenSeconds = 120 });
        _proxy = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions
        {
            ApiKeys = new(StringComparer.Ordinal) { OpenAiSimulatorOptions.DefaultApiKey, AliceProxyKey },
            AcceptAnyModel = true,
        });
        _copilot = await CopilotSimulator.StartAsync(new CopilotSimulatorOptions { DeviceInterval = 1 });
        _gateway = new GatewayFixture();
        _gateway.Settings.Add($"--Providers:OpenAI:BaseUrl={_openAi.ApiBaseUrl}");
        _gateway.Settings.Add($"--Providers:OpenAI:ChatGptBaseUrl={_openAi.CodexBackendUrl}");
        _gateway.Settings.Add("--Providers:OpenAI:RetryBaseDelayMilliseconds=10");
        _gateway.Settings.Add($"--Providers:OpenAI:SignIn:AuthorizeUrl={_openAi.OAuthIssuer}{OpenAiSimulator.OAuthAuthorizePath}");
        _gateway.Settings.Add($"--Providers:OpenAI:SignIn:TokenUrl={_openAi.OAuthIssuer}{OpenAiSimulator.OAuthTokenPath}");
        _gateway.Settings.Add($"--Providers:Compatible:corp:BaseUrl={_proxy.ApiBaseUrl}");
        _gateway.Settings.Add($"--Providers:Compatible:corp:ApiKey={OpenAiSimulatorOptions.DefaultApiKey}");
        _gateway.Settings.Add("--Providers:Compatible:corp:Models=corp-coder");
        _gateway.Settings.Add("--Providers:Compatible:corp:ShareProcessLogin=false");
        _gateway.Settings.Add($"--Providers:Copilot:GitHubBaseUrl={_copilot.BaseUrl}");
        _gateway.Settings.Add($"--Providers:Copilot:GitHubApiBaseUrl={_copilot.BaseUrl}");
        await _gateway.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _copilot.DisposeAsync();
        await _proxy.DisposeAsync();
        await _openAi.DisposeAsync();
    }

    private AdminClient Admin() => new(_gateway.BaseUrl, GatewayFixture.ApiKey);

    private Task<(long Id, string Key)> UserAsync(string email) => AccountsTestKit.UserAsync(_gateway, email);

    private async Task ConnectAsync(long userId, string provider, JsonObject body)
    {
        using var admin = Admin();
        var connected = await admin.PostAsync($"/admin/api/users/{userId}/logins/{provider}", body);
        Assert.True(connected.Status == HttpStatusCode.Created, connected.ToString());
    }

    private async Task<(HttpResponseMessage Response, string Body)> ChatAsync(string key, string model, bool stream = false)
    {
        using var http = _gateway.Http(key);
        var body = $$"""{"model":"{{model}}","stream":{{(stream ? "true" : "false")}},"max_tokens":50,"messages":[{"role":"user","content":"hi there"}]}""";
        return await Wire.SendAsync(http, Wire.OpenAi(body));
    }

    private async Task<List<string>> ModelIdsAsync(string key)
    {
        using var http = _gateway.Http(key);
        return [.. JsonNode.Parse(await http.GetStringAsync("/v1/models"))!["data"]!.AsArray().Select(m => (string)m!["id"]!)];
    }

    [Fact]
    public async Task An_openai_key_of_a_users_own_serves_them_with_passthrough_and_nobody_else()
    {
        var alice = await UserAsync("alice@example.com");
        var bob = await UserAsync("bob@example.com");
        Assert.DoesNotContain(await ModelIdsAsync(alice.Key), id => id.StartsWith("openai/", StringComparison.Ordinal));
        await ConnectAsync(alice.Id, "openai", new JsonObject { ["label"] = "work", ["api_key"] = AliceOpenAiKey });

        var (response, text) = await ChatAsync(alice.Key, "openai/gpt-4o");
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal("openai/work", response.Headers.GetValues("x-gapura-provider").Single());
        Assert.Equal("Bearer " + AliceOpenAiKey, _openAi.ChatRequests.Last().Header("Authorization"));
        Assert.Contains(await ModelIdsAsync(alice.Key), id => id.StartsWith("openai/", StringComparison.Ordinal));

        var calls = _openAi.ChatRequests.Count;
        var (refused, error) = await ChatAsync(bob.Key, "openai/gpt-4o");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Contains("gapura login openai --user", (string?)JsonNode.Parse(error)!["error"]!["message"]);
        Assert.Equal(calls, _openAi.ChatRequests.Count);
        Assert.DoesNotContain(await ModelIdsAsync(bob.Key), id => id.StartsWith("openai/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_chatgpt_sign_in_goes_to_the_codex_backend_for_every_front_door()
    {
        var carol = await UserAsync("carol@example.com");
        var store = _gateway.Services.GetRequiredService<IGapuraStore>();
        var secret = new AccountSecret
        {
            Kind = AccountSecret.OAuthKind,
            AccessToken = OpenAiSimulatorOptions.DefaultChatGptAccessToken,
            RefreshToken = "unused-refresh",
            ExpiresAtUnixSeconds = DateTimeOffset.UtcNow.AddHours(8).ToUnixTimeSeconds(),
            AccountId = OpenAiSimulatorOptions.DefaultChatGptAccountId,
        };
        var (login, _) = await UserLogins.SaveAsync(store, carol.Id, "openai", "plus", secret.Serialize(), new NewAuditEntry("test", "upstream_login.connect"), default);
        await _gateway.Services.GetRequiredService<AccountPool>().ReloadLoginAsync(login.Id, default);

        // The chat door is translated to the backend's Responses shape (stream only, no output cap: enforced here).
        var (chat, chatBody) = await ChatAsync(carol.Key, "openai/gpt-5");
        Assert.True(chat.StatusCode == HttpStatusCode.OK, chatBody);
        Assert.Equal("openai/plus", chat.Headers.GetValues("x-gapura-provider").Single());
        Assert.StartsWith(OpenAiDefaultResponder.Greeting, (string?)JsonNode.Parse(chatBody)!["choices"]![0]!["message"]!["content"]);
        var sent = _openAi.CodexBackendRequests.Last();
        Assert.Equal("Bearer " + OpenAiSimulatorOptions.DefaultChatGptAccessToken, sent.Header("Authorization"));
        Assert.Equal(OpenAiSimulatorOptions.DefaultChatGptAccountId, sent.Header("chatgpt-account-id"));
        Assert.Empty(_openAi.ChatRequests);

        // The Responses door passes through when nothing is to be kept (Codex sends store:false): the client's own
        // fields reach the backend. A kept answer is read by the gateway, so it takes the translated path instead.
        using var http = _gateway.Http(carol.Key);
        var (responses, body) = await Wire.SendAsync(http, Wire.Post("/v1/responses",
            """{"model":"openai/gpt-5","instructions":"Be brief.","input":"hello codex","stream":true,"store":false,"x_client_field":7}"""));
        Assert.True(responses.StatusCode == HttpStatusCode.OK, body);
        Assert.Contains("response.completed", body);
        Assert.Equal(7, (int)JsonNode.Parse(_openAi.CodexBackendRequests.Last().Body)!["x_client_field"]!);
    }

    [Fact]
    public async Task ChatGPT_sign_in_through_the_admin_api_reads_the_account_renews_and_is_marked_dead_when_revoked()
    {
        var gina = await UserAsync("gina@example.com");
        using var admin = Admin();
        var started = await admin.PostAsync($"/admin/api/users/{gina.Id}/logins/openai/sign-in", new JsonObject { ["label"] = "pro" });
        Assert.Equal(HttpStatusCode.OK, started.Status);
        var authorizeUrl = (string)started.Json!["authorize_url"]!;
        // The simulated sign-in page refuses an address missing what the real one needs (PKCE, offline_access, the Codex flags).
        var landed = _openAi.Approve(authorizeUrl, accountId: "acct-gina-7");
        Assert.StartsWith("http://localhost:1455/auth/callback?code=", landed);

        var completed = await admin.PostAsync((string)started.Json["complete_url"]!, new JsonObject { ["code"] = landed });
        Assert.True(completed.Status == HttpStatusCode.Created, completed.ToString());
        Assert.Equal("alive", (string?)completed.Json!["login"]!["status"]);
        var stored = AccountSecret.Parse(await _gateway.Services.GetRequiredService<IGapuraStore>().UpstreamLogins.ReadSecretAsync(completed.Json["login"]!["id"]!.GetValue<long>()));
        Assert.Equal("acct-gina-7", stored.AccountId);

        for (var i = 0; i < 2; i++)
        {
            var (response, text) = await ChatAsync(gina.Key, "openai/gpt-5", stream: i == 1);
            Assert.True(response.StatusCode == HttpStatusCode.OK, text);
            Assert.Equal("openai/pro", response.Headers.GetValues("x-gapura-provider").Single());
            var sent = _openAi.CodexBackendRequests.Last();
            Assert.Equal("acct-gina-7", sent.Header("chatgpt-account-id"));
            Assert.NotEqual("Bearer " + OpenAiSimulatorOptions.DefaultChatGptAccessToken, sent.Header("Authorization"));
        }
        Assert.True(_openAi.Refreshes >= 2, $"renewed {_openAi.Refreshes} times");

        // Revoked: the renewal is refused, the sign-in is marked dead, and Gina is told how to connect again.
        _openAi.RevokeRefreshTokens();
        var (refused, error) = await ChatAsync(gina.Key, "openai/gpt-5");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Contains("gapura login openai --user", (string?)JsonNode.Parse(error)!["error"]!["message"]);
        var logins = (await admin.GetAsync($"/admin/api/users/{gina.Id}/logins")).Json!["logins"]!.AsArray();
        Assert.Equal("dead", (string?)logins.Single(l => (string?)l!["label"] == "pro")!["status"]);
    }

    [Fact]
    public async Task A_proxy_that_bills_per_user_takes_each_users_key_and_refuses_users_without_one()
    {
        var dana = await UserAsync("dana@example.com");
        var erin = await UserAsync("erin@example.com");
        await ConnectAsync(dana.Id, "corp", new JsonObject { ["api_key"] = AliceProxyKey });

        var (response, text) = await ChatAsync(dana.Key, "corp/corp-coder", stream: true);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal("corp/default", response.Headers.GetValues("x-gapura-provider").Single());
        Assert.Equal("Bearer " + AliceProxyKey, _proxy.ChatRequests.Last().Header("Authorization"));

        // The gateway's own proxy key is not shared (ShareProcessLogin=false): Erin must bring hers.
        var (refused, error) = await ChatAsync(erin.Key, "corp/corp-coder");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Contains("gapura login corp --user", (string?)JsonNode.Parse(error)!["error"]!["message"]);

        // An admin opens the gateway's own proxy key to everyone at run time; only admins may.
        using (var asErin = new AdminClient(_gateway.BaseUrl, erin.Key))
            Assert.Equal(HttpStatusCode.Forbidden, (await asErin.PutAsync("/admin/api/providers", Share("corp", true))).Status);
        using var admin = Admin();
        var shared = await admin.PutAsync("/admin/api/providers", Share("corp", true));
        Assert.Equal(HttpStatusCode.OK, shared.Status);
        Assert.True((bool)shared.Json!["providers"]!.AsArray().Single(p => (string?)p!["name"] == "corp")!["share_process_login"]!);
        var (served, servedText) = await ChatAsync(erin.Key, "corp/corp-coder");
        Assert.True(served.StatusCode == HttpStatusCode.OK, servedText);
        Assert.Equal("corp/process", served.Headers.GetValues("x-gapura-provider").Single());
        Assert.Equal("Bearer " + OpenAiSimulatorOptions.DefaultApiKey, _proxy.ChatRequests.Last().Header("Authorization"));
        // Dana still uses her own key: the shared key is not a spill-over.
        var (own, _) = await ChatAsync(dana.Key, "corp/corp-coder");
        Assert.Equal("corp/default", own.Headers.GetValues("x-gapura-provider").Single());
    }

    private static JsonObject Share(string provider, bool share)
        => new() { ["providers"] = new JsonArray(new JsonObject { ["name"] = provider, ["share_process_login"] = share }) };

    [Fact]
    public async Task A_copilot_seat_is_connected_from_the_browser_with_githubs_device_flow_and_a_seatless_account_is_refused()
    {
        var hana = await UserAsync("hana@example.com");
        var ivan = await UserAsync("ivan@example.com");
        using var admin = Admin();

        // No seat: the sign-in completes at GitHub, the seat check refuses it, and nothing is stored.
        _copilot.Options.DeviceLoginsHaveSeat = false;
        var refused = await DeviceSignInAsync(admin, hana.Id, "none");
        Assert.Equal(HttpStatusCode.BadRequest, refused.Status);
        Assert.Empty((await admin.GetAsync($"/admin/api/users/{hana.Id}/logins")).Json!["logins"]!.AsArray());

        _copilot.Options.DeviceLoginsHaveSeat = true;
        _copilot.ScriptPolls(DevicePoll.Pending);
        var started = await admin.PostAsync($"/admin/api/users/{hana.Id}/logins/copilot/device", new JsonObject { ["label"] = "seat" });
        Assert.Equal(HttpStatusCode.OK, started.Status);
        Assert.StartsWith(_copilot.BaseUrl, (string)started.Json!["verification_uri"]!);
        Assert.False(string.IsNullOrEmpty((string?)started.Json["user_code"]));
        var pollUrl = (string)started.Json["poll_url"]!;
        // Another user cannot poll (and so cannot claim) Hana's sign-in.
        using (var asIvan = new AdminClient(_gateway.BaseUrl, ivan.Key))
            Assert.Equal(HttpStatusCode.Forbidden, (await asIvan.GetAsync(pollUrl)).Status);
        var connected = await PollUntilDoneAsync(admin, pollUrl);
        Assert.True(connected.Status == HttpStatusCode.OK, connected.ToString());
        Assert.Equal(("copilot", "seat", "alive"), ((string?)connected.Json!["login"]!["provider"], (string?)connected.Json["login"]!["label"], (string?)connected.Json["login"]!["status"]));

        var (response, text) = await ChatAsync(hana.Key, "copilot/gpt-4.1");
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal("copilot/seat", response.Headers.GetValues("x-gapura-provider").Single());
    }

    private static async Task<AdminResponse> DeviceSignInAsync(AdminClient admin, long userId, string label)
    {
        var started = await admin.PostAsync($"/admin/api/users/{userId}/logins/copilot/device", new JsonObject { ["label"] = label });
        Assert.Equal(HttpStatusCode.OK, started.Status);
        return await PollUntilDoneAsync(admin, (string)started.Json!["poll_url"]!);
    }

    /// <summary>Polls as the browser page does until the sign-in is no longer pending (15 s at most).</summary>
    private static async Task<AdminResponse> PollUntilDoneAsync(AdminClient admin, string pollUrl)
    {
        for (var i = 0; i < 60; i++)
        {
            var poll = await admin.PostAsync(pollUrl, new JsonObject());
            if (poll.Status != HttpStatusCode.Accepted) return poll;
            Assert.Equal("pending", (string?)poll.Json!["status"]);
            await Task.Delay(250);
        }
        throw new TimeoutException("the device sign-in stayed pending");
    }

    [Fact]
    public async Task A_users_github_token_gets_them_copilot()
    {
        var frank = await UserAsync("frank@example.com");
        var github = _copilot.IssueGitHubToken();
        await ConnectAsync(frank.Id, "copilot", new JsonObject { ["label"] = "gh", ["github_token"] = github });
        Assert.Contains(await ModelIdsAsync(frank.Key), id => id.StartsWith("copilot/", StringComparison.Ordinal));

        var (response, text) = await ChatAsync(frank.Key, "copilot/gpt-4.1");
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal("copilot/gh", response.Headers.GetValues("x-gapura-provider").Single());
        Assert.Contains(_copilot.Requests, r => r.Header("Authorization") == "token " + github);
        Assert.Equal(1, _copilot.ChatCalls);
    }
}
