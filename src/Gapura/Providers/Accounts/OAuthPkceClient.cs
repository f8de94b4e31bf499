using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.Accounts;

/// <summary>Where an OAuth sign-in talks to, and as whom. Every value is a setting: these endpoints are not published APIs.</summary>
public sealed class OAuthSignInOptions
{
    public string AuthorizeUrl { get; set; } = "";
    public string TokenUrl { get; set; } = "";
    public string ClientId { get; set; } = "";
    public string RedirectUri { get; set; } = "";
    public string Scopes { get; set; } = "";

    /// <summary>How the token endpoint wants its request: <c>json</c> (Claude) or <c>form</c> (OAuth's standard, ChatGPT).</summary>
    public string TokenRequestFormat { get; set; } = "form";

    /// <summary>Extra authorize-URL parameters the provider's sign-in page expects (e.g. Claude's <c>code=true</c>).</summary>
    public Dictionary<string, string> AuthorizeParameters { get; set; } = [];
}

/// <summary>A sign-in in progress: the URL the user opens, and the secrets that stay with the gateway until the code comes back.</summary>
internal sealed record OAuthSignInStart(string AuthorizeUrl, string CodeVerifier, string State);

/// <summary>
/// OAuth 2 authorization code with PKCE (S256, RFC 7636), for the upstreams that sign in this way (Claude,
/// ChatGPT): builds the authorize URL, exchanges the code the user brings back — pasted as <c>code#state</c>,
/// as a bare code, or as the whole redirect URL — and renews with the refresh token. Tokens come back as an
/// <see cref="AccountSecret"/>; what a provider reads beyond them (ChatGPT's account id) is its own.
/// </summary>
internal sealed class OAuthPkceClient(HttpClient http, OAuthSignInOptions options, string upstream, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public OAuthSignInOptions Options => options;

    public OAuthSignInStart Start()
    {
        var verifier = Base64Url(RandomNumberGenerator.GetBytes(32));
        var state = Base64Url(RandomNumberGenerator.GetBytes(16));
        var query = new List<string>();
        foreach (var (name, value) in options.AuthorizeParameters) query.Add(Uri.EscapeDataString(name) + "=" + Uri.EscapeDataString(value));
        query.Add("response_type=code");
        query.Add("client_id=" + Uri.EscapeDataString(options.ClientId));
        query.Add("redirect_uri=" + Uri.EscapeDataString(options.RedirectUri));
        query.Add("scope=" + Uri.EscapeDataString(options.Scopes));
        query.Add("code_challenge=" + Challenge(verifier));
        query.Add("code_challenge_method=S256");
        query.Add("state=" + state);
        return new OAuthSignInStart(options.AuthorizeUrl + "?" + string.Join("&", query), verifier, state);
    }

    /// <summary>The S256 challenge of a verifier (RFC 7636).</summary>
    public static string Challenge(string verifier) => Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));

    /// <summary>
    /// Exchanges what the user brought back. A state that does not match the sign-in's is refused: the code
    /// belongs to another sign-in (or to someone trying to slip theirs in).
    /// </summary>
    /// <returns>The tokens, and the token response for provider-specific fields.</returns>
    public async Task<(AccountSecret Secret, JsonElement Response)> ExchangeAsync(OAuthSignInStart signIn, string pasted, CancellationToken ct)
    {
        var (code, state) = ParsePasted(pasted);
        if (string.IsNullOrEmpty(code)) throw GatewayException.BadRequest("code: paste the code (or the whole address) the sign-in page showed.");
        if (state is not null && state != signIn.State)
            throw GatewayException.BadRequest("The pasted code belongs to a different sign-in (state mismatch); start again.");
        var form = new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code",
            ["code"] = code,
            ["client_id"] = options.ClientId,
            ["redirect_uri"] = options.RedirectUri,
            ["code_verifier"] = signIn.CodeVerifier,
        };
        // Claude's endpoint wants the state echoed; a standard one ignores it.
        if (IsJson) form["state"] = signIn.State;
        return await TokenAsync(form, null, ct);
    }

    public async Task<AccountSecret> RefreshAsync(AccountSecret current, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(current.RefreshToken))
            throw new GatewayException(ErrorKind.UpstreamLogin, $"The {upstream} sign-in has no refresh token; sign in again.");
        var (secret, _) = await TokenAsync(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
            ["refresh_token"] = current.RefreshToken,
            ["client_id"] = options.ClientId,
        }, current, ct);
        return secret;
    }

    /// <summary><c>code#state</c>, a bare code, or a redirect URL carrying <c>?code=…&amp;state=…</c>.</summary>
    internal static (string Code, string? State) ParsePasted(string pasted)
    {
        var text = pasted.Trim();
        if (Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Query.Length > 1)
        {
            var query = System.Web.HttpUtility.ParseQueryString(url.Query);
            return (query["code"] ?? "", query["state"]);
        }
        var hash = text.IndexOf('#');
        return hash >= 0 ? (text[..hash], text[(hash + 1)..]) : (text, null);
    }

    private bool IsJson => options.TokenRequestFormat.Equals("json", StringComparison.OrdinalIgnoreCase);

    private async Task<(AccountSecret, JsonElement)> TokenAsync(Dictionary<string, string> form, AccountSecret? previous, CancellationToken ct)
    {
        HttpResponseMessage response;
        try
        {
            response = IsJson
                ? await http.PostAsJsonAsync(options.TokenUrl, form, ct)
                : await http.PostAsync(options.TokenUrl, new FormUrlEncodedContent(form), ct);
        }
        catch (HttpRequestException e)
        {
            throw new GatewayException(ErrorKind.UpstreamUnavailable, $"Could not reach the {upstream} sign-in service: {e.Message}", 502, inner: e);
        }
        using (response)
        {
            var body = await response.Content.ReadAsByteArrayAsync(ct);
            if (!response.IsSuccessStatusCode)
            {
                // OAuth errors are {"error","error_description"}; the tokens themselves never reach the message.
                string? error = null, description = null;
                try
                {
                    using var doc = JsonDocument.Parse(body);
                    error = doc.RootElement.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
                    description = doc.RootElement.TryGetProperty("error_description", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
                }
                catch (JsonException) { }
                var status = (int)response.StatusCode;
                // invalid_grant and friends say the sign-in itself is gone; a 5xx or 429 may pass.
                var kind = status is 429 or >= 500 ? ErrorKind.UpstreamUnavailable : ErrorKind.UpstreamLogin;
                throw new GatewayException(kind, $"{upstream} sign-in failed ({status} {error}): {description}", kind == ErrorKind.UpstreamLogin ? 503 : 502);
            }
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            var access = root.TryGetProperty("access_token", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null;
            if (string.IsNullOrEmpty(access)) throw new GatewayException(ErrorKind.UpstreamLogin, $"{upstream} sign-in answered without an access token.", 503);
            // Some servers rotate refresh tokens, others keep them: keep the old one when none came back.
            var refresh = root.TryGetProperty("refresh_token", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : previous?.RefreshToken;
            var expiresIn = root.TryGetProperty("expires_in", out var x) && x.TryGetInt64(out var seconds) ? seconds : 3600;
            var secret = new AccountSecret
            {
                Kind = AccountSecret.OAuthKind,
                AccessToken = access,
                RefreshToken = refresh,
                ExpiresAtUnixSeconds = _time.GetUtcNow().AddSeconds(expiresIn).ToUnixTimeSeconds(),
                AccountId = previous?.AccountId,
            };
            return (secret, root.Clone());
        }
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
