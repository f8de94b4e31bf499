using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Gapura.Simulators.OpenAi;

/// <summary>
/// The unscripted answer, deterministic and sensible enough for a real client (the SDKs, Codex) to hold a
/// conversation and run a tool loop: tool results are echoed as <c>Tool said: …</c>; a
/// <c>[[tool:NAME {json}]]</c> directive in the user's text makes the model call that declared tool;
/// anything else is echoed. A reasoning effort adds reasoning; a token limit cuts the answer (finish
/// <c>length</c>).
/// </summary>
public static partial class OpenAiDefaultResponder
{
    public const string Greeting = "Hello from the OpenAI simulator: ";
    public const string ToolEcho = "Tool said: ";
    private const int EchoChars = 200;

    [GeneratedRegex(@"\[\[tool:(?<name>[A-Za-z0-9_.:\-]+)\s*(?<json>\{.*?\})?\s*\]\]", RegexOptions.Singleline)]
    private static partial Regex ToolDirective();

    /// <summary>What the conversation asks for, read from either endpoint's request.</summary>
    private sealed record Turn(string UserText, List<string> ToolOutputs, HashSet<string> Tools, string? Effort, int? MaxTokens, int PromptChars);

    public static OpenAiAnswer ForChat(JsonElement body, int bodyBytes)
    {
        var messages = body.GetProperty("messages");
        var outputs = new List<string>();
        var user = "";
        // The turn is what follows the last assistant message: tool results, or the user's text.
        var all = messages.EnumerateArray().ToList();
        for (var i = all.Count - 1; i >= 0; i--)
        {
            var role = all[i].TryGetProperty("role", out var r) ? r.GetString() : null;
            if (role == "assistant") break;
            if (role == "tool") outputs.Insert(0, Text(all[i].GetProperty("content")));
            if (role == "user" && user.Length == 0) user = Text(all[i].GetProperty("content"));
        }
        var tools = new HashSet<string>(StringComparer.Ordinal);
        if (body.TryGetProperty("tools", out var t) && t.ValueKind == JsonValueKind.Array)
            foreach (var tool in t.EnumerateArray())
                if (tool.TryGetProperty("function", out var f) && f.TryGetProperty("name", out var n)) tools.Add(n.GetString() ?? "");
        var effort = body.TryGetProperty("reasoning_effort", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
        int? max = Int(body, "max_completion_tokens") ?? Int(body, "max_tokens");
        return Answer(new Turn(user, outputs, tools, effort, max, bodyBytes));
    }

    public static OpenAiAnswer ForResponses(JsonElement body, int bodyBytes)
    {
        var outputs = new List<string>();
        var user = "";
        if (body.TryGetProperty("input", out var input))
        {
            if (input.ValueKind == JsonValueKind.String) user = input.GetString() ?? "";
            else if (input.ValueKind == JsonValueKind.Array)
            {
                var items = input.EnumerateArray().ToList();
                for (var i = items.Count - 1; i >= 0; i--)
                {
                    var item = items[i];
                    var type = item.TryGetProperty("type", out var ty) ? ty.GetString() : "message";
                    var role = item.TryGetProperty("role", out var r) ? r.GetString() : null;
                    if (type is "function_call" || type == "message" && role == "assistant") break;
                    if (type == "function_call_output") outputs.Insert(0, Text(item.GetProperty("output")));
                    if (type == "message" && role == "user" && user.Length == 0 && item.TryGetProperty("content", out var c)) user = Text(c);
                }
            }
        }
        var tools = new HashSet<string>(StringComparer.Ordinal);
        if (body.TryGetProperty("tools", out var t) && t.ValueKind == JsonValueKind.Array)
            foreach (var tool in t.EnumerateArray())
                if (tool.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String) tools.Add(n.GetString()!);
        var effort = body.TryGetProperty("reasoning", out var rs) && rs.ValueKind == JsonValueKind.Object
                     && rs.TryGetProperty("effort", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
        return Answer(new Turn(user, outputs, tools, effort, Int(body, "max_output_tokens"), bodyBytes));
    }

    private static OpenAiAnswer Answer(Turn turn)
    {
        var prompt = Math.Max(1, turn.PromptChars / 4);
        var reasoning = turn.Effort is null or "none" or "minimal" ? [] : Words($"The user wants an answer ({turn.Effort} effort). This is the simulator, so I will echo them.");
        if (turn.ToolOutputs.Count > 0)
            return Finish([.. reasoning], Words(ToolEcho + Truncate(string.Join("\n", turn.ToolOutputs))), [], turn.MaxTokens, prompt);

        var calls = new List<OpenAiToolCall>();
        foreach (Match m in ToolDirective().Matches(turn.UserText))
        {
            var name = m.Groups["name"].Value;
            if (!turn.Tools.Contains(name)) continue; // a model can only call tools it was given
            calls.Add(new OpenAiToolCall(name, m.Groups["json"].Success ? m.Groups["json"].Value : "{}"));
        }
        if (calls.Count > 0) return Finish([.. reasoning], [], calls, turn.MaxTokens, prompt);
        var tail = turn.UserText.Length <= EchoChars ? turn.UserText : turn.UserText[^EchoChars..];
        return Finish([.. reasoning], Words(Greeting + tail), [], turn.MaxTokens, prompt);
    }

    /// <summary>Counts a word as a token; past <paramref name="max"/> the answer is cut and finishes with <c>length</c>.</summary>
    private static OpenAiAnswer Finish(List<string> reasoning, List<string> text, List<OpenAiToolCall> calls, int? max, int prompt)
    {
        var finish = (string?)null;
        if (max is { } limit && reasoning.Count + text.Count > limit)
        {
            var keepReasoning = Math.Min(reasoning.Count, limit);
            reasoning = reasoning[..keepReasoning];
            text = text[..Math.Max(0, limit - keepReasoning)];
            calls = [];
            finish = "length";
        }
        var completion = reasoning.Count + text.Count + calls.Sum(c => Math.Max(1, c.Arguments.Length / 4));
        return new OpenAiAnswer
        {
            Reasoning = reasoning, Text = text, ToolCalls = calls, FinishReason = finish,
            PromptTokens = prompt, CompletionTokens = Math.Max(1, completion), ReasoningTokens = reasoning.Count,
        };
    }

    /// <summary>Splits text into word-sized deltas that join back to it exactly.</summary>
    private static List<string> Words(string text)
    {
        var pieces = new List<string>();
        var start = 0;
        for (var i = 1; i <= text.Length; i++)
            if (i == text.Length || text[i] == ' ')
            {
                pieces.Add(text[start..i]);
                start = i;
            }
        return pieces;
    }

    private static string Truncate(string text) => text.Length <= EchoChars ? text : text[..EchoChars];

    private static int? Int(JsonElement body, string name)
        => body.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n : null;

    /// <summary>A string, or the text of an array of parts (<c>text</c>, <c>input_text</c>, <c>output_text</c>).</summary>
    private static string Text(JsonElement content)
    {
        if (content.ValueKind == JsonValueKind.String) return content.GetString() ?? "";
        if (content.ValueKind != JsonValueKind.Array) return "";
        var sb = new StringBuilder();
        foreach (var part in content.EnumerateArray())
            if (part.ValueKind == JsonValueKind.Object && part.TryGetProperty("text", out var t) && t.ValueKind == JsonValueKind.String) sb.Append(t.GetString());
        return sb.ToString();
    }
}
