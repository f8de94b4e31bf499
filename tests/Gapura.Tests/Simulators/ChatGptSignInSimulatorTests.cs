using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Gapura.Simulators.OpenAi;

namespace Gapura.Tests.Simulators;

/// <summary>
/// The simulated ChatGPT sign-in, driven as the Codex CLI drives the real one with plain HTTP: approve the
/// authorize URL, trade code and PKCE verifier (form-encoded) for tokens, call the Codex backend with the access
/// token and the id_token's account, refresh with rotation, and see revocation and expiry refused.
/// </summary>
public class ChatGptSignInSimulatorTests
{
    private const string ClientId = "app_sim_codex_client";
    private const string Callback = "http://localhost:1455/auth/callback";

    [Fact]
    public async Task Sign_in_issues_tokens_the_codex_backend_takes_for_the_signed_in_account()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        using var http = new HttpClient();
        var (verifier, challenge) = Pkce();

        var landing = sim.Approve(AuthorizeUrl(sim, challenge, state: "st-123"));
        Assert.StartsWith(Callback + "?code=", landing);
        var callback = System.Web.HttpUtility.ParseQueryString(new Uri(landing).Query);
        Assert.Equal("st-123", callback["state"]);

        var (status, tokens) = await TokenAsync(http, sim, new() { ["grant_type"] = "authorization_code", ["code"] = callback["code"]!, ["redirect_uri"] = Callback, ["client_id"] = ClientId, ["code_verifier"] = verifier });
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("Bearer", (string?)tokens["token_type"]);
        Assert.Equal(864_000, (int)tokens["expires_in"]!);
        Assert.StartsWith("rt_", (string?)tokens["refresh_token"]);

        var idToken = (string)tokens["id_token"]!;
        Assert.Equal(3, idToken.Split('.').Length);
        var claims = JwtPayload(idToken);
        Assert.Equal(OpenAiSimulatorOptions.DefaultChatGptEmail, (string?)claims["email"]);
        Assert.True((long)claims["exp"]! > (long)claims["iat"]!);
        var auth = claims[OpenAiSimulator.ChatGptAuthClaim]!;
        Assert.Equal(OpenAiSimulatorOptions.DefaultChatGptAccountId, (string?)auth["chatgpt_account_id"]);
        Assert.Equal("plus", (string?)auth["chatgpt_plan_type"]);

        var access = (string)tokens["access_token"]!;
        var account = (string)auth["chatgpt_account_id"]!;
        var (ok, text) = await CodexAsync(http, sim, access, account);
        Assert.True(ok == HttpStatusCode.OK, text);
        Assert.Contains("response.completed", text);

        var (mismatched, detail) = await CodexAsync(http, sim, access, "acc-someone-else");
        Assert.Equal(HttpStatusCode.Forbidden, mismatched);
        Assert.NotNull(JsonNode.Parse(detail)!["detail"]);
        Assert.Equal(HttpStatusCode.Forbidden, (await CodexAsync(http, sim, access, account: null)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await CodexAsync(http, sim, "made-up-token", account)).Status);
        // The configured static token keeps working beside issued ones.
        Assert.Equal(HttpStatusCode.OK, (await CodexAsync(http, sim, OpenAiSimulatorOptions.DefaultChatGptAccessToken, OpenAiSimulatorOptions.DefaultChatGptAccountId)).Status);
    }

    [Fact]
    public async Task An_approval_can_name_another_account()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        using var http = new HttpClient();
        var tokens = await SignInAsync(http, sim, accountId: "acc-2", email: "two@example.com");
        var claims = JwtPayload((string)tokens["id_token"]!);
        Assert.Equal("acc-2", (string?)claims[OpenAiSimulator.ChatGptAuthClaim]!["chatgpt_account_id"]);
        Assert.Equal("two@example.com", (string?)claims["email"]);

        var access = (string)tokens["access_token"]!;
        Assert.Equal(HttpStatusCode.OK, (await CodexAsync(http, sim, access, "acc-2")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await CodexAsync(http, sim, access, OpenAiSimulatorOptions.DefaultChatGptAccountId)).Status);
    }

    [Fact]
    public async Task Approve_refuses_an_authorize_url_the_sign_in_page_could_not_use()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        var (_, challenge) = Pkce();
        var bare = $"{sim.OAuthIssuer}/oauth/authorize?response_type=code&client_id={ClientId}&redirect_uri={Uri.EscapeDataString(Callback)}"
                   + $"&scope=openid%20profile%20email&code_challenge={challenge}&code_challenge_method=plain&state=s";
        var refused = Assert.Throws<InvalidOperationException>(() => sim.Approve(bare));
        Assert.Contains("id_token_add_organizations=true", refused.Message);
        Assert.Contains("codex_cli_simplified_flow=true", refused.Message);
        Assert.Contains("offline_access", refused.Message);
        Assert.Contains("code_challenge_method=S256", refused.Message);

        var wrongPath = AuthorizeUrl(sim, challenge, "s").Replace("/oauth/authorize", "/authorize");
        Assert.Contains("/oauth/authorize", Assert.Throws<InvalidOperationException>(() => sim.Approve(wrongPath)).Message);
        Assert.Equal(0, sim.LiveRefreshTokens);
    }

    [Fact]
    public async Task A_wrong_verifier_is_refused_and_a_code_works_once()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        using var http = new HttpClient();
        var (verifier, challenge) = Pkce();

        var code = CodeOf(sim.Approve(AuthorizeUrl(sim, challenge, "s1")));
        var (wrong, error) = await TokenAsync(http, sim, CodeGrant(code, Pkce().Verifier));
        Assert.Equal(HttpStatusCode.BadRequest, wrong);
        Assert.Equal("invalid_grant", (string?)error["error"]);
        // The failed attempt spent the code.
        Assert.Equal(HttpStatusCode.BadRequest, (await TokenAsync(http, sim, CodeGrant(code, verifier))).Status);

        var second = CodeOf(sim.Approve(AuthorizeUrl(sim, challenge, "s2")));
        var (redirectMismatch, _) = await TokenAsync(http, sim, new(CodeGrant(second, verifier)) { ["redirect_uri"] = "http://localhost:9999/cb" });
        Assert.Equal(HttpStatusCode.BadRequest, redirectMismatch);

        var third = CodeOf(sim.Approve(AuthorizeUrl(sim, challenge, "s3")));
        Assert.Equal(HttpStatusCode.OK, (await TokenAsync(http, sim, CodeGrant(third, verifier))).Status);
        var (again, reused) = await TokenAsync(http, sim, CodeGrant(third, verifier));
        Assert.Equal(HttpStatusCode.BadRequest, again);
        Assert.Equal("invalid_grant", (string?)reused["error"]);
        Assert.Equal(1, sim.LiveRefreshTokens);
    }

    [Fact]
    public async Task The_token_endpoint_takes_only_form_encoding()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        using var http = new HttpClient();
        var (verifier, challenge) = Pkce();
        var code = CodeOf(sim.Approve(AuthorizeUrl(sim, challenge, "s")));
        var json = new JsonObject { ["grant_type"] = "authorization_code", ["code"] = code, ["redirect_uri"] = Callback, ["client_id"] = ClientId, ["code_verifier"] = verifier };
        using var response = await http.PostAsync(sim.OAuthIssuer + OpenAiSimulator.OAuthTokenPath, new StringContent(json.ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_request", (string?)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]);

        // The refused request did not spend the code.
        Assert.Equal(HttpStatusCode.OK, (await TokenAsync(http, sim, CodeGrant(code, verifier))).Status);
        var (unsupported, error) = await TokenAsync(http, sim, new() { ["grant_type"] = "password", ["client_id"] = ClientId });
        Assert.Equal(HttpStatusCode.BadRequest, unsupported);
        Assert.Equal("unsupported_grant_type", (string?)error["error"]);
    }

    [Fact]
    public async Task A_refresh_rotates_and_the_old_refresh_token_is_refused()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        using var http = new HttpClient();
        var first = await SignInAsync(http, sim);
        var oldRefresh = (string)first["refresh_token"]!;

        var (otherClient, _) = await TokenAsync(http, sim, RefreshGrant(oldRefresh, clientId: "app_other"));
        Assert.Equal(HttpStatusCode.BadRequest, otherClient);

        var (status, second) = await TokenAsync(http, sim, new(RefreshGrant(oldRefresh)) { ["scope"] = "openid profile email" });
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(1, sim.Refreshes);
        Assert.Equal(1, sim.LiveRefreshTokens);
        Assert.NotEqual(oldRefresh, (string?)second["refresh_token"]);
        Assert.NotEqual((string?)first["access_token"], (string?)second["access_token"]);
        Assert.Equal(OpenAiSimulatorOptions.DefaultChatGptAccountId, (string?)JwtPayload((string)second["id_token"]!)[OpenAiSimulator.ChatGptAuthClaim]!["chatgpt_account_id"]);
        Assert.Equal(HttpStatusCode.OK, (await CodexAsync(http, sim, (string)second["access_token"]!, OpenAiSimulatorOptions.DefaultChatGptAccountId)).Status);

        var (reused, error) = await TokenAsync(http, sim, RefreshGrant(oldRefresh));
        Assert.Equal(HttpStatusCode.BadRequest, reused);
        Assert.Equal("invalid_grant", (string?)error["error"]);
        Assert.Contains("already been used", (string?)error["error_description"]);
        Assert.Equal(1, sim.Refreshes);
    }

    [Fact]
    public async Task Revoked_refresh_tokens_are_refused()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        using var http = new HttpClient();
        var tokens = await SignInAsync(http, sim);
        Assert.Equal(1, sim.LiveRefreshTokens);
        sim.RevokeRefreshTokens();
        Assert.Equal(0, sim.LiveRefreshTokens);
        var (status, error) = await TokenAsync(http, sim, RefreshGrant((string)tokens["refresh_token"]!));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_grant", (string?)error["error"]);
        Assert.Equal(0, sim.Refreshes);
    }

    [Fact]
    public async Task An_expired_access_token_gets_401_until_refreshed()
    {
        var clock = new HandClock(DateTimeOffset.Parse("2026-03-01T10:00:00Z"));
        await using var sim = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions { OAuthAccessTokenSeconds = 60, Time = clock });
        using var http = new HttpClient();
        var tokens = await SignInAsync(http, sim);
        Assert.Equal(60, (int)tokens["expires_in"]!);
        var access = (string)tokens["access_token"]!;
        Assert.Equal(clock.GetUtcNow().AddSeconds(60).ToUnixTimeSeconds(), (long)JwtPayload(access)["exp"]!);
        var account = OpenAiSimulatorOptions.DefaultChatGptAccountId;
        Assert.Equal(HttpStatusCode.OK, (await CodexAsync(http, sim, access, account)).Status);

        clock.Advance(TimeSpan.FromSeconds(61));
        var (expired, detail) = await CodexAsync(http, sim, access, account);
        Assert.Equal(HttpStatusCode.Unauthorized, expired);
        Assert.Contains("expired", (string?)JsonNode.Parse(detail)!["detail"]);

        var (_, renewed) = await TokenAsync(http, sim, RefreshGrant((string)tokens["refresh_token"]!));
        var fresh = (string)renewed["access_token"]!;
        Assert.Equal(HttpStatusCode.OK, (await CodexAsync(http, sim, fresh, account)).Status);
        sim.ExpireAccessTokens();
        Assert.Equal(HttpStatusCode.Unauthorized, (await CodexAsync(http, sim, fresh, account)).Status);
    }

    // ---- the client's side, as the Codex CLI plays it ----------------------------------------------

    private static (string Verifier, string Challenge) Pkce()
    {
        var verifier = Base64Url(RandomNumberGenerator.GetBytes(32));
        return (verifier, Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))));
    }

    private static string AuthorizeUrl(OpenAiSimulator sim, string challenge, string state)
        => $"{sim.OAuthIssuer}{OpenAiSimulator.OAuthAuthorizePath}?response_type=code&client_id={ClientId}&redirect_uri={Uri.EscapeDataString(Callback)}"
           + $"&scope={Uri.EscapeDataString("openid profile email offline_access")}&code_challenge={challenge}&code_challenge_method=S256"
           + $"&id_token_add_organizations=true&codex_cli_simplified_flow=true&state={Uri.EscapeDataString(state)}";

    private static string CodeOf(string landing) => System.Web.HttpUtility.ParseQueryString(new Uri(landing).Query)["code"]!;

    private static Dictionary<string, string> CodeGrant(string code, string verifier) => new()
    {
        ["grant_type"] = "authorization_code", ["code"] = code, ["redirect_uri"] = Callback, ["client_id"] = ClientId, ["code_verifier"] = verifier,
    };

    private static Dictionary<string, string> RefreshGrant(string refreshToken, string clientId = ClientId) => new()
    {
        ["grant_type"] = "refresh_token", ["refresh_token"] = refreshToken, ["client_id"] = clientId,
    };

    private static async Task<JsonNode> SignInAsync(HttpClient http, OpenAiSimulator sim, string? accountId = null, string? email = null)
    {
        var (verifier, challenge) = Pkce();
        var code = CodeOf(sim.Approve(AuthorizeUrl(sim, challenge, "s"), accountId, email));
        var (status, tokens) = await TokenAsync(http, sim, CodeGrant(code, verifier));
        Assert.Equal(HttpStatusCode.OK, status);
        return tokens;
    }

    private static async Task<(HttpStatusCode Status, JsonNode Body)> TokenAsync(HttpClient http, OpenAiSimulator sim, Dictionary<string, string> form)
    {
        using var response = await http.PostAsync(sim.OAuthIssuer + OpenAiSimulator.OAuthTokenPath, new FormUrlEncodedContent(form));
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    private static async Task<(HttpStatusCode Status, string Body)> CodexAsync(HttpClient http, OpenAiSimulator sim, string accessToken, string? account)
    {
        const string body = """{"model":"gpt-5","stream":true,"store":false,"instructions":"be brief","input":[{"role":"user","content":[{"type":"input_text","text":"hi"}]}]}""";
        using var request = new HttpRequestMessage(HttpMethod.Post, sim.CodexBackendUrl + "/responses") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new("Bearer", accessToken);
        if (account is not null) request.Headers.Add("chatgpt-account-id", account);
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static JsonNode JwtPayload(string jwt)
    {
        var part = jwt.Split('.')[1].Replace('-', '+').Replace('_', '/');
        return JsonNode.Parse(Convert.FromBase64String(part.PadRight(part.Length + (4 - part.Length % 4) % 4, '=')))!;
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private sealed class HandClock(DateTimeOffset start) : TimeProvider
    {
        private DateTimeOffset _now = start;
        public override DateTimeOffset GetUtcNow() => _now;
        public void Advance(TimeSpan by) => _now += by;
    }
}
