using Gapura.Providers.Accounts;

namespace Gapura.Providers.Anthropic;

/// <summary>
/// Claude sign-in (a Claude Pro/Max subscription instead of an API key): OAuth 2 with PKCE against Claude's
/// sign-in page, whose callback page shows <c>code#state</c> for the user to paste back. The defaults are
/// those of Claude's own command-line client; every value can be changed under <c>Providers:Anthropic:SignIn</c>.
/// Calls made with such a token carry <c>Authorization: Bearer</c> and the <see cref="OAuthBeta"/> beta.
/// </summary>
internal static class ClaudeSignIn
{
    public const string Section = "Providers:Anthropic:SignIn";

    /// <summary>The Messages API accepts sign-in tokens only with this beta.</summary>
    public const string OAuthBeta = "oauth-2025-04-20";

    public static OAuthSignInOptions Defaults() => new()
    {
        AuthorizeUrl = "https://claude.ai/oauth/authorize",
        TokenUrl = "https://console.anthropic.com/v1/oauth/token",
        ClientId = "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
        RedirectUri = "https://console.anthropic.com/oauth/code/callback",
        Scopes = "org:create_api_key user:profile user:inference",
        TokenRequestFormat = "json",
        AuthorizeParameters = new() { ["code"] = "true" },
    };

    public static OAuthSignInOptions Read(IConfiguration configuration)
    {
        var options = Defaults();
        configuration.GetSection(Section).Bind(options);
        return options;
    }
}
