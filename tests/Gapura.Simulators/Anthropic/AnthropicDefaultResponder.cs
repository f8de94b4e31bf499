using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Gapura.Simulators.Anthropic;

/// <summary>
/// What the simulator answers when no scenario is queued: a deterministic model that exercises the wire
/// format. The last user text is echoed (<c>Echo: …</c>); a <c>[[tool:NAME {json}]]</c> directive makes a
/// tool call; tool results come back as <c>Tool said: …</c> (<c>Tool failed: …</c> for <c>is_error</c>);
/// thinking, when asked for, comes first with a signature the simulator checks when the block is sent back.
/// <c>max_tokens</c> and <c>stop_sequences</c> cut the text as the real API does.
/// </summary>
internal static partial class AnthropicDefaultResponder
{
    public static AnthropicSimMessage Respond(JsonObject body, string model, Func<string, string> sign, Func<JsonObject, (int Read, int Write)> cache)
    {
        var messages = body["messages"]!.AsArray();
        var last = messages[^1]!.AsObject();
        var content = new List<AnthropicSimBlock>();
        var stop = "end_turn";
        string? stopSequence = null;

        var (userText, toolResults) = ReadLastUser(last);
        var thinkingType = body["thinking"] is JsonObject t ? (string?)t["type"] : null;
        if (thinkingType is "enabled" or "adaptive")
        {
            var thought = $"The user wrote {userText.Length} characters; answering plainly.";
            content.Add(new AnthropicSimThinking(thought, sign(thought)));
        }

        string answer;
        var calls = new List<(string Name, string Input)>();
        var directives = ToolDirective().Matches(userText);
        if (toolResults.Count > 0) answer = string.Join("\n", toolResults);
        else if (directives.Count > 0)
        {
            // Several directives are parallel calls in one answer, as the model makes them.
            answer = userText[..directives[0].Index].Trim();
            foreach (Match directive in directives)
                calls.Add((directive.Groups[1].Value,
                    directive.Groups[2].Success && directive.Groups[2].Value.Trim().Length > 0 ? directive.Groups[2].Value.Trim() : "{}"));
        }
        else if (ForcedTool(body, userText) is { } forced)
        {
            // tool_choice "tool" (or "any") obliges the model to call one: it answers with an input built from the schema.
            answer = "";
            calls.Add(((string)forced["name"]!, SchemaExample.For(System.Text.Json.JsonSerializer.Deserialize<System.Text.Json.JsonElement>(
                (forced["input_schema"] ?? new JsonObject()).ToJsonString()))?.ToJsonString() ?? "{}"));
        }
        else if (OutputSchema(body) is { } schema)
            // Structured output: the model answers with JSON matching the requested schema, as the real API guarantees.
            answer = SchemaExample.For(System.Text.Json.JsonSerializer.Deserialize<System.Text.Json.JsonElement>(schema.ToJsonString()))?.ToJsonString() ?? "{}";
        else answer = "Echo: " + userText;

        var maxTokens = body["max_tokens"] is JsonValue mt && mt.TryGetValue<int>(out var m) ? m : int.MaxValue;
        if (body["stop_sequences"] is JsonArray stops)
            foreach (var s in stops.Select(x => (string?)x).OfType<string>())
            {
                var at = answer.IndexOf(s, StringComparison.Ordinal);
                if (at < 0) continue;
                answer = answer[..at];
                stop = "stop_sequence";
                stopSequence = s;
                calls.Clear();
                break;
            }
        // A token is four characters here; the cut is what max_tokens means to the client.
        if (Tokens(answer) > maxTokens)
        {
            answer = answer[..Math.Min(answer.Length, maxTokens * 4)];
            stop = "max_tokens";
            stopSequence = null;
            calls.Clear();
        }

        if (answer.Length > 0) content.Add(new AnthropicSimText(answer));
        foreach (var (name, input) in calls)
        {
            content.Add(new AnthropicSimToolUse("toolu_sim_" + Guid.NewGuid().ToString("N")[..16], name, input));
            stop = "tool_use";
        }

        var (read, write) = cache(body);
        var inputTokens = Math.Max(1, Tokens(body.ToJsonString()) - read - write);
        return new AnthropicSimMessage
        {
            Model = model,
            Content = content,
            StopReason = stop,
            StopSequence = stopSequence,
            InputTokens = inputTokens,
            OutputTokens = Math.Max(1, content.Sum(b => b switch { AnthropicSimText x => Tokens(x.Text), AnthropicSimThinking x => Tokens(x.Thinking), AnthropicSimToolUse x => Tokens(x.InputJson) + 5, _ => 1 })),
            CacheReadInputTokens = read,
            CacheCreationInputTokens = write,
        };
    }

    public static int Tokens(string text) => (text.Length + 3) / 4;

    private static (string Text, List<string> ToolResults) ReadLastUser(JsonObject message)
    {
        if (message["content"] is JsonValue v) return (v.GetValue<string>(), []);
        var text = new StringBuilder();
        var results = new List<string>();
        foreach (var block in message["content"]!.AsArray().OfType<JsonObject>())
        {
            switch ((string?)block["type"])
            {
                case "text":
                    if (text.Length > 0) text.Append('\n');
                    text.Append((string?)block["text"]);
                    break;
                case "tool_result":
                    var resultText = block["content"] switch
                    {
                        JsonValue s => s.GetValue<string>(),
                        JsonArray parts => string.Join("", parts.OfType<JsonObject>().Where(p => (string?)p["type"] == "text").Select(p => (string?)p["text"])),
                        _ => "",
                    };
                    var failed = block["is_error"] is JsonValue e && e.TryGetValue<bool>(out var isError) && isError;
                    results.Add((failed ? "Tool failed: " : "Tool said: ") + resultText);
                    break;
            }
        }
        return (text.ToString(), results);
    }

    /// <summary>The tool <c>tool_choice</c> forces: the named one, or the first for "any".</summary>
    private static JsonObject? ForcedTool(JsonObject body, string userText)
    {
        if (body["tools"] is not JsonArray array || array.Count == 0) return null;
        var tools = array.OfType<JsonObject>().ToList();
        var named = ToolInstruction.MustCallName(userText);
        return (string?)body["tool_choice"]?["type"] switch
        {
            "tool" => tools.FirstOrDefault(t => (string?)t["name"] == (string?)body["tool_choice"]!["name"]),
            "any" => tools[ToolInstruction.PickWhenAnyIsRequired([.. tools.Select(t => (string?)t["description"])])],
            null or "auto" when named is not null => tools.FirstOrDefault(t => (string?)t["name"] == named),
            _ => null,
        };
    }

    /// <summary><c>output_config.format</c> or the beta's <c>output_format</c>: the JSON schema the answer must match.</summary>
    private static JsonNode? OutputSchema(JsonObject body)
        => (body["output_config"]?["format"] ?? body["output_format"]) is JsonObject { } format && (string?)format["type"] == "json_schema" ? format["schema"] : null;

    /// <summary><c>[[slow:MS]]</c> in the last user text: the model thinks that long before its first byte (keep-alive tests).</summary>
    public static TimeSpan SlowStart(JsonObject body)
    {
        var match = SlowDirective().Match(ReadLastUser(body["messages"]!.AsArray()[^1]!.AsObject()).Text);
        return match.Success ? TimeSpan.FromMilliseconds(int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)) : TimeSpan.Zero;
    }

    // Lazy inside the braces, so two directives in one message are two calls rather than one with both inputs.
    [GeneratedRegex(@"\[\[tool:([A-Za-z0-9_\-]+)\s*(\{.*?\})?\s*\]\]", RegexOptions.Singleline)]
    private static partial Regex ToolDirective();

    [GeneratedRegex(@"\[\[slow:([0-9]{1,5})\]\]")]
    private static partial Regex SlowDirective();
}
