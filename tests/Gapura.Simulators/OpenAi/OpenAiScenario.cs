using System.Globalization;
using System.Text.Json.Nodes;

namespace Gapura.Simulators.OpenAi;

/// <summary>A tool call the simulated model makes; <paramref name="Arguments"/> is JSON text.</summary>
public sealed record OpenAiToolCall(string Name, string Arguments, string? Id = null);

/// <summary>
/// What the simulated model says, independent of the endpoint: the same answer is rendered as
/// chat-completion chunks, a chat.completion, Responses events or a Responses object.
/// </summary>
public sealed class OpenAiAnswer
{
    /// <summary>Reasoning deltas (chat: <c>reasoning_content</c>; Responses: reasoning summary text).</summary>
    public List<string> Reasoning { get; init; } = [];

    /// <summary>Text deltas, in order.</summary>
    public List<string> Text { get; init; } = [];

    public List<OpenAiToolCall> ToolCalls { get; init; } = [];

    /// <summary>Into how many pieces each tool call's arguments are cut.</summary>
    public int ArgumentFragments { get; init; } = 3;

    /// <summary><c>stop</c>, <c>length</c>, <c>tool_calls</c>, <c>content_filter</c>; null: <c>tool_calls</c> when there are calls, else <c>stop</c>.</summary>
    public string? FinishReason { get; init; }

    public int PromptTokens { get; init; } = 12;

    public int CompletionTokens { get; init; } = 5;

    public int CachedTokens { get; init; }

    public int ReasoningTokens { get; init; }

    /// <summary>Responses only: the answer fails after its output so far — <c>response.failed</c> with this error, as OpenAI ends a failed generation.</summary>
    public (string Code, string Message)? Failure { get; init; }

    public string EffectiveFinishReason => FinishReason ?? (ToolCalls.Count > 0 ? "tool_calls" : "stop");

    public static OpenAiAnswer Of(params string[] text) => new() { Text = [.. text] };
}

/// <summary>
/// A scripted answer to the next <c>/v1/chat/completions</c> or <c>/v1/responses</c> call, consumed by the
/// next request that passes authentication and validation.
/// </summary>
public sealed class OpenAiScenario
{
    /// <summary>An answer rendered in the endpoint's own format (streamed or not, as the request asked).</summary>
    public OpenAiAnswer? Answer { get; init; }

    /// <summary>Raw SSE <c>data:</c> payloads sent as they are (status 200, <c>text/event-stream</c>); for malformed or unusual streams.</summary>
    public List<string>? RawEvents { get; init; }

    /// <summary>
    /// A whole SSE body, encoded beforehand and written as it is in one write (status 200): a recorded answer
    /// replayed (the benchmark's upstream, which must cost the same for every request). Wins over <see cref="RawEvents"/>.
    /// </summary>
    public byte[]? RawStream { get; init; }

    /// <summary>Answer one JSON completion even when the request asks for a stream, as some small compatible servers do.</summary>
    public bool IgnoreStream { get; init; }

    /// <summary>With <see cref="RawEvents"/>: end with <c>data: [DONE]</c>.</summary>
    public bool SendDone { get; init; } = true;

    /// <summary>When set, a plain HTTP answer with this status, <see cref="Body"/> and <see cref="Headers"/>.</summary>
    public int? Status { get; init; }

    public string? Body { get; init; }

    public Dictionary<string, string> Headers { get; init; } = new(StringComparer.OrdinalIgnoreCase);

    public TimeSpan DelayBeforeFirstByte { get; init; }

    public TimeSpan DelayBetweenEvents { get; init; }

    /// <summary>Abort the connection after this many SSE events (no <c>[DONE]</c>, no end of body).</summary>
    public int? CutAfterEvents { get; init; }

    public OpenAiSplit? Split { get; init; }

    public static OpenAiScenario Text(params string[] deltas) => new() { Answer = OpenAiAnswer.Of(deltas) };

    public static OpenAiScenario Raw(params string[] events) => new() { RawEvents = [.. events] };

    public static OpenAiScenario Http(int status, string body, params (string Name, string Value)[] headers)
    {
        var scenario = new OpenAiScenario { Status = status, Body = body };
        foreach (var (name, value) in headers) scenario.Headers[name] = value;
        return scenario;
    }

    /// <summary>OpenAI's error body <c>{"error":{"message","type","param","code"}}</c>.</summary>
    public static OpenAiScenario Error(int status, string message, string type, string? code = null, string? param = null)
        => Http(status, ErrorJson(message, type, code, param));

    public static OpenAiScenario RateLimited(TimeSpan? retryAfter = null)
    {
        var scenario = Error(429, "Rate limit reached for requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.", "requests", "rate_limit_exceeded");
        if (retryAfter is { } delay) scenario.Headers["Retry-After"] = ((int)Math.Ceiling(delay.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return scenario;
    }

    public static OpenAiScenario InsufficientQuota()
        => Error(429, "You exceeded your current quota, please check your plan and billing details.", "insufficient_quota", "insufficient_quota");

    public static OpenAiScenario ServerError() => Error(500, "The server had an error while processing your request. Sorry about that!", "server_error");

    public static OpenAiScenario Overloaded() => Error(503, "The engine is currently overloaded, please try again later.", "server_error");

    public static string ErrorJson(string message, string type, string? code = null, string? param = null) => new JsonObject
    {
        ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = code },
    }.ToJsonString();
}

/// <summary>How the simulator cuts its SSE body into writes.</summary>
public enum OpenAiSplit
{
    /// <summary>Random lengths (1 … <see cref="OpenAiSimulatorOptions.MaxChunkBytes"/>), even inside a UTF-8 character.</summary>
    Random,

    /// <summary>One byte per write.</summary>
    OneByte,

    /// <summary>Each event in one write, as OpenAI does.</summary>
    Whole,
}
