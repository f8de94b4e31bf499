using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Amazon.Runtime.EventStreams;

namespace Gapura.Simulators.Kiro;

/// <summary>
/// One frame of the AWS event stream, as the Kiro service sends it. Encoding goes through the AWS SDK's
/// own <see cref="EventStreamMessage"/>, never through the gateway's code, so the simulator checks the
/// decoder against an independent implementation.
/// </summary>
public sealed class KiroFrame
{
    private readonly byte[]? _raw;

    public KiroFrame(IReadOnlyList<KeyValuePair<string, string>> headers, byte[] payload)
    {
        Headers = headers;
        Payload = payload;
    }

    private KiroFrame(byte[] raw)
    {
        _raw = raw;
        Headers = [];
        Payload = [];
    }

    /// <summary>String headers, in wire order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; }

    public byte[] Payload { get; }

    public string? MessageType => Header(":message-type");

    public string? EventType => Header(":event-type");

    public string PayloadText => Encoding.UTF8.GetString(Payload);

    public string? Header(string name)
    {
        foreach (var (key, value) in Headers)
        {
            if (key == name) return value;
        }
        return null;
    }

    /// <summary>The frame's bytes, encoded by the AWS SDK (or the raw bytes given to <see cref="Raw"/>).</summary>
    public byte[] Encode()
    {
        if (_raw is not null) return _raw;
        var headers = new List<IEventStreamHeader>(Headers.Count);
        foreach (var (name, value) in Headers)
        {
            var header = new EventStreamHeader(name);
            header.SetString(value);
            headers.Add(header);
        }
        return new EventStreamMessage(headers, Payload).ToByteArray();
    }

    public override string ToString() => _raw is not null ? $"raw[{_raw.Length}]" : $"{MessageType}:{EventType ?? Header(":exception-type") ?? Header(":error-code")} {PayloadText}";

    // ---- builders -------------------------------------------------------------------------------

    /// <summary>Bytes written as they are: corrupt CRCs, garbage, half frames.</summary>
    public static KiroFrame Raw(byte[] bytes) => new(bytes);

    public static KiroFrame Event(string eventType, string json) => new(
        [new(":event-type", eventType), new(":content-type", "application/json"), new(":message-type", "event")],
        Encoding.UTF8.GetBytes(json));

    public static KiroFrame Event(string eventType, JsonNode payload) => Event(eventType, payload.ToJsonString());

    public static KiroFrame Text(string content, string? modelId = null)
    {
        var node = new JsonObject { ["content"] = content };
        if (modelId is not null) node["modelId"] = modelId;
        return Event("assistantResponseEvent", node);
    }

    /// <summary>The opening event of a tool call: id and name, no input yet.</summary>
    public static KiroFrame ToolUseStart(string toolUseId, string name)
        => Event("toolUseEvent", new JsonObject { ["toolUseId"] = toolUseId, ["name"] = name });

    public static KiroFrame ToolUseInput(string toolUseId, string name, string inputFragment)
        => Event("toolUseEvent", new JsonObject { ["toolUseId"] = toolUseId, ["name"] = name, ["input"] = inputFragment });

    public static KiroFrame ToolUseStop(string toolUseId, string name)
        => Event("toolUseEvent", new JsonObject { ["toolUseId"] = toolUseId, ["name"] = name, ["stop"] = true });

    /// <summary>A whole tool call as the service streams it: start, the input cut into <paramref name="fragments"/> pieces, stop.</summary>
    public static IEnumerable<KiroFrame> ToolUse(string toolUseId, string name, string inputJson, int fragments = 3)
    {
        yield return ToolUseStart(toolUseId, name);
        foreach (var piece in TextSplit.Even(inputJson, fragments))
            yield return ToolUseInput(toolUseId, name, piece);
        yield return ToolUseStop(toolUseId, name);
    }

    public static KiroFrame Metering(double usage = 0.1)
        => Event("meteringEvent", new JsonObject { ["unit"] = "credit", ["unitPlural"] = "credits", ["usage"] = usage });

    public static KiroFrame ContextUsage(double percentage)
        => Event("contextUsageEvent", new JsonObject { ["contextUsagePercentage"] = percentage });

    public static KiroFrame Metadata(int uncachedInputTokens, int outputTokens, int cacheReadInputTokens = 0, int cacheWriteInputTokens = 0, double? contextUsagePercentage = null)
    {
        var usage = new JsonObject
        {
            ["uncachedInputTokens"] = uncachedInputTokens,
            ["outputTokens"] = outputTokens,
            ["totalTokens"] = uncachedInputTokens + cacheReadInputTokens + cacheWriteInputTokens + outputTokens,
            ["cacheReadInputTokens"] = cacheReadInputTokens,
            ["cacheWriteInputTokens"] = cacheWriteInputTokens,
        };
        if (contextUsagePercentage is { } pct) usage["contextUsagePercentage"] = pct;
        return Event("metadataEvent", new JsonObject { ["tokenUsage"] = usage });
    }

    public static KiroFrame Reasoning(string? text, string? signature = null, string? redactedContent = null)
    {
        var node = new JsonObject();
        if (text is not null) node["text"] = text;
        if (signature is not null) node["signature"] = signature;
        if (redactedContent is not null) node["redactedContent"] = redactedContent;
        return Event("reasoningContentEvent", node);
    }

    public static KiroFrame MessageMetadata(string conversationId, string utteranceId)
        => Event("messageMetadataEvent", new JsonObject { ["conversationId"] = conversationId, ["utteranceId"] = utteranceId });

    public static KiroFrame FollowupPrompt(string content)
        => Event("followupPromptEvent", new JsonObject { ["followupPrompt"] = new JsonObject { ["content"] = content, ["userIntent"] = "SUGGEST_ALTERNATE_IMPLEMENTATION" } });

    public static KiroFrame CodeReference()
        => Event("codeReferenceEvent", new JsonObject { ["references"] = new JsonArray() });

    public static KiroFrame InvalidState(string reason, string message)
        => Event("invalidStateEvent", new JsonObject { ["reason"] = reason, ["message"] = message });

    /// <summary>A modelled exception (<c>:message-type: exception</c>), payload <c>{"message":…}</c>.</summary>
    public static KiroFrame Exception(string exceptionType, string message) => new(
        [new(":exception-type", exceptionType), new(":content-type", "application/json"), new(":message-type", "exception")],
        Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new JsonObject { ["message"] = message })));

    /// <summary>An unmodelled error (<c>:message-type: error</c>) with code and message in headers, empty payload.</summary>
    public static KiroFrame Error(string errorCode, string errorMessage) => new(
        [new(":error-code", errorCode), new(":error-message", errorMessage), new(":message-type", "error")],
        []);
}

/// <summary>Cuts text into pieces without ever separating a surrogate pair (the service sends valid UTF-8 per event).</summary>
internal static class TextSplit
{
    public static IEnumerable<string> Even(string text, int pieces)
    {
        if (text.Length == 0 || pieces <= 1)
        {
            yield return text;
            yield break;
        }
        var size = Math.Max(1, (int)Math.Ceiling(text.Length / (double)pieces));
        var start = 0;
        while (start < text.Length)
        {
            var end = SafeEnd(text, Math.Min(text.Length, start + size));
            yield return text[start..end];
            start = end;
        }
    }

    public static IEnumerable<string> Random(string text, Random rng, int minPiece, int maxPiece)
    {
        var start = 0;
        while (start < text.Length)
        {
            var end = SafeEnd(text, Math.Min(text.Length, start + rng.Next(minPiece, maxPiece + 1)));
            yield return text[start..end];
            start = end;
        }
    }

    /// <summary>Moves a cut that would fall between a high and a low surrogate one character on.</summary>
    public static int SafeEnd(string text, int end)
        => end < text.Length && end > 0 && char.IsLowSurrogate(text[end]) && char.IsHighSurrogate(text[end - 1]) ? end + 1 : end;

    public static int SafeStart(string text, int start)
        => start > 0 && start < text.Length && char.IsLowSurrogate(text[start]) ? start - 1 : start;
}
