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
        string? toolName = null, toolInput = null;
        if (toolResults.Count > 0) answer = string.Join("\n", toolResults);
        else if (ToolDirective().Match(userText) is { Success: true } directive)
        {
            answer = userText[..directive.Index].Trim();
            toolName = directive.Groups[1].Value;
            toolInput = directive.Groups[2].Success && directive.Groups[2].Value.Trim().Length > 0 ? directive.Groups[2].Value.Trim() : "{}";
        }
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
                toolName = null;
                break;
            }
        // A token is four characters here; the cut is what max_tokens means to the client.
        if (Tokens(answer) > maxTokens)
        {
            answer = answer[..Math.Min(answer.Length, maxTokens * 4)];
            stop = "max_tokens";
            stopSequence = null;
            toolName = null;
        }

        if (answer.Length > 0) content.Add(new AnthropicSimText(answer));
        if (toolName is not null)
        {
            content.Add(new AnthropicSimToolUse("toolu_sim_" + Guid.NewGuid().ToString("N")[..16], toolName, toolInput!));
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

    [GeneratedRegex(@"\[\[tool:([A-Za-z0-9_\-]+)\s*(\{.*\})?\s*\]\]", RegexOptions.Singleline)]
    private static partial Regex ToolDirective();
}
