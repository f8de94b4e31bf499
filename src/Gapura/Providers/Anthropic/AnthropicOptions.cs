using System.ComponentModel.DataAnnotations;

namespace Gapura.Providers.Anthropic;

/// <summary>
/// Settings of the Anthropic provider (section <c>Providers:Anthropic</c>). Without <see cref="ApiKey"/> the
/// provider serves only users who connected an Anthropic key or Claude sign-in of their own.
/// </summary>
public sealed class AnthropicOptions
{
    public const string Section = "Providers:Anthropic";

    /// <summary>The process-wide Anthropic API key, sent as <c>x-api-key</c>. Never logged.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Whether users without an Anthropic account of their own may use <see cref="ApiKey"/> (changeable at run time in the settings table).</summary>
    public bool ShareProcessLogin { get; set; } = true;

    /// <summary>Base URL of the Messages API, without <c>/v1</c>.</summary>
    public string BaseUrl { get; set; } = "https://api.anthropic.com";

    /// <summary>The <c>anthropic-version</c> sent on the translated path (passthrough forwards the client's own).</summary>
    public string Version { get; set; } = "2023-06-01";

    /// <summary>Attempts for retryable failures (429, 5xx, 529, connection errors) before the first byte.</summary>
    [Range(1, 10)]
    public int MaxAttempts { get; set; } = 3;

    /// <summary>First retry delay; doubles each attempt, with jitter.</summary>
    [Range(0d, 60_000d)]
    public double RetryBaseDelayMilliseconds { get; set; } = 500;

    /// <summary>Longest wait between retries, including a Retry-After the upstream asked for.</summary>
    [Range(0d, 3600d)]
    public double MaxRetryDelaySeconds { get; set; } = 10;

    /// <summary>How often the model list is re-read from <c>GET /v1/models</c>.</summary>
    [Range(0.1, 10_080)]
    public double ModelsRefreshMinutes { get; set; } = 60;

    /// <summary>User agent sent upstream.</summary>
    public string UserAgent { get; set; } = "gapura/0.1";

    public string ResolvedBaseUrl => BaseUrl.TrimEnd('/');
}
