using System.Text;
using System.Text.Json;
using Gapura.Conversations;
using static Gapura.Formats.JsonFields;

namespace Gapura.Formats.Anthropic;

/// <summary>
/// Anthropic messages request → <see cref="ChatRequest"/>. Unknown fields (context_management,
/// metadata, top_k…) are ignored; <c>cache_control</c> survives only as a
/// breakpoint flag (<see cref="ContentBlock.CacheBreakpoint"/>) for providers with prompt caching. Server tools and content
/// blocks the canonical model cannot carry (documents, search results, server tool results, image
/// URLs) are refused with a 400 naming them, or skipped when <c>skipUnsupported</c> is set — the
/// Anthropic passthrough path forwards the original body and parses only for routing and accounting.
/// </summary>
internal static class AnthropicRequestParser
{
    public static ChatRequest Parse(JsonElement body, bool skipUnsupported = false)
    {
        if (body.ValueKind != JsonValueKind.Object) throw Error("body", $"expected a JSON object, got {Describe(body.ValueKind)}");
        var model = RequiredString(body, "model", "");
        if (model.Length == 0) throw Error("model", "must not be empty");
        ReadThread(body);

        StringBuilder? system = null;
        ReadSystem(body, ref system);
        var messages = ParseMessages(RequiredArray(body, "messages", ""), ref system, skipUnsupported);

        return new ChatRequest
        {
            Model = model,
            System = system?.ToString(),
            SystemCacheBreakpoint = TryGet(body, "system", out var sys) && sys.ValueKind == JsonValueKind.Array && sys.EnumerateArray().Any(HasCacheControl),
            Messages = messages,
            Tools = ParseTools(body, skipUnsupported),
            ToolChoice = ParseToolChoice(body),
            // Anthropic requires max_tokens; the gateway accepts its absence as "the model's own cap"
            // (count_tokens bodies never carry it, and routing clamps to the model's limit anyway).
            MaxTokens = OptionalPositiveInt(body, "max_tokens", ""),
            Temperature = OptionalNumber(body, "temperature", "", 0, 1),
            TopP = OptionalNumber(body, "top_p", "", 0, 1),
            StopSequences = StringOrStrings(body, "stop_sequences", "", allowSingleString: false),
            Thinking = ParseThinking(body),
            Stream = OptionalBool(body, "stream", "") ?? false,
            OutputFormat = OutputFormats.FromAnthropic(body),
        };
    }

    /// <summary>
    /// Message threads (<c>thread</c>, the SDK's <c>beta.messages.thread</c> and <c>toolRunner</c>): the gateway keeps no
    /// threads. <c>create</c> carries the whole conversation, so it is served as a plain request. <c>continue</c> carries
    /// only the new turn, so it is refused with a 404 whose <c>error.details.error_code</c> is <c>thread_not_found</c> —
    /// exactly what the SDK recovers from by sending the whole history again under a new <c>create</c>.
    /// </summary>
    private static void ReadThread(JsonElement body)
    {
        if (!TryGetObject(body, "thread", "", out var thread)) return;
        var type = RequiredString(thread, "type", "thread");
        switch (type)
        {
            case "create":
                return;
            case "continue":
                var previous = OptionalString(thread, "previous_message_id", "thread");
                throw new GatewayException(ErrorKind.NotFound,
                    $"No thread state for previous_message_id '{previous}': this gateway keeps no message threads. " +
                    "Send the whole conversation (thread: {\"type\": \"create\"}, or no thread).") { Code = "thread_not_found" };
            default:
                throw Error("thread.type", $"unknown value '{type}' (expected create or continue)");
        }
    }

    private static void ReadSystem(JsonElement body, ref StringBuilder? system)
    {
        if (!TryGet(body, "system", out var value)) return;
        if (value.ValueKind == JsonValueKind.String) { AppendSystem(ref system, value.GetString()!); return; }
        if (value.ValueKind != JsonValueKind.Array) throw Error("system", $"expected a string or an array of text blocks, got {Describe(value.ValueKind)}");
        // Claude Code sends three blocks (billing header, identity, the prompt); each becomes a paragraph.
        var i = 0;
        foreach (var block in value.EnumerateArray())
            AppendSystem(ref system, ReadTextBlock(block, $"system[{i++}]"));
    }

    private static string ReadTextBlock(JsonElement block, string path)
    {
        RequireObject(block, path);
        var type = RequiredString(block, "type", path);
        if (type != "text") throw Error($"{path}.type", $"only text blocks are allowed here, got '{type}'");
        return RequiredString(block, "text", path);
    }

    private static List<Message> ParseMessages(JsonElement array, ref StringBuilder? system, bool skipUnsupported)
    {
        if (array.GetArrayLength() == 0) throw Error("messages", "must contain at least one message");
        var messages = new List<Message>(array.GetArrayLength());
        var leading = true;
        var i = 0;
        foreach (var m in array.EnumerateArray())
        {
            var path = $"messages[{i++}]";
            RequireObject(m, path);
            var role = RequiredString(m, "role", path);
            switch (role)
            {
                case "system":
                    // Claude Code's mid-conversation system messages: kept in place so a provider can
                    // fold them where they belong; only a leading run joins the system prompt.
                    var text = ReadSystemMessage(m, path);
                    if (leading) AppendSystem(ref system, text);
                    else messages.Add(Message.Text(Role.System, text));
                    break;
                case "user" or "assistant":
                    leading = false;
                    messages.Add(new Message(role == "user" ? Role.User : Role.Assistant, ReadContent(m, path, skipUnsupported)));
                    break;
                default:
                    throw Error($"{path}.role", $"unknown role '{role}' (expected user, assistant or system)");
            }
        }
        return messages;
    }

    private static string ReadSystemMessage(JsonElement m, string path)
    {
        if (!TryGet(m, "content", out var content)) throw Error($"{path}.content", "required");
        if (content.ValueKind == JsonValueKind.String) return content.GetString()!;
        if (content.ValueKind != JsonValueKind.Array) throw Error($"{path}.content", $"expected a string or an array of text blocks, got {Describe(content.ValueKind)}");
        var sb = new StringBuilder();
        var j = 0;
        foreach (var block in content.EnumerateArray())
        {
            if (sb.Length > 0) sb.Append("\n\n");
            sb.Append(ReadTextBlock(block, $"{path}.content[{j++}]"));
        }
        return sb.ToString();
    }

    private static List<ContentBlock> ReadContent(JsonElement m, string path, bool skipUnsupported)
    {
        if (!TryGet(m, "content", out var content)) throw Error($"{path}.content", "required");
        if (content.ValueKind == JsonValueKind.String) return [new TextBlock(content.GetString()!)];
        if (content.ValueKind != JsonValueKind.Array) throw Error($"{path}.content", $"expected a string or an array of content blocks, got {Describe(content.ValueKind)}");
        var blocks = new List<ContentBlock>(content.GetArrayLength());
        var j = 0;
        foreach (var block in content.EnumerateArray())
        {
            var blockPath = $"{path}.content[{j++}]";
            RequireObject(block, blockPath);
            var type = RequiredString(block, "type", blockPath);
            ContentBlock? parsed = type switch
            {
                "text" => new TextBlock(RequiredString(block, "text", blockPath)),
                "image" => ReadImage(block, blockPath, skipUnsupported),
                "tool_use" => ReadToolUse(block, blockPath),
                "tool_result" => ReadToolResult(block, blockPath, skipUnsupported),
                "thinking" => new ThinkingBlock(RequiredString(block, "thinking", blockPath), OptionalString(block, "signature", blockPath)),
                // The canonical model has no redacted flag: an empty text with the encrypted data as
                // signature is the one shape a provider can recognise and hand back unchanged.
                "redacted_thinking" => new ThinkingBlock("", RequiredString(block, "data", blockPath)),
                _ => Unsupported(blockPath, type, skipUnsupported),
            };
            if (parsed is not null) blocks.Add(HasCacheControl(block) ? parsed with { CacheBreakpoint = true } : parsed);
        }
        return blocks;
    }

    private static ContentBlock? Unsupported(string path, string type, bool skip)
        => skip ? null : throw Error($"{path}.type", $"content block type '{type}' is not supported (the gateway translates text, image, tool_use, tool_result and thinking blocks)");

    private static ImageBlock? ReadImage(JsonElement block, string path, bool skipUnsupported)
    {
        if (!TryGetObject(block, "source", path, out var source)) throw Error($"{path}.source", "required");
        var sourcePath = $"{path}.source";
        var type = RequiredString(source, "type", sourcePath);
        if (type != "base64")
        {
            if (skipUnsupported) return null;
            throw Error($"{sourcePath}.type", $"images must be inline (source type 'base64'); '{type}' sources are not supported because the gateway does not fetch or store images");
        }
        var mediaType = RequiredString(source, "media_type", sourcePath);
        var data = RequiredString(source, "data", sourcePath);
        if (data.Length == 0) throw Error($"{sourcePath}.data", "must not be empty");
        return InlineImage.Create(mediaType, data, $"{sourcePath}.media_type", $"{sourcePath}.data");
    }

    private static ToolUseBlock ReadToolUse(JsonElement block, string path)
    {
        var id = RequiredString(block, "id", path);
        var name = RequiredString(block, "name", path);
        if (!TryGetObject(block, "input", path, out var input)) throw Error($"{path}.input", "required");
        return new ToolUseBlock(id, name, Detach(input));
    }

    private static ToolResultBlock? ReadToolResult(JsonElement block, string path, bool skipUnsupported)
    {
        var id = RequiredString(block, "tool_use_id", path);
        var isError = OptionalBool(block, "is_error", path) ?? false;
        if (!TryGet(block, "content", out var content)) return new ToolResultBlock(id, [], isError);
        if (content.ValueKind == JsonValueKind.String) return new ToolResultBlock(id, [new TextBlock(content.GetString()!)], isError);
        if (content.ValueKind != JsonValueKind.Array) throw Error($"{path}.content", $"expected a string or an array of content blocks, got {Describe(content.ValueKind)}");
        var parts = new List<ContentBlock>(content.GetArrayLength());
        var k = 0;
        foreach (var part in content.EnumerateArray())
        {
            var partPath = $"{path}.content[{k++}]";
            RequireObject(part, partPath);
            var type = RequiredString(part, "type", partPath);
            ContentBlock? parsed = type switch
            {
                "text" => new TextBlock(RequiredString(part, "text", partPath)),
                "image" => ReadImage(part, partPath, skipUnsupported),
                _ => Unsupported(partPath, type, skipUnsupported),
            };
            if (parsed is not null) parts.Add(parsed);
        }
        return new ToolResultBlock(id, parts, isError);
    }

    private static IReadOnlyList<ToolDefinition> ParseTools(JsonElement body, bool skipUnsupported)
    {
        if (!TryGetArray(body, "tools", "", out var tools)) return [];
        var list = new List<ToolDefinition>(tools.GetArrayLength());
        var i = 0;
        foreach (var tool in tools.EnumerateArray())
        {
            var path = $"tools[{i++}]";
            RequireObject(tool, path);
            var type = OptionalString(tool, "type", path);
            var name = RequiredString(tool, "name", path);
            if (type is not null and not "custom")
            {
                // Server tools (web_search_20250305, code_execution…) run inside Anthropic's API; no
                // other upstream can execute them, and dropping one silently would change the answer.
                if (skipUnsupported) continue;
                throw Error($"{path}.type", $"server tool '{type}' ('{name}') is not supported; only client tools with an input_schema can be translated");
            }
            if (name.Length == 0) throw Error($"{path}.name", "must not be empty");
            if (!TryGetObject(tool, "input_schema", path, out var schema)) throw Error($"{path}.input_schema", "required");
            list.Add(new ToolDefinition(name, OptionalString(tool, "description", path), Detach(schema)) { CacheBreakpoint = HasCacheControl(tool) });
        }
        return list;
    }

    /// <summary><c>cache_control</c> is kept only as a breakpoint marker; its type and ttl are not carried.</summary>
    private static bool HasCacheControl(JsonElement block)
        => block.ValueKind == JsonValueKind.Object && TryGet(block, "cache_control", out var cc) && cc.ValueKind == JsonValueKind.Object;

    private static ToolChoice? ParseToolChoice(JsonElement body)
    {
        if (!TryGetObject(body, "tool_choice", "", out var choice)) return null;
        var type = RequiredString(choice, "type", "tool_choice");
        return type switch
        {
            "auto" => new ToolChoice(ToolChoiceKind.Auto),
            "any" => new ToolChoice(ToolChoiceKind.Any),
            "none" => new ToolChoice(ToolChoiceKind.None),
            "tool" => new ToolChoice(ToolChoiceKind.Tool, RequiredString(choice, "name", "tool_choice")),
            _ => throw Error("tool_choice.type", $"unknown value '{type}' (expected auto, any, tool or none)"),
        };
    }

    /// <summary>
    /// <c>output_config.effort</c> rides along with whatever thinking mode was asked for; alone, it
    /// becomes a disabled-thinking request that still carries the effort, since Anthropic applies
    /// effort to the whole answer, not only to reasoning.
    /// </summary>
    private static ThinkingRequest? ParseThinking(JsonElement body)
    {
        string? effort = null;
        if (TryGetObject(body, "output_config", "", out var outputConfig))
            effort = OptionalString(outputConfig, "effort", "output_config");

        if (!TryGetObject(body, "thinking", "", out var thinking))
            return effort is null ? null : new ThinkingRequest(ThinkingMode.Disabled, Effort: effort);

        var type = RequiredString(thinking, "type", "thinking");
        return type switch
        {
            "enabled" => new ThinkingRequest(ThinkingMode.Enabled,
                OptionalPositiveInt(thinking, "budget_tokens", "thinking") ?? throw Error("thinking.budget_tokens", "required when thinking.type is 'enabled'"),
                effort),
            "adaptive" => new ThinkingRequest(ThinkingMode.Adaptive, Effort: effort),
            "disabled" => new ThinkingRequest(ThinkingMode.Disabled, Effort: effort),
            _ => throw Error("thinking.type", $"unknown value '{type}' (expected enabled, adaptive or disabled)"),
        };
    }
}
