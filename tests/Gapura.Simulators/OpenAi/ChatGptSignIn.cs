using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace Gapura.Simulators.OpenAi;

// ---- ChatGPT sign-in (OAuth 2 + PKCE, as the Codex CLI does it) -----------------------------------------
//
// The simulator stands in for the ChatGPT sign-in server as well as for the Codex backend: the user approves
// the authorize URL in a browser (Approve), lands on the client's localhost callback with a code, and the
// client trades code and PKCE verifier at POST /oauth/token (form-encoded) for an id_token (a JWT naming the
// ChatGPT account), an access token and a rotating refresh token. The Codex backend then takes the access
// token with the matching chatgpt-account-id until it expires on the simulator's clock.

public sealed partial class OpenAiSimulator
{
    /// <summary>Where the sign-in page lives: the authorize URL's path (the issuer is <see cref="OAuthIssuer"/>).</summary>
    public const string OAuthAuthorizePath = "/oauth/authorize";

    /// <summary>Where codes and refresh tokens are traded for tokens: <c>POST</c>, form-encoded.</summary>
    public const string OAuthTokenPath = "/oauth/token";

    /// <summary>The JWT claim that carries the ChatGPT account (<c>chatgpt_account_id</c>, <c>chatgpt_plan_type</c>).</summary>
    public const string ChatGptAuthClaim = "https://api.openai.com/auth";

    /// <summary>The sign-in server's issuer URL: <see cref="BaseUrl"/>, standing in for the real sign-in host.</summary>
    public string OAuthIssuer => BaseUrl;

    /// <summary>How long an approved code can be traded, as on a real sign-in server.</summary>
    private static readonly TimeSpan CodeLifetime = TimeSpan.FromMinutes(10);

    private const string FormContentType = "application/x-www-form-urlencoded";

    /// <summary>Who a code, refresh token or access token was issued to.</summary>
    private sealed record SignIn(string ClientId, string AccountId, string Email);

    private sealed record PendingCode(SignIn Who, string Challenge, string RedirectUri, DateTimeOffset ExpiresAt);

    private sealed record IssuedAccess(string AccountId, DateTimeOffset ExpiresAt);

    private readonly ConcurrentDictionary<string, PendingCode> _codes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SignIn> _refreshTokens = new(StringComparer.Ordinal);
    // Refresh tokens no longer live, with why: rotated away or revoked.
    private readonly ConcurrentDictionary<string, string> _deadRefreshTokens = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, IssuedAccess> _issuedAccess = new(StringComparer.Ordinal);
    private readonly byte[] _jwtKey = RandomNumberGenerator.GetBytes(32);
    private int _refreshes;

    private DateTimeOffset Now => _options.Time.GetUtcNow();

    /// <summary>
    /// The user approves the sign-in in a browser. The simulator reads the authorize URL's client, redirect URI,
    /// PKCE challenge and state, and returns the URL the browser lands on: <c>{redirect_uri}?code=…&amp;state=…</c>
    /// (what the user pastes back when the callback cannot be reached). The sign-in is for <paramref name="accountId"/>
    /// (default <see cref="OpenAiSimulatorOptions.ChatGptAccountId"/>) and <paramref name="email"/> (default
    /// <see cref="OpenAiSimulatorOptions.ChatGptEmail"/>).
    /// </summary>
    /// <exception cref="InvalidOperationException">The URL lacks what the real sign-in page needs; the message names each missing part.</exception>
    public string Approve(string authorizeUrl, string? accountId = null, string? email = null)
    {
        var uri = new Uri(authorizeUrl);
        var query = System.Web.HttpUtility.ParseQueryString(uri.Query);
        var missing = new List<string>();
        if (uri.AbsolutePath != OAuthAuthorizePath) missing.Add($"the {OAuthAuthorizePath} path");
        if (query["response_type"] != "code") missing.Add("response_type=code");
        if (string.IsNullOrEmpty(query["client_id"])) missing.Add("client_id");
        var redirectUri = query["redirect_uri"];
        if (!Uri.TryCreate(redirectUri, UriKind.Absolute, out _)) missing.Add("an absolute redirect_uri");
        var scopes = (query["scope"] ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        foreach (var scope in (string[])["openid", "offline_access"])
            if (!scopes.Contains(scope)) missing.Add($"scope {scope}");
        if (string.IsNullOrEmpty(query["code_challenge"])) missing.Add("code_challenge");
        if (query["code_challenge_method"] != "S256") missing.Add("code_challenge_method=S256");
        if (query["id_token_add_organizations"] != "true") missing.Add("id_token_add_organizations=true");
        if (query["codex_cli_simplified_flow"] != "true") missing.Add("codex_cli_simplified_flow=true");
        if (missing.Count > 0) throw new InvalidOperationException("The sign-in page cannot work with this authorize URL; it lacks " + string.Join(", ", missing) + ".");

        var code = "ac_sim_" + RandomHex(24);
        var who = new SignIn(query["client_id"]!, accountId ?? _options.ChatGptAccountId, email ?? _options.ChatGptEmail);
        _codes[code] = new PendingCode(who, query["code_challenge"]!, redirectUri!, Now + CodeLifetime);
        var landing = redirectUri + (redirectUri!.Contains('?') ? "&" : "?") + "code=" + Uri.EscapeDataString(code);
        if (query["state"] is { } state) landing += "&state=" + Uri.EscapeDataString(state);
        return landing;
    }

    /// <summary>How many refresh grants were answered with new tokens.</summary>
    public int Refreshes => Volatile.Read(ref _refreshes);

    /// <summary>Forgets every refresh token: the next refresh is refused, as when a user revokes the sign-in.</summary>
    public void RevokeRefreshTokens()
    {
        foreach (var token in _refreshTokens.Keys)
            if (_refreshTokens.TryRemove(token, out _)) _deadRefreshTokens[token] = "Your refresh token has been invalidated. Please try signing in again.";
    }

    /// <summary>Refresh tokens issued and not yet used (they rotate on use) nor revoked.</summary>
    public int LiveRefreshTokens => _refreshTokens.Count;

    /// <summary>Makes every access token the sign-in issued expired now (the Codex backend answers 401 to them).</summary>
    public void ExpireAccessTokens()
    {
        foreach (var (token, issued) in _issuedAccess) _issuedAccess[token] = issued with { ExpiresAt = DateTimeOffset.MinValue };
    }

    /// <summary>
    /// Who may call the Codex backend: a static <see cref="OpenAiSimulatorOptions.ChatGptAccessTokens"/> token with
    /// <see cref="OpenAiSimulatorOptions.ChatGptAccountId"/>, or a token the sign-in issued, unexpired, with the account
    /// it was issued for. Null when allowed; else the status and <c>detail</c> to refuse with.
    /// </summary>
    private (int Status, string Detail)? CheckChatGptCaller(HttpContext context)
    {
        var header = context.Request.Headers.Authorization.ToString();
        var token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : "";
        var account = context.Request.Headers["chatgpt-account-id"].ToString();
        string expected;
        if (_options.ChatGptAccessTokens.Contains(token)) expected = _options.ChatGptAccountId;
        else if (_issuedAccess.TryGetValue(token, out var issued))
        {
            if (issued.ExpiresAt <= Now) return (401, "Provided authentication token is expired. Please try signing in again.");
            expected = issued.AccountId;
        }
        else return (401, "Could not parse your authentication token. Please try signing in again.");
        if (account != expected) return (403, "The chatgpt-account-id header is missing or does not match the signed-in account.");
        return null;
    }

    /// <summary><c>POST /oauth/token</c>: the authorization-code and refresh-token grants, form-encoded.</summary>
    private async Task ChatGptTokenAsync(HttpContext context)
    {
        if (!MediaTypeHeaderValue.TryParse(context.Request.ContentType, out var type) || !string.Equals(type.MediaType, FormContentType, StringComparison.OrdinalIgnoreCase))
        {
            await OAuthErrorAsync(context, "invalid_request", $"Content-Type must be {FormContentType}");
            return;
        }
        var form = new FormReader(Encoding.UTF8.GetString(Recorded(context).BodyBytes)).ReadForm();
        string? Field(string name) => form.TryGetValue(name, out var v) && v.Count == 1 && !string.IsNullOrEmpty(v[0]) ? v[0] : null;
        string? Missing(params string[] names) => names.FirstOrDefault(n => Field(n) is null);

        switch (Field("grant_type"))
        {
            case null:
                await OAuthErrorAsync(context, "invalid_request", "Missing required parameter: grant_type");
                return;
            case "authorization_code":
            {
                if (Missing("code", "redirect_uri", "client_id", "code_verifier") is { } absent)
                {
                    await OAuthErrorAsync(context, "invalid_request", $"Missing required parameter: {absent}");
                    return;
                }
                // A code is spent by its first use, right or wrong.
                if (!_codes.TryRemove(Field("code")!, out var pending) || pending.ExpiresAt <= Now)
                {
                    await OAuthErrorAsync(context, "invalid_grant", "Invalid or expired authorization code");
                    return;
                }
                if (Field("client_id") != pending.Who.ClientId || Field("redirect_uri") != pending.RedirectUri)
                {
                    await OAuthErrorAsync(context, "invalid_grant", "The client_id or redirect_uri does not match the authorization request");
                    return;
                }
                if (Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(Field("code_verifier")!))) != pending.Challenge)
                {
                    await OAuthErrorAsync(context, "invalid_grant", "PKCE verification failed");
                    return;
                }
                await IssueTokensAsync(context, pending.Who);
                return;
            }
            case "refresh_token":
            {
                if (Missing("refresh_token", "client_id") is { } absent)
                {
                    await OAuthErrorAsync(context, "invalid_request", $"Missing required parameter: {absent}");
                    return;
                }
                var refresh = Field("refresh_token")!;
                if (!_refreshTokens.TryGetValue(refresh, out var who))
                {
                    await OAuthErrorAsync(context, "invalid_grant", _deadRefreshTokens.TryGetValue(refresh, out var why) ? why : "Refresh token not found or invalid");
                    return;
                }
                if (Field("client_id") != who.ClientId)
                {
                    await OAuthErrorAsync(context, "invalid_grant", "The refresh token was issued to another client");
                    return;
                }
                // Rotation: the token is spent; of two racing uses only one wins.
                if (!_refreshTokens.TryRemove(new KeyValuePair<string, SignIn>(refresh, who)))
                {
                    await OAuthErrorAsync(context, "invalid_grant", _deadRefreshTokens.TryGetValue(refresh, out var why) ? why : "Refresh token not found or invalid");
                    return;
                }
                _deadRefreshTokens[refresh] = "Your refresh token has already been used to generate a new access token. Please try signing in again.";
                Interlocked.Increment(ref _refreshes);
                await IssueTokensAsync(context, who);
                return;
            }
            default:
                await OAuthErrorAsync(context, "unsupported_grant_type", "Unsupported grant type");
                return;
        }
    }

    private Task IssueTokensAsync(HttpContext context, SignIn who)
    {
        var now = Now;
        var expires = now.AddSeconds(_options.OAuthAccessTokenSeconds);
        var auth = new JsonObject
        {
            ["chatgpt_account_id"] = who.AccountId,
            ["chatgpt_plan_type"] = _options.ChatGptPlanType,
            ["chatgpt_user_id"] = UserId(who),
            ["user_id"] = UserId(who),
        };
        var idToken = Jwt(new JsonObject
        {
            ["iss"] = OAuthIssuer,
            ["aud"] = new JsonArray(who.ClientId),
            ["sub"] = "auth0|" + UserId(who),
            ["email"] = who.Email,
            ["email_verified"] = true,
            ["iat"] = now.ToUnixTimeSeconds(),
            ["auth_time"] = now.ToUnixTimeSeconds(),
            ["exp"] = now.AddHours(1).ToUnixTimeSeconds(),
            [ChatGptAuthClaim] = auth.DeepClone(),
        });
        var access = Jwt(new JsonObject
        {
            ["iss"] = OAuthIssuer,
            ["aud"] = new JsonArray("https://api.openai.com/v1"),
            ["client_id"] = who.ClientId,
            ["sub"] = "auth0|" + UserId(who),
            ["scp"] = new JsonArray("openid", "profile", "email", "offline_access"),
            ["iat"] = now.ToUnixTimeSeconds(),
            ["exp"] = expires.ToUnixTimeSeconds(),
            ["jti"] = RandomHex(16),
            [ChatGptAuthClaim] = auth,
        });
        var refresh = "rt_sim_" + RandomHex(32);
        // Kept apart from the options' set: requests read it concurrently.
        _issuedAccess[access] = new IssuedAccess(who.AccountId, expires);
        _refreshTokens[refresh] = who;
        return OAuthJsonAsync(context, 200, new JsonObject
        {
            ["id_token"] = idToken,
            ["access_token"] = access,
            ["refresh_token"] = refresh,
            ["expires_in"] = _options.OAuthAccessTokenSeconds,
            ["token_type"] = "Bearer",
        });
    }

    private static string UserId(SignIn who) => "user-sim-" + Base64Url(SHA256.HashData(Encoding.UTF8.GetBytes(who.Email)))[..16];

    /// <summary>An HS256 JWT signed with the simulator's own key.</summary>
    private string Jwt(JsonObject payload)
    {
        var signed = Base64Url("""{"alg":"HS256","typ":"JWT"}"""u8.ToArray()) + "." + Base64Url(Encoding.UTF8.GetBytes(payload.ToJsonString()));
        return signed + "." + Base64Url(HMACSHA256.HashData(_jwtKey, Encoding.ASCII.GetBytes(signed)));
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string RandomHex(int bytes) => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(bytes));

    private static Task OAuthErrorAsync(HttpContext context, string error, string description)
        => OAuthJsonAsync(context, 400, new JsonObject { ["error"] = error, ["error_description"] = description });

    private static Task OAuthJsonAsync(HttpContext context, int status, JsonObject body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        // Token answers must not be cached (RFC 6749, section 5.1).
        context.Response.Headers.CacheControl = "no-store";
        context.Response.Headers.Pragma = "no-cache";
        return context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted);
    }
}
