using Gapura.Conversations;

namespace Gapura.Ledger;

/// <summary>How a request ended, as the ledger and the metrics name it.</summary>
internal static class UsageStatus
{
    /// <summary>The answer reached the client whole.</summary>
    public const string Ok = "ok";
    /// <summary>The gateway or the upstream failed, before or after the first byte (see the error kind).</summary>
    public const string Error = "error";
    /// <summary>The client went away before the answer was complete; tokens already sent are counted.</summary>
    public const string ClientClosed = "client_closed";
}

/// <summary>
/// One row of the usage ledger: everything known about one chat request once it is over. Built on the request
/// path from values already at hand (no database read) and handed to <see cref="UsageLedger"/>, which queues it
/// for the background writer. Token buckets are disjoint: <see cref="InputTokens"/> excludes cache reads and
/// writes, and <see cref="ReasoningTokens"/> is the part of <see cref="OutputTokens"/> spent reasoning (never
/// added on top of it). Nothing here is secret: the key is named by id and prefix, never by value.
/// </summary>
internal sealed record UsageRecord
{
    public required string RequestId { get; init; }
    public required DateTimeOffset At { get; init; }
    public long? UserId { get; init; }
    public long? KeyId { get; init; }
    /// <summary>The first characters of the key the caller sent (as listed by the admin API), or "bootstrap".</summary>
    public string? KeyPrefix { get; init; }

    /// <summary>Recognised client (<see cref="ClientApps"/>): <c>claude-code</c>, <c>codex-cli</c>, … or <c>other</c>.</summary>
    public required string Client { get; init; }
    public string? ClientVersion { get; init; }
    /// <summary>The raw User-Agent, kept only when the client was not recognised.</summary>
    public string? UserAgent { get; init; }
    /// <summary>The client's own session id (Claude Code, Codex CLI), when it sends one.</summary>
    public string? SessionId { get; init; }

    /// <summary>The API dialect the request came in through (<see cref="Formats.FrontDoors"/>).</summary>
    public required string FrontDoor { get; init; }
    public required string RequestedModel { get; init; }
    /// <summary>The provider that served (or last failed); null when no provider was reached.</summary>
    public string? Provider { get; init; }
    /// <summary>The caller's upstream account label, or <c>process</c> for the gateway's own.</summary>
    public string? Login { get; init; }
    /// <summary>The catalog id of the model that served, e.g. <c>claude-sonnet-4.5</c>.</summary>
    public string? UpstreamModel { get; init; }
    /// <summary>Candidates that failed before the one that served (or before the last failure).</summary>
    public int Fallbacks { get; init; }
    /// <summary>The failed attempts behind <see cref="Fallbacks"/> (for metrics; not stored).</summary>
    public IReadOnlyList<(string Provider, ErrorKind Kind)>? FailedAttempts { get; init; }
    public bool Stream { get; init; }
    /// <summary>The task the request was classified as (<c>Routing/Tasks/TaskTypes</c>); <c>unknown</c> with routing off.</summary>
    public string Task { get; init; } = "unknown";
    /// <summary>The routing profile that served the request; null when it was served as named.</summary>
    public string? Profile { get; init; }
    /// <summary>Under a canary on <see cref="Profile"/>: <c>baseline</c> or <c>candidate</c>; null otherwise.</summary>
    public string? Variant { get; init; }
    /// <summary>Tool results in the request's latest turn that report a failed tool call (the client's <c>is_error</c>).</summary>
    public int ToolErrors { get; init; }

    public int InputTokens { get; init; }
    public int OutputTokens { get; init; }
    public int CacheReadTokens { get; init; }
    public int CacheWriteTokens { get; init; }
    public int ReasoningTokens { get; init; }
    /// <summary>Whether any count came from the gateway's estimator rather than the upstream.</summary>
    public bool Estimated { get; init; }
    /// <summary>Kiro credits spent, as Kiro reported them.</summary>
    public double? Credits { get; init; }
    /// <summary>USD, from the price table; null when the model has no price.</summary>
    public double? CostUsd { get; init; }

    /// <summary>Milliseconds from the request's arrival to the first byte of the answer; null when none was sent.</summary>
    public double? TimeToFirstByteMs { get; init; }
    public double DurationMs { get; init; }
    public int HttpStatus { get; init; }
    /// <summary><see cref="UsageStatus"/>.</summary>
    public required string Status { get; init; }
    /// <summary>The failure's kind (<see cref="ErrorKind"/>, snake_case) when <see cref="Status"/> is not ok.</summary>
    public string? ErrorKind { get; init; }

    /// <summary>The model the reports group by: the one that served, else the one asked for.</summary>
    public string Model => UpstreamModel ?? RequestedModel;

    public static string KindName(ErrorKind kind) => kind switch
    {
        Conversations.ErrorKind.InvalidRequest => "invalid_request",
        Conversations.ErrorKind.Authentication => "authentication",
        Conversations.ErrorKind.PermissionDenied => "permission_denied",
        Conversations.ErrorKind.NotFound => "not_found",
        Conversations.ErrorKind.RequestTooLarge => "request_too_large",
        Conversations.ErrorKind.RateLimited => "rate_limited",
        Conversations.ErrorKind.QuotaExceeded => "quota_exceeded",
        Conversations.ErrorKind.UpstreamLogin => "upstream_login",
        Conversations.ErrorKind.UpstreamUnavailable => "upstream_unavailable",
        Conversations.ErrorKind.Timeout => "timeout",
        Conversations.ErrorKind.ShuttingDown => "shutting_down",
        _ => "internal",
    };
}
