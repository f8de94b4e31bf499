using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.Anthropic;

/// <summary>Where a Claude sign-in talks to, and as whom. Every value is a setting: the endpoints are not a published API.</summary>
public sealed class ClaudeOAuthOptions
{
    public string AuthorizeUrl { get; set; } = "https://claude.ai/oauth/authorize";
    public string TokenUrl { get; set; } = "https://console.anthropic.com/v1/oauth/token";
    public string ClientId { get; set; } = "";
    public string RedirectUri { get; set; } = "https://console.anthropic.com/oauth/code/callback";
    public string Scopes { get; set; } = "user:inference user:profile";
}

/// <summary>A sign-in in progress: the URL the user opens, and the secrets that stay with the gateway until the code comes back.</summary>
internal sealed record ClaudeLoginStart(string AuthorizeUrl, string CodeVerifier, string State);

/// <summary>Tokens of a Claude sign-in: the access token is sent as <c>Authorization: Bearer</c>.</summary>
internal sealed record ClaudeTokens(string AccessToken, string RefreshToken, DateTimeOffset ExpiresAt);

/// <summary>
/// Claude sign-in (OAuth 2 authorization code with PKCE, S256): builds the authorize URL, exchanges the code
/// the user pastes back, and refreshes. Not yet wired into <see cref="AnthropicProvider"/> (which uses the API key):
/// storing these tokens per user belongs with the multi-user login store.
/// </summary>
internal sealed class ClaudeOAuthClient(HttpClient http, ClaudeOAuthOptions options, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public ClaudeLoginStart Start()
    {
        var verifier = Base64Url(RandomNumberGenerator.GetBytes(32));
        var state = Base64Url(RandomNumberGenerator.GetBytes(16));
        var query = string.Join("&",
            "code=true",
            "response_type=code",
            "client_id=" + Uri.EscapeDataString(options.ClientId),
            "redirect_uri=" + Uri.EscapeDataString(options.RedirectUri),
            "scope=" + Uri.EscapeDataString(options.Scopes),
            "code_challenge=" + Challenge(verifier),
            "code_challenge_method=S256",
            "state=" + state);
        return new ClaudeLoginStart(options.AuthorizeUrl + "?" + query, verifier, state);
    }

    /// <summary>The S256 challenge of a verifier (RFC 7636).</summary>
    public static string Challenge(string verifier) => Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));

    /// <summary>
    /// Exchanges the code shown to the user. Claude's callback page shows <c>code#state</c>; both forms are accepted,
    /// and a state that does not match the login's is refused (the code belongs to another sign-in).
    /// </summary>
    public Task<ClaudeTokens> ExchangeAsync(ClaudeLoginStart login, string pasted, CancellationToken ct)
    {
        var code = pasted.Trim();
        var hash = code.IndexOf('#');
        if (hash >= 0)
        {
            if (code[(hash + 1)..] != login.State) throw GatewayException.BadRequest("The pasted code belongs to a different sign-in (state mismatch); start again.");
            code = code[..hash];
        }
        return TokenAsync(new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code",
            ["code"] = code,
            ["state"] = login.State,
            ["client_id"] = options.ClientId,
            ["redirect_uri"] = options.RedirectUri,
            ["code_verifier"] = login.CodeVerifier,
        }, ct);
    }

    public Task<ClaudeTokens> RefreshAsync(string refreshToken, CancellationToken ct) => TokenAsync(new Dictionary<string, string>
    {
        ["grant_type"] = "refresh_token",
        ["refresh_token"] = refreshToken,
        ["client_id"] = options.ClientId,
    }, ct);

    private async Task<ClaudeTokens> TokenAsync(Dictionary<string, string> form, CancellationToken ct)
    {
        using var response = await http.PostAsJsonAsync(options.TokenUrl, form, ct);
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
            throw new GatewayException(ErrorKind.UpstreamLogin, $"Claude sign-in failed ({(int)response.StatusCode} {error}): {description}", 503);
        }
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        var access = root.GetProperty("access_token").GetString()!;
        var refresh = root.TryGetProperty("refresh_token", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString()! : form.GetValueOrDefault("refresh_token", "");
        var expiresIn = root.TryGetProperty("expires_in", out var x) && x.TryGetInt32(out var seconds) ? seconds : 3600;
        return new ClaudeTokens(access, refresh, _time.GetUtcNow().AddSeconds(expiresIn));
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
