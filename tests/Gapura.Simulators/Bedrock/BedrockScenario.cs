using System.Text.Json.Nodes;

namespace Gapura.Simulators.Bedrock;

/// <summary>
/// A scripted answer to the next Converse / ConverseStream call that passes signature and validation checks
/// (a request the real service would refuse never reaches a script).
/// </summary>
public sealed class BedrockScenario
{
    /// <summary>Frames streamed with status 200 (ConverseStream only; ignored when <see cref="Status"/> is set).</summary>
    public List<BedrockEvent> Events { get; init; } = [];

    /// <summary>A plain HTTP answer with this status, <see cref="Body"/> and <see cref="Headers"/>.</summary>
    public int? Status { get; init; }

    public string? Body { get; init; }

    public Dictionary<string, string> Headers { get; init; } = new(StringComparer.OrdinalIgnoreCase);

    public TimeSpan DelayBeforeFirstByte { get; init; }

    public TimeSpan DelayBetweenFrames { get; init; }

    /// <summary>Abort the connection after this many bytes of the stream.</summary>
    public long? CutAfterBytes { get; init; }

    public BedrockSplit? Split { get; init; }

    /// <summary>
    /// A whole scripted answer: returned as Converse JSON or streamed as ConverseStream events, whichever the
    /// call asked for (<see cref="Events"/> serve only ConverseStream). Wins over <see cref="Events"/>.
    /// </summary>
    public BedrockSimulator.Answer? Answer { get; init; }

    public static BedrockScenario Reply(BedrockSimulator.Answer answer) => new() { Answer = answer };

    public static BedrockScenario Stream(params BedrockEvent[] events) => new() { Events = [.. events] };

    /// <summary>A complete text answer in the given deltas.</summary>
    public static BedrockScenario Text(params string[] deltas) => Stream(
        [BedrockEvent.MessageStart(), .. deltas.Select(d => BedrockEvent.Text(0, d)), BedrockEvent.BlockStop(0),
         BedrockEvent.MessageStop("end_turn"), BedrockEvent.Metadata(10, deltas.Length)]);

    /// <summary>An error in Bedrock's shape: <c>{"message"}</c> and <c>x-amzn-ErrorType</c>.</summary>
    public static BedrockScenario Error(int status, string errorType, string message, TimeSpan? retryAfter = null)
    {
        var s = new BedrockScenario { Status = status, Body = new JsonObject { ["message"] = message }.ToJsonString() };
        s.Headers["x-amzn-ErrorType"] = $"{errorType}:http://internal.amazon.com/coral/com.amazon.bedrock/";
        s.Headers["x-amzn-RequestId"] = Guid.NewGuid().ToString();
        if (retryAfter is { } r) s.Headers["Retry-After"] = ((int)Math.Ceiling(r.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return s;
    }

    public static BedrockScenario Throttled(TimeSpan? retryAfter = null)
        => Error(429, "ThrottlingException", "Too many requests, please wait before trying again.", retryAfter);

    public static BedrockScenario Validation(string message) => Error(400, "ValidationException", message);

    public static BedrockScenario AccessDenied() => Error(403, "AccessDeniedException", "You don't have access to the model with the specified model ID.");

    public static BedrockScenario ModelError() => Error(424, "ModelErrorException", "The model failed to process the request.");

    public static BedrockScenario Unavailable() => Error(503, "ServiceUnavailableException", "Bedrock is unable to process your request.");

    public static BedrockScenario InternalError() => Error(500, "InternalServerException", "The server encountered an internal error.");
}
