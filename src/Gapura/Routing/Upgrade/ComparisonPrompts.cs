using System.Text.Json;
using System.Text.Json.Nodes;

namespace Gapura.Routing.Upgrade;

/// <summary>
/// One prompt of a comparison: the Anthropic Messages body both models are sent (without <c>model</c> and
/// <c>stream</c>, which the runner sets), where it came from and how the report names it.
/// </summary>
/// <param name="Number">1-based position among the prompts (comments and blank lines not counted).</param>
/// <param name="Id">The file's own <c>id</c>, when it gave one.</param>
/// <param name="Line">The line of the prompts file it was read from.</param>
/// <param name="Body">The request body fragment; always has <c>messages</c> and <c>max_tokens</c>.</param>
/// <param name="Preview">A short, one-line description of what was asked (the last user text).</param>
internal sealed record ComparisonPrompt(int Number, string? Id, int Line, JsonObject Body, string Preview)
{
    /// <summary>The request body for one model: the fragment with <c>model</c> and <c>stream: true</c> set.</summary>
    public string BodyFor(string model)
    {
        var body = (JsonObject)Body.DeepClone();
        body["model"] = model;
        body["stream"] = true;
        return body.ToJsonString();
    }

    public string Label => Id is null ? $"prompt {Number}" : $"prompt {Number} ({Id})";
}

/// <summary>A prompts file that cannot be used: the message names the line.</summary>
internal sealed class ComparisonPromptException(string message) : Exception(message);

/// <summary>
/// Reads a prompts file (JSON lines). Each line is <c>{"prompt": "…"}</c> with optional <c>system</c>,
/// <c>max_tokens</c> and <c>id</c>, or an Anthropic Messages body fragment <c>{"messages": […], …}</c> (any field the
/// Messages API takes: <c>system</c>, <c>tools</c>, <c>temperature</c>…, plus an optional <c>id</c>). Blank lines
/// and lines starting with <c>//</c> or <c>#</c> are skipped. The whole file is checked before anything is sent,
/// so a typo on line 40 does not cost 39 answers.
/// </summary>
internal static class ComparisonPrompts
{
    private static readonly HashSet<string> PromptFields = new(StringComparer.Ordinal) { "prompt", "system", "max_tokens", "id" };

    public static IReadOnlyList<ComparisonPrompt> ReadFile(string path, int defaultMaxTokens)
    {
        if (!File.Exists(path)) throw new ComparisonPromptException($"The prompts file {path} does not exist.");
        using var reader = new StreamReader(path, System.Text.Encoding.UTF8);
        return Read(reader, path, defaultMaxTokens);
    }

    public static IReadOnlyList<ComparisonPrompt> Read(TextReader reader, string name, int defaultMaxTokens)
    {
        var prompts = new List<ComparisonPrompt>();
        var lineNumber = 0;
        while (reader.ReadLine() is { } raw)
        {
            lineNumber++;
            var line = raw.Trim();
            if (lineNumber == 1) line = line.TrimStart('\uFEFF');
            if (line.Length == 0 || line.StartsWith("//", StringComparison.Ordinal) || line.StartsWith('#')) continue;
            prompts.Add(Parse(line, prompts.Count + 1, lineNumber, name, defaultMaxTokens));
        }
        if (prompts.Count == 0)
            throw new ComparisonPromptException($"{name}: no prompts (one JSON object per line: {{\"prompt\": \"…\"}} or {{\"messages\": […]}}).");
        return prompts;
    }

    private static ComparisonPrompt Parse(string line, int number, int lineNumber, string name, int defaultMaxTokens)
    {
        ComparisonPromptException Bad(string why) => new($"{name}, line {lineNumber}: {why}");

        JsonObject obj;
        try
        {
            obj = JsonNode.Parse(line) as JsonObject ?? throw Bad("expected a JSON object, one per line.");
        }
        catch (JsonException e)
        {
            throw Bad($"not valid JSON ({e.Message})");
        }

        var id = obj["id"] switch
        {
            null => null,
            JsonValue v when v.GetValueKind() == JsonValueKind.String => v.GetValue<string>(),
            JsonValue v when v.GetValueKind() == JsonValueKind.Number => v.ToJsonString(),
            _ => throw Bad("\"id\" must be a string or a number."),
        };
        obj.Remove("id");

        var maxTokens = obj["max_tokens"] switch
        {
            null => defaultMaxTokens,
            JsonValue v when v.GetValueKind() == JsonValueKind.Number && v.TryGetValue<int>(out var n) && n > 0 => n,
            _ => throw Bad("\"max_tokens\" must be a positive whole number."),
        };

        if (obj.ContainsKey("prompt") && obj.ContainsKey("messages"))
            throw Bad("give \"prompt\" or \"messages\", not both.");

        JsonObject body;
        string preview;
        if (obj.ContainsKey("prompt"))
        {
            if (obj.Select(p => p.Key).FirstOrDefault(k => !PromptFields.Contains(k)) is { } unknown)
                throw Bad($"unknown field \"{unknown}\" beside \"prompt\" (allowed: prompt, system, max_tokens, id; or write a full {{\"messages\": […]}} body).");
            if (obj["prompt"] is not JsonValue p || p.GetValueKind() != JsonValueKind.String || p.GetValue<string>().Trim().Length == 0)
                throw Bad("\"prompt\" must be a non-empty string.");
            var text = p.GetValue<string>();
            body = new JsonObject
            {
                ["max_tokens"] = maxTokens,
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = text }),
            };
            if (obj["system"] is { } system)
            {
                if (system is not JsonValue s || s.GetValueKind() != JsonValueKind.String)
                    throw Bad("\"system\" must be a string beside \"prompt\".");
                body["system"] = system.DeepClone();
            }
            preview = text;
        }
        else if (obj["messages"] is JsonArray messages)
        {
            if (messages.Count == 0) throw Bad("\"messages\" is empty.");
            if (messages.Any(m => m is not JsonObject { } o || o["role"] is not JsonValue || o["content"] is null))
                throw Bad("each message needs a \"role\" and a \"content\".");
            if (obj["system"] is { } system && system.GetValueKind() is not (JsonValueKind.String or JsonValueKind.Array))
                throw Bad("\"system\" must be a string or an array of text blocks.");
            if (obj["tools"] is { } tools && tools is not JsonArray)
                throw Bad("\"tools\" must be an array.");
            // The command decides these two; a leftover from a captured request must not stop streaming.
            obj.Remove("model");
            obj.Remove("stream");
            obj["max_tokens"] = maxTokens;
            body = obj;
            preview = LastUserText(messages);
        }
        else if (obj.ContainsKey("messages"))
        {
            throw Bad("\"messages\" must be an array.");
        }
        else
        {
            throw Bad("expected {\"prompt\": \"…\"} or an Anthropic Messages body with \"messages\".");
        }
        return new ComparisonPrompt(number, id, lineNumber, body, OneLine(preview, 80));
    }

    private static string LastUserText(JsonArray messages)
    {
        for (var i = messages.Count - 1; i >= 0; i--)
        {
            if (messages[i] is not JsonObject m || m["role"]?.GetValueKind() != JsonValueKind.String || m["role"]!.GetValue<string>() != "user") continue;
            switch (m["content"])
            {
                case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                    return v.GetValue<string>();
                case JsonArray blocks:
                    var texts = blocks.OfType<JsonObject>()
                        .Where(b => b["type"]?.GetValueKind() == JsonValueKind.String && b["type"]!.GetValue<string>() == "text" && b["text"]?.GetValueKind() == JsonValueKind.String)
                        .Select(b => b["text"]!.GetValue<string>()).ToList();
                    if (texts.Count > 0) return string.Join(" ", texts);
                    if (blocks.OfType<JsonObject>().Any(b => b["type"]?.ToString() == "tool_result")) return "(tool result)";
                    break;
            }
        }
        return $"({messages.Count} messages)";
    }

    /// <summary>Whitespace collapsed to single spaces, cut at <paramref name="max"/> characters with an ellipsis.</summary>
    internal static string OneLine(string text, int max)
    {
        var collapsed = string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));
        if (collapsed.Length <= max) return collapsed;
        var cut = max - 1;
        if (char.IsHighSurrogate(collapsed[cut - 1])) cut--;
        return collapsed[..cut] + "…";
    }
}
