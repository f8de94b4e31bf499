using System.ComponentModel.DataAnnotations;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// Settings of the OpenAI provider (section <c>Providers:OpenAI</c>). Without <see cref="ApiKey"/> the provider
/// serves only users who connected an OpenAI key or ChatGPT sign-in of their own.
/// </summary>
public sealed class OpenAiOptions
{
    public const string Section = "Providers:OpenAI";

    /// <summary>The process-wide API key (<c>sk-…</c>). A secret: never logged.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Whether users without an OpenAI account of their own may use <see cref="ApiKey"/> (changeable at run time in the settings table).</summary>
    public bool ShareProcessLogin { get; set; } = true;

    /// <summary>Where ChatGPT sign-ins' calls go: the Codex backend's Responses API.</summary>
    public string ChatGptBaseUrl { get; set; } = ChatGptSignIn.DefaultBackendUrl;

    /// <summary>Base URL including the version segment, as in OpenAI's SDKs.</summary>
    public string BaseUrl { get; set; } = "https://api.openai.com/v1";

    /// <summary>Optional <c>OpenAI-Organization</c> header.</summary>
    public string? Organization { get; set; }

    /// <summary>Optional <c>OpenAI-Project</c> header.</summary>
    public string? Project { get; set; }

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

    /// <summary>
    /// Which upstream API translated requests use: <c>chat</c> (chat completions, the default) or <c>responses</c>.
    /// With <c>responses</c>, requests at the Responses front door pass through unchanged but for the model name.
    /// </summary>
    public string? Api { get; set; }
}

/// <summary>Retry behaviour of one upstream account.</summary>
internal sealed record RetrySettings(int MaxAttempts, double BaseDelayMilliseconds, double MaxDelaySeconds)
{
    public static readonly RetrySettings Default = new(3, 500, 10);
}

/// <summary>
/// Where the chat-completions dialects differ. OpenAI wants <c>max_completion_tokens</c> (reasoning models
/// refuse <c>max_tokens</c>) and refuses <c>reasoning_effort</c> on models that do not reason; most
/// compatible servers know only <c>max_tokens</c> and ignore an effort they cannot use.
/// </summary>
internal sealed record ChatCompletionsDialect(bool UseMaxCompletionTokens, Func<string, bool> AcceptsReasoningEffort)
{
    public static readonly ChatCompletionsDialect OpenAi = new(true, OpenAiKnownModels.Reasons);
    public static readonly ChatCompletionsDialect Compatible = new(false, _ => true);
}

/// <summary>
/// One upstream account speaking the OpenAI wire format: OpenAI itself or a compatible server.
/// </summary>
/// <param name="Provider">The routing name (<c>openai</c>, or the compatible server's configured name).</param>
/// <param name="Label">How messages name the upstream (<c>OpenAI</c>, <c>compatible server 'ollama'</c>).</param>
/// <param name="BaseUrl">Without a trailing slash; paths such as <c>/chat/completions</c> are appended.</param>
/// <param name="ApiKey">Sent as a bearer token when set; never logged.</param>
internal sealed record ChatCompletionsAccount(
    string Provider,
    string Label,
    string BaseUrl,
    string? ApiKey,
    IReadOnlyDictionary<string, string> ExtraHeaders,
    RetrySettings Retry,
    ChatCompletionsDialect Dialect)
{
    /// <summary>The upstream API this account's translated path speaks (setting <c>Api</c>).</summary>
    public OpenAiApi Api { get; init; } = OpenAiApi.ChatCompletions;

    /// <summary>Where the account's own calls go; per-user sign-ins bring their own endpoint instead.</summary>
    public OpenAiEndpoint Endpoint => new(BaseUrl, ApiKey, ExtraHeaders) { Api = Api };

    /// <summary>Never prints the key: records print every member by default.</summary>
    public override string ToString() => $"{Label} at {BaseUrl}";
}
