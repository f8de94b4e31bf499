using System.Text.Json.Nodes;

namespace Gapura.Simulators.Kiro;

/// <summary>
/// A scripted answer to one <c>generateAssistantResponse</c> call. Queued with
/// <see cref="KiroSimulator.Enqueue"/> and consumed by the next request that passes authentication and
/// validation (a request the real service would refuse never reaches a script either).
/// </summary>
public sealed class KiroScenario
{
    /// <summary>Frames streamed with status 200 (ignored when <see cref="Status"/> is set).</summary>
    public List<KiroFrame> Frames { get; init; } = [];

    /// <summary>When set, a plain HTTP answer with this status, <see cref="Body"/> and <see cref="Headers"/> instead of a stream.</summary>
    public int? Status { get; init; }

    public string? Body { get; init; }

    public Dictionary<string, string> Headers { get; init; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Silence before anything (even the status line) is sent.</summary>
    public TimeSpan DelayBeforeFirstByte { get; init; }

    public TimeSpan DelayBetweenFrames { get; init; }

    /// <summary>Abort the connection after this many bytes of the stream.</summary>
    public long? CutAfterBytes { get; init; }

    /// <summary>Abort the connection halfway through the frame at this index.</summary>
    public int? CutInsideFrame { get; init; }

    /// <summary>Overrides the simulator's split mode for this answer.</summary>
    public KiroSplit? Split { get; init; }

    // ---- common scripts --------------------------------------------------------------------------

    public static KiroScenario Stream(params KiroFrame[] frames) => new() { Frames = [.. frames] };

    public static KiroScenario Stream(IEnumerable<KiroFrame> frames) => new() { Frames = [.. frames] };

    /// <summary>A complete, well-behaved text answer: text deltas, metering, context usage.</summary>
    public static KiroScenario Text(params string[] deltas)
        => Stream([.. deltas.Select(d => KiroFrame.Text(d)), KiroFrame.Metering(), KiroFrame.ContextUsage(1.5)]);

    /// <summary>A complete tool-call answer.</summary>
    public static KiroScenario ToolCall(string toolUseId, string name, string inputJson, int fragments = 3)
        => Stream([.. KiroFrame.ToolUse(toolUseId, name, inputJson, fragments), KiroFrame.Metering(), KiroFrame.ContextUsage(1.5)]);

    public static KiroScenario Http(int status, string body, params (string Name, string Value)[] headers)
    {
        var scenario = new KiroScenario { Status = status, Body = body };
        foreach (var (name, value) in headers) scenario.Headers[name] = value;
        return scenario;
    }

    public static KiroScenario ErrorBody(int status, string errorType, string message, string? reason)
        => Http(status, new JsonObject { ["message"] = message, ["reason"] = reason }.ToJsonString(), ("x-amzn-ErrorType", errorType));

    public static KiroScenario Throttled(TimeSpan? retryAfter = null)
    {
        var scenario = ErrorBody(429, "ThrottlingException", "Rate exceeded", null);
        if (retryAfter is { } delay) scenario.Headers["Retry-After"] = ((int)Math.Ceiling(delay.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return scenario;
    }

    public static KiroScenario HighLoad()
        => ErrorBody(500, "InternalServerException", "Encountered an unexpectedly high load when processing the request, please try again.", null);

    /// <summary>The account's monthly quota is spent; the service has answered both 402 and 429 for it.</summary>
    public static KiroScenario MonthlyQuota(int status = 402)
        => ErrorBody(status, "ThrottlingException", "You have reached the limit for monthly requests. Upgrade your plan or wait for the monthly reset.", "MONTHLY_REQUEST_COUNT");

    public static KiroScenario InputTooLong()
        => ErrorBody(400, "ValidationException", "Input is too long.", "CONTENT_LENGTH_EXCEEDS_THRESHOLD");

    public static KiroScenario ImproperlyFormed()
        => ErrorBody(400, "ValidationException", "Improperly formed request.", null);

    public static KiroScenario BearerInvalid()
        => ErrorBody(403, "AccessDeniedException", "The bearer token included in the request is invalid.", null);
}
