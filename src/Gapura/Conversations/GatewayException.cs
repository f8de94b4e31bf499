namespace Gapura.Conversations;

/// <summary>What went wrong, in terms every front door can map to its own error shape.</summary>
public enum ErrorKind
{
    InvalidRequest,
    Authentication,
    PermissionDenied,
    NotFound,
    RequestTooLarge,
    RateLimited,
    /// <summary>The upstream account's quota is spent (Kiro MONTHLY_REQUEST_COUNT …).</summary>
    QuotaExceeded,
    /// <summary>
    /// The gateway's own login to the upstream is missing, dead or refused. Not the caller's fault (their
    /// key was fine, so not a 401 that clients would read as "your API key is invalid"): a 503 with a message
    /// telling the operator what to do, and worth trying another account or provider.
    /// </summary>
    UpstreamLogin,
    /// <summary>The upstream is overloaded or failing (5xx).</summary>
    UpstreamUnavailable,
    /// <summary>The upstream did not answer in time.</summary>
    Timeout,
    /// <summary>The gateway is stopping: a new request is refused, or one still open when the drain period ends is ended (503).</summary>
    ShuttingDown,
    Internal,
}

/// <summary>
/// The one exception type that crosses stage boundaries. Thrown before the first byte it becomes an
/// HTTP error in the caller's format; thrown mid-stream it becomes that format's error event.
/// </summary>
public sealed class GatewayException : Exception
{
    public GatewayException(ErrorKind kind, string message, int? status = null, TimeSpan? retryAfter = null, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        Status = status ?? DefaultStatus(kind);
        RetryAfter = retryAfter;
    }

    public ErrorKind Kind { get; }

    /// <summary>HTTP status for the caller; an upstream's own status when it is meaningful.</summary>
    public int Status { get; }

    public TimeSpan? RetryAfter { get; }

    /// <summary>
    /// The conversation is over the model's context window. Clients compact their history on exactly this: Codex CLI on
    /// OpenAI's <c>code: "context_length_exceeded"</c>, Claude Code on a message containing "prompt is too long" (it
    /// also reads the counts out of Anthropic's own wording, <c>prompt is too long: N tokens &gt; M maximum</c>).
    /// </summary>
    public bool IsContextOverflow { get; private init; }

    /// <summary>
    /// Trying again cannot help until something changes (a budget is used up until a reset): the answer carries
    /// <c>x-should-retry: false</c>, which the Anthropic and OpenAI SDKs (and so Claude Code and Codex) obey instead of
    /// retrying a 429 several times.
    /// </summary>
    public bool IsFinal { get; init; }

    /// <summary>
    /// A machine-readable code a client acts on, written where the caller's format has one (OpenAI <c>error.code</c>,
    /// Anthropic <c>error.details.error_code</c>): <c>previous_response_not_found</c>, <c>thread_not_found</c>.
    /// </summary>
    public string? Code { get; init; }

    /// <summary>No upstream serves the model name at all (as opposed to a refused, disabled or removed one).</summary>
    public bool IsUnknownModel { get; init; }

    /// <summary>A context overflow in the wording clients act on, with the counts when they are known.</summary>
    public static GatewayException ContextTooLong(long? tokens, long? maximum, string? detail = null)
        => new(ErrorKind.InvalidRequest, tokens is { } t && maximum is { } m
            ? $"prompt is too long: {t} tokens > {m} maximum" // exactly Anthropic's wording: Claude Code parses the counts out of it
            : $"prompt is too long for the model's context window: {detail}", 400) { IsContextOverflow = true };

    /// <summary>Whether trying again (same or another account) can help.</summary>
    public bool IsRetryable => Kind is ErrorKind.RateLimited or ErrorKind.UpstreamUnavailable or ErrorKind.Timeout or ErrorKind.QuotaExceeded or ErrorKind.UpstreamLogin;

    public static GatewayException BadRequest(string message) => new(ErrorKind.InvalidRequest, message);

    public static int DefaultStatus(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidRequest => 400,
        ErrorKind.Authentication => 401,
        ErrorKind.PermissionDenied => 403,
        ErrorKind.NotFound => 404,
        ErrorKind.RequestTooLarge => 413,
        ErrorKind.RateLimited => 429,
        ErrorKind.QuotaExceeded => 429,
        ErrorKind.UpstreamLogin => 503,
        ErrorKind.UpstreamUnavailable => 503,
        ErrorKind.Timeout => 504,
        ErrorKind.ShuttingDown => 503,
        _ => 500,
    };
}
