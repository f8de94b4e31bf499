using System.ComponentModel.DataAnnotations;

namespace Gapura.Providers.Kiro;

/// <summary>
/// Settings of the Kiro provider (section <c>Kiro</c>). The service is undocumented and moves, so every
/// host, header and limit is a setting; the defaults follow ../shared/protocols/kiro.md.
/// </summary>
public sealed class KiroOptions
{
    public const string Section = "Kiro";

    public string Region { get; set; } = "us-east-1";

    /// <summary>Base URL of the chat and model calls. <c>{region}</c> is replaced by <see cref="Region"/>.</summary>
    public string Endpoint { get; set; } = "https://q.{region}.amazonaws.com";

    /// <summary>Base URL of the Kiro desktop (social login) token refresh.</summary>
    public string AuthEndpoint { get; set; } = "https://prod.{region}.auth.desktop.kiro.dev";

    /// <summary>Base URL of AWS SSO OIDC (Builder ID / IAM Identity Center).</summary>
    public string OidcEndpoint { get; set; } = "https://oidc.{region}.amazonaws.com";

    /// <summary>Start URL for the device-code login; Builder ID by default, an Identity Center portal otherwise.</summary>
    public string StartUrl { get; set; } = "https://view.awsapps.com/start";

    /// <summary>A credentials file in the Kiro IDE format; when unset, logins are discovered (kiro.md §2).</summary>
    public string? CredentialsFile { get; set; }

    /// <summary>Overrides the profile ARN of the credential.</summary>
    public string? ProfileArn { get; set; }

    /// <summary>Send <c>profileArn</c> in request bodies when known (some IdC set-ups reject it).</summary>
    public bool SendProfileArn { get; set; } = true;

    /// <summary>Content type of chat calls; <c>application/x-amz-json-1.0</c> for the runtime.*.kiro.dev host.</summary>
    public string ContentType { get; set; } = "application/json";

    /// <summary>Optional <c>x-amz-target</c> header (needed by the runtime.*.kiro.dev host).</summary>
    public string? Target { get; set; }

    /// <summary>User agent sent upstream. Honest by default.</summary>
    public string UserAgent { get; set; } = "gapura/0.1";

    /// <summary>Largest request body sent upstream; older history is trimmed above it (the service fails near 600 KB).</summary>
    [Range(0, 100_000_000)]
    public int MaxPayloadBytes { get; set; } = 600_000;

    /// <summary>Upper bound of the injected <c>max_thinking_length</c>.</summary>
    [Range(0, 1_000_000)]
    public int MaxThinkingTokens { get; set; } = 10_000;

    /// <summary>Refresh an access token this long before it expires.</summary>
    [Range(0d, 86400d)]
    public double RefreshSkewSeconds { get; set; } = 300;

    /// <summary>Attempts for retryable failures (429, 5xx, connection errors) before the first byte.</summary>
    [Range(1, 10)]
    public int MaxAttempts { get; set; } = 3;

    /// <summary>First retry delay; doubles each attempt, with jitter.</summary>
    [Range(0d, 60_000d)]
    public double RetryBaseDelayMilliseconds { get; set; } = 500;

    /// <summary>Longest wait between retries, including a Retry-After the upstream asked for.</summary>
    [Range(0d, 3600d)]
    public double MaxRetryDelaySeconds { get; set; } = 10;

    /// <summary>How often the model list is re-read from ListAvailableModels.</summary>
    [Range(0.1, 10_080)]
    public double ModelsRefreshMinutes { get; set; } = 60;

    /// <summary>Extra client model names mapped to Kiro ids, e.g. <c>Kiro:ModelAliases:gpt-4o=claude-sonnet-4.5</c>.</summary>
    public Dictionary<string, string> ModelAliases { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>A Kiro id used for names the catalog does not know. Unset: unknown names are a 400.</summary>
    public string? FallbackModel { get; set; }

    /// <summary>
    /// Whether users without a Kiro login of their own may use the process-wide login (the one found in
    /// files, see docs/providers.md). True by default so a single-user install works with no set-up; a team that wants
    /// every user on their own account sets it false. A value in the settings table (same key) overrides this
    /// at run time, on every instance, without a restart.
    /// </summary>
    public bool ShareProcessLogin { get; set; } = true;

    /// <summary>Users' stored logins are refreshed in the background this long before they expire, so requests do not wait.</summary>
    [Range(0d, 86400d)]
    public double LoginRefreshAheadSeconds { get; set; } = 600;

    /// <summary>How often the background refresher looks for users' logins about to expire.</summary>
    [Range(0.1, 86400)]
    public double LoginRefreshScanSeconds { get; set; } = 30;

    /// <summary>At most this many users' logins are refreshed at the same time.</summary>
    [Range(1, 64)]
    public int LoginRefreshConcurrency { get; set; } = 4;

    /// <summary>Replaces <c>{region}</c> in a configured URL and trims the trailing slash.</summary>
    public string Resolve(string url) => url.Replace("{region}", Region, StringComparison.Ordinal).TrimEnd('/');
}
