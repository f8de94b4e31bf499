using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Gapura.Simulators.Kiro;

/// <summary>
/// The unscripted answer: deterministic and sensible enough that a real client (Claude Code, the SDKs)
/// can hold a conversation and run a tool loop against the simulator.
/// </summary>
public static partial class KiroDefaultResponder
{
    public const string Greeting = "Hello from the Kiro simulator: ";
    public const string ToolEcho = "Tool said: ";
    private const int EchoChars = 200;

    [GeneratedRegex(@"\[\[tool:(?<name>[A-Za-z0-9_.:\-]+)\s*")]
    private static partial Regex ToolDirective();

    /// <summary>The frames answering a valid request body.</summary>
    public static List<KiroFrame> Respond(JsonElement root, int bodyBytes, int maxInputTokens, Random rng, bool extraEvents)
    {
        var current = root.GetProperty("conversationState").GetProperty("currentMessage").GetProperty("userInputMessage");
        var content = current.GetProperty("content").GetString() ?? "";
        var frames = new List<KiroFrame>();

        if (FirstToolResult(current) is { } result)
        {
            AddText(frames, ToolEcho + Truncate(result, EchoChars), rng);
        }
        else if (FindToolDirectives(content, DeclaredTools(current)) is { Count: > 0 } calls)
        {
            // Several directives are parallel calls, one after the other in the stream as Kiro sends them.
            foreach (var call in calls)
            {
                var id = "tooluse_" + RandomId(rng, 22);
                frames.Add(KiroFrame.ToolUseStart(id, call.Name));
                foreach (var piece in TextSplit.Random(call.InputJson, rng, 1, Math.Max(2, call.InputJson.Length / 3)))
                    frames.Add(KiroFrame.ToolUseInput(id, call.Name, piece));
                frames.Add(KiroFrame.ToolUseStop(id, call.Name));
            }
        }
        else if (ForcedTool(content, current) is { } forced)
        {
            // The gateway turns a forced tool choice into this instruction (Kiro has no tool_choice); a model obeys it.
            var id = "tooluse_" + RandomId(rng, 22);
            var input = SchemaExample.For(forced.Schema)?.ToJsonString() ?? "{}";
            frames.Add(KiroFrame.ToolUseStart(id, forced.Name));
            foreach (var piece in TextSplit.Random(input, rng, 1, Math.Max(2, input.Length / 3)))
                frames.Add(KiroFrame.ToolUseInput(id, forced.Name, piece));
            frames.Add(KiroFrame.ToolUseStop(id, forced.Name));
        }
        else
        {
            var text = Greeting + Tail(content, EchoChars);
            if (content.Contains("<thinking_mode>enabled</thinking_mode>", StringComparison.Ordinal))
            {
                text = "<thinking>The user wants an answer. This is the simulator, so I will echo the end of the message back, "
                    + $"which is {content.Length.ToString(CultureInfo.InvariantCulture)} characters long.</thinking>\n\n" + text;
            }
            AddText(frames, text, rng);
        }

        if (extraEvents && rng.Next(3) == 0) frames.Add(KiroFrame.FollowupPrompt("Would you like me to explain further?"));
        if (extraEvents && rng.Next(4) == 0) frames.Add(KiroFrame.CodeReference());
        frames.Add(KiroFrame.Metering(0.1));
        // The service reports how full the context window is; about four bytes per token is close enough here.
        var percentage = Math.Round(bodyBytes / 4.0 / Math.Max(1, maxInputTokens) * 100, 4);
        frames.Add(KiroFrame.ContextUsage(percentage));
        return frames;
    }

    private static void AddText(List<KiroFrame> frames, string text, Random rng)
    {
        foreach (var piece in TextSplit.Random(text, rng, 1, 12)) frames.Add(KiroFrame.Text(piece));
    }

    private static string? FirstToolResult(JsonElement current)
    {
        if (!current.TryGetProperty("userInputMessageContext", out var context)
            || !context.TryGetProperty("toolResults", out var results)
            || results.GetArrayLength() == 0)
            return null;
        var builder = new StringBuilder();
        foreach (var item in results[0].GetProperty("content").EnumerateArray())
        {
            if (item.TryGetProperty("text", out var text)) builder.Append(text.GetString());
            else if (item.TryGetProperty("json", out var json)) builder.Append(json.GetRawText());
        }
        return builder.ToString();
    }

    private static HashSet<string> DeclaredTools(JsonElement current)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        if (current.TryGetProperty("userInputMessageContext", out var context) && context.TryGetProperty("tools", out var tools))
        {
            foreach (var tool in tools.EnumerateArray()) names.Add(tool.GetProperty("toolSpecification").GetProperty("name").GetString()!);
        }
        return names;
    }

    [GeneratedRegex("Answer by calling the tool \"(?<name>[^\"]+)\"\\.")]
    private static partial Regex ForcedToolInstruction();

    /// <summary>The gateway's line for a choice of any tool (tool_choice "any"/"required"), which Kiro has no field for.</summary>
    private const string AnyToolInstruction = "Answer by calling one of the available tools.";

    /// <summary>
    /// The declared tool the request obliges the model to call, with its input schema: the one the gateway's "Answer by
    /// calling the tool" line or a "You MUST call the NAME tool" instruction names, or the pick among all of them when
    /// any one is required.
    /// </summary>
    private static (string Name, JsonElement Schema)? ForcedTool(string content, JsonElement current)
    {
        if (!current.TryGetProperty("userInputMessageContext", out var context) || !context.TryGetProperty("tools", out var tools)) return null;
        var specs = tools.EnumerateArray().Select(t => t.GetProperty("toolSpecification")).ToList();
        if (specs.Count == 0) return null;
        var match = ForcedToolInstruction().Match(content);
        var name = match.Success ? match.Groups["name"].Value : ToolInstruction.MustCallName(content);
        if (name is null && content.Contains(AnyToolInstruction, StringComparison.Ordinal))
            name = specs[ToolInstruction.PickWhenAnyIsRequired([.. specs.Select(s => s.TryGetProperty("description", out var d) ? d.GetString() : null)])]
                .GetProperty("name").GetString();
        if (name is null) return null;
        foreach (var spec in specs)
        {
            if (spec.GetProperty("name").GetString() == name)
                return (name, spec.GetProperty("inputSchema").GetProperty("json"));
        }
        return null;
    }

    [GeneratedRegex(@"\[\[slow:(?<ms>[0-9]{1,5})\]\]")]
    private static partial Regex SlowDirective();

    /// <summary><c>[[slow:MS]]</c> in the current message: the model thinks that long before its first byte (keep-alive tests).</summary>
    public static TimeSpan SlowStart(JsonElement root)
    {
        var content = root.GetProperty("conversationState").GetProperty("currentMessage").GetProperty("userInputMessage").GetProperty("content").GetString() ?? "";
        var match = SlowDirective().Match(content);
        return match.Success ? TimeSpan.FromMilliseconds(int.Parse(match.Groups["ms"].Value, CultureInfo.InvariantCulture)) : TimeSpan.Zero;
    }

    /// <summary>Finds the first <c>[[tool:NAME {json}]]</c> for a declared tool; the input defaults to <c>{}</c>.</summary>
    public static (string Name, string InputJson)? FindToolDirective(string content, IReadOnlySet<string> declared)
        => FindToolDirectives(content, declared) is { Count: > 0 } calls ? calls[0] : null;

    /// <summary>Every <c>[[tool:NAME {json}]]</c> for a declared tool, in order.</summary>
    public static List<(string Name, string InputJson)> FindToolDirectives(string content, IReadOnlySet<string> declared)
    {
        var found = new List<(string Name, string InputJson)>();
        foreach (Match match in ToolDirective().Matches(content))
        {
            var name = match.Groups["name"].Value;
            if (!declared.Contains(name)) continue;
            var rest = content.AsSpan(match.Index + match.Length);
            if (rest.StartsWith("]]")) { found.Add((name, "{}")); continue; }
            if (rest.Length == 0 || rest[0] != '{') continue;
            var bytes = Encoding.UTF8.GetBytes(rest.ToString());
            var reader = new Utf8JsonReader(bytes);
            try
            {
                using var doc = JsonDocument.ParseValue(ref reader);
                var after = Encoding.UTF8.GetString(bytes, (int)reader.BytesConsumed, bytes.Length - (int)reader.BytesConsumed).TrimStart();
                if (after.StartsWith("]]", StringComparison.Ordinal)) found.Add((name, doc.RootElement.GetRawText()));
            }
            catch (JsonException)
            {
                // Not a directive after all; keep looking.
            }
        }
        return found;
    }

    private static string Tail(string text, int chars)
        => text.Length <= chars ? text : text[TextSplit.SafeStart(text, text.Length - chars)..];

    private static string Truncate(string text, int chars)
        => text.Length <= chars ? text : text[..TextSplit.SafeEnd(text, chars)] + "…";

    internal static string RandomId(Random rng, int length)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        var chars = new char[length];
        for (var i = 0; i < length; i++) chars[i] = alphabet[rng.Next(alphabet.Length)];
        return new string(chars);
    }
}
