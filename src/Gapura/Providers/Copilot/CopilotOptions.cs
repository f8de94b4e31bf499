using System.ComponentModel.DataAnnotations;

namespace Gapura.Providers.Copilot;

/// <summary>
/// Settings of the GitHub Copilot provider (section <c>Providers:Copilot</c>). The provider is registered when
/// <see cref="GitHubToken"/> is set or when <c>gapura login copilot</c> has saved a token in
/// <c>~/.gapura/copilot.json</c>, so an install without Copilot is unchanged.
/// </summary>
public sealed class CopilotOptions
{
    public const string Section = "Providers:Copilot";

    /// <summary>The client id of the GitHub OAuth app the Copilot editor plugins sign in with.</summary>
    public const string EditorPluginClientId = "Iv1.b507a08c87ecfe98";

    /// <summary>A GitHub OAuth token (as the device flow issues) of an account with a Copilot seat. A secret: never logged.</summary>
    public string? GitHubToken { get; set; }

    /// <summary>Whether users without a Copilot account of their own may use the gateway's (changeable at run time in the settings table).</summary>
    public bool ShareProcessLogin { get; set; } = true;

    /// <summary>Where the device flow runs (<c>/login/device/code</c>, <c>/login/oauth/access_token</c>).</summary>
    public string GitHubBaseUrl { get; set; } = "https://github.com";

    /// <summary>Where the GitHub token is exchanged for a Copilot token (<c>/copilot_internal/v2/token</c>).</summary>
    public string GitHubApiBaseUrl { get; set; } = "https://api.github.com";

    /// <summary>The OAuth app the device flow signs in to; Copilot only issues tokens to sign-ins of its editor apps.</summary>
    public string ClientId { get; set; } = EditorPluginClientId;

    /// <summary>The Copilot API; normally taken from the token exchange's <c>endpoints.api</c>, this overrides it when set.</summary>
    public string? ApiBaseUrl { get; set; }

    /// <summary>Used when the token exchange names no API address.</summary>
    public const string DefaultApiBaseUrl = "https://api.githubcopilot.com";

    /// <summary>Sent as <c>Editor-Version</c>: the API refuses calls that do not name an editor.</summary>
    public string EditorVersion { get; set; } = "vscode/1.99.3";

    /// <summary>Sent as <c>Editor-Plugin-Version</c>.</summary>
    public string EditorPluginVersion { get; set; } = "copilot-chat/0.26.7";

    /// <summary>Sent as <c>Copilot-Integration-Id</c>.</summary>
    public string IntegrationId { get; set; } = "vscode-chat";

    /// <summary>Sent as <c>User-Agent</c> to GitHub and the Copilot API.</summary>
    public string UserAgent { get; set; } = "GitHubCopilotChat/0.26.7";

    /// <summary>Attempts for retryable failures (429, 5xx, connection errors) before the first byte.</summary>
    [Range(1, 10)]
    public int MaxAttempts { get; set; } = 3;

    /// <summary>First retry delay; doubles each attempt, with jitter.</summary>
    [Range(0d, 60_000d)]
    public double RetryBaseDelayMilliseconds { get; set; } = 500;

    /// <summary>Longest wait between retries, including a Retry-After the upstream asked for.</summary>
    [Range(0d, 3600d)]
    public double MaxRetryDelaySeconds { get; set; } = 10;

    /// <summary>How often the model list is re-read from <c>/models</c>.</summary>
    [Range(0.1, 10_080)]
    public double ModelsRefreshMinutes { get; set; } = 60;
}

/// <summary>
/// The GitHub sign-in one Copilot call uses. Today the process-wide one (setting or login file); per-user
/// accounts stored in the database can hand their own to the provider, since every call takes it as input.
/// </summary>
/// <param name="Label">How messages name the account (never the token).</param>
/// <param name="GitHubToken">A secret: never logged.</param>
internal sealed record CopilotAccount(string Label, string GitHubToken)
{
    /// <summary>Never prints the token: records print every member by default.</summary>
    public override string ToString() => $"Copilot account '{Label}'";
}
