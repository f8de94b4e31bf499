using System.Globalization;
using System.Text.Json.Nodes;

namespace Gapura.Simulators.Anthropic;

/// <summary>
/// A scripted answer to one <c>POST /v1/messages</c>, queued with <see cref="AnthropicSimulator.Enqueue"/> and
/// consumed by the next request that passes authentication and validation (as with the real API, a request
/// refused for its headers or body never reaches a script).
/// </summary>
public sealed class AnthropicScenario
{
    /// <summary>The answer, streamed or returned whole depending on the request's <c>stream</c>.</summary>
    public AnthropicSimMessage? Message { get; init; }

    /// <summary>Raw SSE events, for streams no well-formed message produces (a mid-stream error…). Wins over <see cref="Message"/>.</summary>
    public List<AnthropicSseEvent>? Events { get; init; }

    /// <summary>
    /// A whole SSE stream, encoded beforehand and written as it is in one write: a recorded answer replayed
    /// (the benchmark's upstream, which must cost the same for every request). Wins over <see cref="Events"/>.
    /// </summary>
    public byte[]? RawStream { get; init; }

    /// <summary>When set, a plain HTTP answer with this status, <see cref="Body"/> and <see cref="Headers"/>.</summary>
    public int? Status { get; init; }

    public string? Body { get; init; }

    public Dictionary<string, string> Headers { get; init; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Silence before anything (even the status line) is sent.</summary>
    public TimeSpan DelayBeforeFirstByte { get; init; }

    public TimeSpan DelayBetweenEvents { get; init; }

    /// <summary>Abort the connection after this many events (the last one cut halfway).</summary>
    public int? CutInsideEvent { get; init; }

    public AnthropicSplit? Split { get; init; }

    // ---- common scripts --------------------------------------------------------------------------

    public static AnthropicScenario Reply(AnthropicSimMessage message) => new() { Message = message };

    public static AnthropicScenario Text(params string[] parts)
        => new() { Message = new AnthropicSimMessage { Content = [new AnthropicSimText(string.Concat(parts))], OutputTokens = parts.Length + 1 } };

    public static AnthropicScenario Stream(params AnthropicSseEvent[] events) => new() { Events = [.. events] };

    /// <summary>An Anthropic error body with the given status; <paramref name="retryAfterSeconds"/> adds <c>retry-after</c>.</summary>
    public static AnthropicScenario Error(int status, string type, string message, int? retryAfterSeconds = null)
    {
        var scenario = new AnthropicScenario
        {
            Status = status,
            Body = new JsonObject { ["type"] = "error", ["error"] = new JsonObject { ["type"] = type, ["message"] = message } }.ToJsonString(),
        };
        if (retryAfterSeconds is { } s) scenario.Headers["retry-after"] = s.ToString(CultureInfo.InvariantCulture);
        return scenario;
    }

    public static AnthropicScenario RateLimited(int retryAfterSeconds = 1)
        => Error(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit.", retryAfterSeconds);

    public static AnthropicScenario Overloaded() => Error(529, "overloaded_error", "Overloaded");

    public static AnthropicScenario ApiError() => Error(500, "api_error", "Internal server error");

    /// <summary>A stream that starts well and then reports an error event (no message_stop follows).</summary>
    public static AnthropicScenario MidStreamError(string textBefore, string type = "overloaded_error", string message = "Overloaded")
    {
        var events = new AnthropicSimMessage { Content = [new AnthropicSimText(textBefore)] }.ToEvents();
        // Keep message_start … the text block's deltas; drop the block stop, message_delta and message_stop.
        events = events.Take(events.Count - 3).ToList();
        events.Add(AnthropicSseEvent.Error(type, message));
        return new AnthropicScenario { Events = events };
    }
}

/// <summary>How the simulator cuts its SSE stream into writes.</summary>
public enum AnthropicSplit
{
    /// <summary>Chunks of random length, cut anywhere (inside a line, inside a UTF-8 character).</summary>
    Random,

    /// <summary>One byte per write.</summary>
    OneByte,

    /// <summary>Each event in one write.</summary>
    Whole,
}

/// <summary>Settings of an <see cref="AnthropicSimulator"/>.</summary>
public sealed class AnthropicSimulatorOptions
{
    public string Url { get; set; } = "http://127.0.0.1:0";

    /// <summary>Keys accepted in <c>x-api-key</c>.</summary>
    public HashSet<string> ApiKeys { get; set; } = new(StringComparer.Ordinal) { "sk-ant-api03-simulator-key" };

    /// <summary>OAuth access tokens accepted as <c>Authorization: Bearer</c> (Claude sign-in).</summary>
    public HashSet<string> OAuthTokens { get; set; } = new(StringComparer.Ordinal) { "sk-ant-oat01-simulator-token" };

    public int Seed { get; set; } = 20250101;

    /// <summary>Lifetime of access tokens the sign-in issues (<c>expires_in</c>); short ones make the gateway renew.</summary>
    public int OAuthAccessTokenSeconds { get; set; } = 28800;

    public AnthropicSplit Split { get; set; } = AnthropicSplit.Random;

    public int MaxChunkBytes { get; set; } = 40;

    /// <summary>Largest accepted body (the real API's limit is 32 MB); above it a 413 <c>request_too_large</c>.</summary>
    public int MaxBodyBytes { get; set; } = 32 * 1024 * 1024;

    /// <summary>Models per page of <c>GET /v1/models</c> when the client gives no <c>limit</c>.</summary>
    public int ModelsPageSize { get; set; } = 20;

    public List<AnthropicSimModel> Models { get; set; } = [.. AnthropicSimModel.Default];

    public bool Verbose { get; set; }
}

/// <summary>
/// A model the simulator serves, with the output cap it enforces on <c>max_tokens</c> (a larger one is refused with the
/// API's 400). With a <paramref name="ContextWindow"/> it also refuses a longer prompt as the API does
/// (<c>prompt is too long: N tokens &gt; M maximum</c>), counts input as words (<see cref="SimulatedLimits"/>) and answers
/// the counting prompt by counting until max_tokens.
/// </summary>
public sealed record AnthropicSimModel(string Id, string DisplayName, DateTimeOffset CreatedAt, int MaxOutputTokens = 64_000, int? ContextWindow = null)
{
    public static readonly IReadOnlyList<AnthropicSimModel> Default =
    [
        new("claude-opus-4-6", "Claude Opus 4.6", new DateTimeOffset(2026, 2, 5, 0, 0, 0, TimeSpan.Zero), 128_000),
        new("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", new DateTimeOffset(2025, 9, 29, 0, 0, 0, TimeSpan.Zero)),
        new("claude-haiku-4-5-20251001", "Claude Haiku 4.5", new DateTimeOffset(2025, 10, 1, 0, 0, 0, TimeSpan.Zero)),
        new("claude-opus-4-1-20250805", "Claude Opus 4.1", new DateTimeOffset(2025, 8, 5, 0, 0, 0, TimeSpan.Zero), 32_000),
        new("claude-sonnet-4-20250514", "Claude Sonnet 4", new DateTimeOffset(2025, 5, 14, 0, 0, 0, TimeSpan.Zero)),
        new("claude-3-5-haiku-20241022", "Claude Haiku 3.5", new DateTimeOffset(2024, 10, 22, 0, 0, 0, TimeSpan.Zero), 8_192),
    ];
}
