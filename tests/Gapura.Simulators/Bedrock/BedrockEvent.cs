using System.Text;
using System.Text.Json.Nodes;
using Amazon.Runtime.EventStreams;

namespace Gapura.Simulators.Bedrock;

/// <summary>
/// One ConverseStream frame. Encoded by the AWS SDK's own <see cref="EventStreamMessage"/>, never by the
/// gateway's code, so the gateway's decoder is checked against an independent implementation.
/// </summary>
public sealed class BedrockEvent
{
    private readonly byte[]? _raw;

    private BedrockEvent(string messageType, string type, JsonObject payload)
    {
        MessageType = messageType;
        Type = type;
        Payload = payload;
    }

    private BedrockEvent(byte[] raw)
    {
        _raw = raw;
        MessageType = "raw";
        Type = "raw";
        Payload = [];
    }

    /// <summary><c>event</c> or <c>exception</c>.</summary>
    public string MessageType { get; }

    /// <summary>The event type (<c>contentBlockDelta</c>…) or exception type (<c>throttlingException</c>…).</summary>
    public string Type { get; }

    public JsonObject Payload { get; }

    public byte[] Encode(string? padding = null)
    {
        if (_raw is not null) return _raw;
        var payload = (JsonObject)Payload.DeepClone();
        if (padding is not null && MessageType == "event") payload["p"] = padding;
        var headers = new List<IEventStreamHeader>();
        void Add(string name, string value)
        {
            var h = new EventStreamHeader(name);
            h.SetString(value);
            headers.Add(h);
        }
        if (MessageType == "exception")
        {
            Add(":exception-type", Type);
            Add(":content-type", "application/json");
            Add(":message-type", "exception");
        }
        else
        {
            Add(":event-type", Type);
            Add(":content-type", "application/json");
            Add(":message-type", "event");
        }
        return new EventStreamMessage(headers, Encoding.UTF8.GetBytes(payload.ToJsonString())).ToByteArray();
    }

    public override string ToString() => $"{MessageType}:{Type} {Payload.ToJsonString()}";

    // ---- builders -------------------------------------------------------------------------------

    public static BedrockEvent Raw(byte[] bytes) => new(bytes);

    public static BedrockEvent Event(string type, JsonObject payload) => new("event", type, payload);

    public static BedrockEvent MessageStart() => Event("messageStart", new JsonObject { ["role"] = "assistant" });

    public static BedrockEvent Text(int block, string text)
        => Event("contentBlockDelta", new JsonObject { ["contentBlockIndex"] = block, ["delta"] = new JsonObject { ["text"] = text } });

    public static BedrockEvent ToolStart(int block, string toolUseId, string name)
        => Event("contentBlockStart", new JsonObject
        {
            ["contentBlockIndex"] = block,
            ["start"] = new JsonObject { ["toolUse"] = new JsonObject { ["toolUseId"] = toolUseId, ["name"] = name } },
        });

    public static BedrockEvent ToolInput(int block, string fragment)
        => Event("contentBlockDelta", new JsonObject { ["contentBlockIndex"] = block, ["delta"] = new JsonObject { ["toolUse"] = new JsonObject { ["input"] = fragment } } });

    public static BedrockEvent Reasoning(int block, string text)
        => Event("contentBlockDelta", new JsonObject { ["contentBlockIndex"] = block, ["delta"] = new JsonObject { ["reasoningContent"] = new JsonObject { ["text"] = text } } });

    public static BedrockEvent ReasoningSignature(int block, string signature)
        => Event("contentBlockDelta", new JsonObject { ["contentBlockIndex"] = block, ["delta"] = new JsonObject { ["reasoningContent"] = new JsonObject { ["signature"] = signature } } });

    public static BedrockEvent BlockStop(int block) => Event("contentBlockStop", new JsonObject { ["contentBlockIndex"] = block });

    public static BedrockEvent MessageStop(string stopReason, string? stopSequence = null)
    {
        var payload = new JsonObject { ["stopReason"] = stopReason };
        if (stopSequence is not null) payload["additionalModelResponseFields"] = new JsonObject { ["stop_sequence"] = stopSequence };
        return Event("messageStop", payload);
    }

    public static BedrockEvent Metadata(int input, int output, int cacheRead = 0, int cacheWrite = 0, int latencyMs = 120)
    {
        var usage = new JsonObject { ["inputTokens"] = input, ["outputTokens"] = output, ["totalTokens"] = input + output + cacheRead + cacheWrite };
        if (cacheRead > 0 || cacheWrite > 0)
        {
            usage["cacheReadInputTokens"] = cacheRead;
            usage["cacheWriteInputTokens"] = cacheWrite;
        }
        return Event("metadata", new JsonObject { ["usage"] = usage, ["metrics"] = new JsonObject { ["latencyMs"] = latencyMs } });
    }

    /// <summary>An exception frame (<c>throttlingException</c>, <c>validationException</c>, <c>modelStreamErrorException</c>…).</summary>
    public static BedrockEvent Exception(string type, string message, int? originalStatusCode = null)
    {
        var payload = new JsonObject { ["message"] = message };
        if (originalStatusCode is { } s) { payload["originalStatusCode"] = s; payload["originalMessage"] = message; }
        return new BedrockEvent("exception", type, payload);
    }
}
