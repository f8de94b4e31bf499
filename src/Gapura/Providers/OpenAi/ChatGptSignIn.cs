using System.Text;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Providers.Accounts;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// ChatGPT sign-in (a ChatGPT Plus/Pro/Team plan instead of an API key), as the Codex CLI does it: OAuth 2 with
/// PKCE against OpenAI's sign-in service, whose page redirects to a localhost callback; the user pastes that
/// address back. The token answer's <c>id_token</c> names the ChatGPT account, which every call to the Codex
/// backend must carry (<c>chatgpt-account-id</c>). Defaults are the Codex CLI's own; every value can be changed
/// under <c>Providers:OpenAI:SignIn</c>.
/// </summary>
internal static class ChatGptSignIn
{
    public const string Section = "Providers:OpenAI:SignIn";

    /// <summary>Where a sign-in's calls go (<c>Providers:OpenAI:ChatGptBaseUrl</c>): the Codex backend's Responses API.</summary>
    public const string DefaultBackendUrl = "https://chatgpt.com/backend-api/codex";

    /// <summary>The id_token claim holding the ChatGPT account.</summary>
    private const string AuthClaim = "https://api.openai.com/auth";

    public static OAuthSignInOptions Defaults() => new()
    {
        AuthorizeUrl = "https://auth.openai.com/oauth/authorize",
        TokenUrl = "https://auth.openai.com/oauth/token",
        ClientId = "app_EMoamEEZ73f0CkXaXp7hrann",
        RedirectUri = "http://localhost:1455/auth/callback",
        Scopes = "openid profile email offline_access",
        TokenRequestFormat = "form",
        AuthorizeParameters = new() { ["id_token_add_organizations"] = "true", ["codex_cli_simplified_flow"] = "true" },
    };

    public static OAuthSignInOptions Read(IConfiguration configuration)
    {
        var options = Defaults();
        configuration.GetSection(Section).Bind(options);
        return options;
    }

    /// <summary>Completes a sign-in's secret with the ChatGPT account id read from the token answer's id_token.</summary>
    /// <exception cref="GatewayException">UpstreamLogin when the answer names no ChatGPT account: the backend would refuse every call.</exception>
    public static AccountSecret Finish(AccountSecret secret, JsonElement response)
    {
        var id = response.TryGetProperty("id_token", out var token) && token.ValueKind == JsonValueKind.String ? AccountIdOf(token.GetString()!) : null;
        return string.IsNullOrEmpty(id)
            ? throw new GatewayException(ErrorKind.UpstreamLogin, "The ChatGPT sign-in answered without a ChatGPT account (no chatgpt_account_id in the id_token); is this account on a ChatGPT plan?", 503)
            : secret with { AccountId = id };
    }

    /// <summary>
    /// The <c>chatgpt_account_id</c> claim of a JWT's payload. The signature is not checked: the token came straight
    /// from the sign-in service over TLS, and the id only tells the backend which of the user's accounts to bill.
    /// </summary>
    internal static string? AccountIdOf(string jwt)
    {
        var parts = jwt.Split('.');
        if (parts.Length < 2) return null;
        try
        {
            var payload = parts[1].Replace('-', '+').Replace('_', '/');
            payload = payload.PadRight(payload.Length + (4 - payload.Length % 4) % 4, '=');
            using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(Convert.FromBase64String(payload)));
            return doc.RootElement.TryGetProperty(AuthClaim, out var auth) && auth.ValueKind == JsonValueKind.Object
                && auth.TryGetProperty("chatgpt_account_id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;
        }
        catch (Exception e) when (e is FormatException or JsonException)
        {
            return null;
        }
    }
}
