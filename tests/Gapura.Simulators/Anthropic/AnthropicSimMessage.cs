using System.Text.Json.Nodes;

namespace Gapura.Simulators.Anthropic;

/// <summary>A content block of a simulated answer; the same model is streamed as SSE or returned as JSON.</summary>
public abstract record AnthropicSimBlock;

public sealed record AnthropicSimText(string Text) : AnthropicSimBlock;

public sealed record AnthropicSimThinking(string Thinking, string Signature) : AnthropicSimBlock;

public sealed record AnthropicSimRedactedThinking(string Data) : AnthropicSimBlock;

/// <summary>A tool call; <paramref name="InputJson"/> is the object the model produced, streamed in <paramref name="Fragments"/> pieces.</summary>
public sealed record AnthropicSimToolUse(string Id, string Name, string InputJson, int Fragments = 3) : AnthropicSimBlock;

/// <summary>A whole simulated answer: blocks, stop reason and usage, as Anthropic reports them.</summary>
public sealed class AnthropicSimMessage
{
    public string Id { get; init; } = "msg_sim_" + Guid.NewGuid().ToString("N")[..20];
    public string Model { get; set; } = "claude-sonnet-4-5-20250929";
    public List<AnthropicSimBlock> Content { get; init; } = [];
    public string StopReason { get; set; } = "end_turn";
    public string? StopSequence { get; set; }
    public int InputTokens { get; set; } = 10;
    public int OutputTokens { get; set; } = 5;
    public int CacheReadInputTokens { get; set; }
    public int CacheCreationInputTokens { get; set; }

    /// <summary>The non-streaming answer body.</summary>
    public JsonObject ToJson()
    {
        var content = new JsonArray();
        foreach (var block in Content)
        {
            content.Add(block switch
            {
                AnthropicSimText t => new JsonObject { ["type"] = "text", ["text"] = t.Text },
                AnthropicSimThinking th => new JsonObject { ["type"] = "thinking", ["thinking"] = th.Thinking, ["signature"] = th.Signature },
                AnthropicSimRedactedThinking r => new JsonObject { ["type"] = "redacted_thinking", ["data"] = r.Data },
                AnthropicSimToolUse u => new JsonObject { ["type"] = "tool_use", ["id"] = u.Id, ["name"] = u.Name, ["input"] = JsonNode.Parse(u.InputJson) },
                _ => throw new InvalidOperationException(block.GetType().Name),
            });
        }
        return new JsonObject
        {
            ["id"] = Id,
            ["type"] = "message",
            ["role"] = "assistant",
            ["model"] = Model,
            ["content"] = content,
            ["stop_reason"] = StopReason,
            ["stop_sequence"] = StopSequence,
            ["usage"] = Usage(InputTokens, OutputTokens),
        };
    }

    private JsonObject Usage(int input, int output) => new()
    {
        ["input_tokens"] = input,
        ["cache_creation_input_tokens"] = CacheCreationInputTokens,
        ["cache_read_input_tokens"] = CacheReadInputTokens,
        ["output_tokens"] = output,
        ["service_tier"] = "standard",
    };

    /// <summary>
    /// The SSE event sequence Anthropic streams for this answer: message_start, ping, for each block
    /// content_block_start / deltas / content_block_stop, then message_delta and message_stop.
    /// </summary>
    public List<AnthropicSseEvent> ToEvents(int chunkChars = 12)
    {
        var events = new List<AnthropicSseEvent>();
        var start = ToJson();
        start["content"] = new JsonArray();
        start["stop_reason"] = null;
        start["stop_sequence"] = null;
        // Like the real API: the input side is known at the start, output_tokens counts from 1.
        start["usage"] = Usage(InputTokens, 1);
        events.Add(AnthropicSseEvent.Of("message_start", new JsonObject { ["message"] = start }));
        events.Add(AnthropicSseEvent.Ping());
        for (var i = 0; i < Content.Count; i++)
        {
            switch (Content[i])
            {
                case AnthropicSimText t:
                    events.Add(BlockStart(i, new JsonObject { ["type"] = "text", ["text"] = "" }));
                    foreach (var piece in Chunks(t.Text, chunkChars)) events.Add(Delta(i, new JsonObject { ["type"] = "text_delta", ["text"] = piece }));
                    break;
                case AnthropicSimThinking th:
                    events.Add(BlockStart(i, new JsonObject { ["type"] = "thinking", ["thinking"] = "", ["signature"] = "" }));
                    foreach (var piece in Chunks(th.Thinking, chunkChars)) events.Add(Delta(i, new JsonObject { ["type"] = "thinking_delta", ["thinking"] = piece }));
                    events.Add(Delta(i, new JsonObject { ["type"] = "signature_delta", ["signature"] = th.Signature }));
                    break;
                case AnthropicSimRedactedThinking r:
                    events.Add(BlockStart(i, new JsonObject { ["type"] = "redacted_thinking", ["data"] = r.Data }));
                    break;
                case AnthropicSimToolUse u:
                    events.Add(BlockStart(i, new JsonObject { ["type"] = "tool_use", ["id"] = u.Id, ["name"] = u.Name, ["input"] = new JsonObject() }));
                    // The real API's first input_json_delta is often empty; clients must cope.
                    events.Add(Delta(i, new JsonObject { ["type"] = "input_json_delta", ["partial_json"] = "" }));
                    var size = Math.Max(1, (int)Math.Ceiling(u.InputJson.Length / (double)Math.Max(1, u.Fragments)));
                    foreach (var piece in Chunks(u.InputJson, size)) events.Add(Delta(i, new JsonObject { ["type"] = "input_json_delta", ["partial_json"] = piece }));
                    break;
            }
            events.Add(AnthropicSseEvent.Of("content_block_stop", new JsonObject { ["index"] = i }));
        }
        events.Add(AnthropicSseEvent.Of("message_delta", new JsonObject
        {
            ["delta"] = new JsonObject { ["stop_reason"] = StopReason, ["stop_sequence"] = StopSequence },
            ["usage"] = new JsonObject
            {
                ["input_tokens"] = InputTokens,
                ["cache_creation_input_tokens"] = CacheCreationInputTokens,
                ["cache_read_input_tokens"] = CacheReadInputTokens,
                ["output_tokens"] = OutputTokens,
            },
        }));
        events.Add(AnthropicSseEvent.Of("message_stop", new JsonObject()));
        return events;
    }

    private static AnthropicSseEvent BlockStart(int index, JsonObject block)
        => AnthropicSseEvent.Of("content_block_start", new JsonObject { ["index"] = index, ["content_block"] = block });

    private static AnthropicSseEvent Delta(int index, JsonObject delta)
        => AnthropicSseEvent.Of("content_block_delta", new JsonObject { ["index"] = index, ["delta"] = delta });

    private static IEnumerable<string> Chunks(string text, int size)
    {
        if (text.Length == 0) yield break;
        for (var i = 0; i < text.Length; i += size)
        {
            var len = Math.Min(size, text.Length - i);
            // Never split a surrogate pair: each delta must be valid JSON text on its own.
            if (len < text.Length - i && char.IsHighSurrogate(text[i + len - 1])) len++;
            yield return text.Substring(i, len);
            i += len - size;
        }
    }
}

/// <summary>One SSE event as written on the wire: <c>event: NAME\ndata: JSON\n\n</c>.</summary>
public sealed record AnthropicSseEvent(string Name, string Data)
{
    /// <summary>An event whose JSON carries <c>"type": name</c> first, as Anthropic writes them.</summary>
    public static AnthropicSseEvent Of(string name, JsonObject body)
    {
        var ordered = new JsonObject { ["type"] = name };
        foreach (var (key, value) in body.ToList())
        {
            body.Remove(key);
            ordered[key] = value;
        }
        return new AnthropicSseEvent(name, ordered.ToJsonString());
    }

    public static AnthropicSseEvent Ping() => new("ping", "{\"type\": \"ping\"}");

    public static AnthropicSseEvent Error(string type, string message)
        => new("error", new JsonObject { ["type"] = "error", ["error"] = new JsonObject { ["type"] = type, ["message"] = message } }.ToJsonString());

    public byte[] Encode() => System.Text.Encoding.UTF8.GetBytes($"event: {Name}\ndata: {Data}\n\n");
}
