using System.Text;
using System.Text.Json;
using Gapura.Conversations;
using static Gapura.Formats.JsonFields;

namespace Gapura.Formats.OpenAi;

/// <summary>
/// OpenAI chat completions request → <see cref="ChatRequest"/>. Unknown fields are ignored; fields
/// the canonical model cannot carry (n &gt; 1, non-function tools, audio/file parts, remote image URLs)
/// are refused with a 400 rather than silently dropped, unless <c>skipUnsupported</c> is set — the
/// passthrough path uses that, since it forwards the original body and needs the parse only for
/// routing and accounting.
/// </summary>
internal static class OpenAiChatRequestParser
{
    public static ChatRequest Parse(JsonElement body, bool skipUnsupported = false)
    {
        if (body.ValueKind != JsonValueKind.Object) throw Error("body", $"expected a JSON object, got {Describe(body.ValueKind)}");
        var model = RequiredString(body, "model", "");
        if (model.Length == 0) throw Error("model", "must not be empty");

        if (TryGet(body, "n", out var n) && !(n.ValueKind == JsonValueKind.Number && n.TryGetInt32(out var count) && count == 1))
            throw Error("n", "only n = 1 is supported");

        var (system, messages) = ParseMessages(RequiredArray(body, "messages", ""), skipUnsupported);

        // max_completion_tokens replaced max_tokens in the OpenAI API; either may come, the newer wins.
        var maxTokens = OptionalPositiveInt(body, "max_completion_tokens", "") ?? OptionalPositiveInt(body, "max_tokens", "");

        var includeUsage = TryGetObject(body, "stream_options", "", out var streamOptions)
            && (OptionalBool(streamOptions, "include_usage", "stream_options") ?? false);

        return new ChatRequest
        {
            Model = model,
            System = system,
            Messages = messages,
            Tools = ParseTools(body, skipUnsupported),
            ToolChoice = ParseToolChoice(body),
            MaxTokens = maxTokens,
            Temperature = OptionalNumber(body, "temperature", "", 0, 2),
            TopP = OptionalNumber(body, "top_p", "", 0, 1),
            StopSequences = StringOrStrings(body, "stop", "", allowSingleString: true),
            Thinking = ParseReasoningEffort(body),
            Stream = OptionalBool(body, "stream", "") ?? false,
            IncludeUsage = includeUsage,
            OutputFormat = OutputFormats.FromChatResponseFormat(body),
        };
    }

    private static (string? System, List<Message> Messages) ParseMessages(JsonElement array, bool skipUnsupported)
    {
        if (array.GetArrayLength() == 0) throw Error("messages", "must contain at least one message");
        StringBuilder? system = null;
        var messages = new List<Message>(array.GetArrayLength());
        List<ContentBlock>? toolResults = null;
        var leading = true;
        var i = 0;
        foreach (var m in array.EnumerateArray())
        {
            var path = $"messages[{i++}]";
            RequireObject(m, path);
            var role = RequiredString(m, "role", path);
            if (role != "tool" && toolResults is not null)
            {
                messages.Add(new Message(Role.User, toolResults));
                toolResults = null;
            }
            switch (role)
            {
                case "system" or "developer":
                    var text = ReadTextContent(m, path, separator: "", "text");
                    if (leading) AppendSystem(ref system, text);
                    else messages.Add(Message.Text(Role.System, text));
                    break;
                case "user":
                    leading = false;
                    messages.Add(new Message(Role.User, ReadUserContent(m, path, skipUnsupported)));
                    break;
                case "assistant":
                    leading = false;
                    messages.Add(new Message(Role.Assistant, ReadAssistantContent(m, path)));
                    break;
                case "tool":
                    leading = false;
                    // Anthropic-style upstreams want all results of one assistant turn in a single user turn.
                    (toolResults ??= []).Add(ReadToolResult(m, path, skipUnsupported));
                    break;
                default:
                    throw Error($"{path}.role", $"unknown role '{role}' (expected system, developer, user, assistant or tool)");
            }
        }
        if (toolResults is not null) messages.Add(new Message(Role.User, toolResults));
        return (system?.ToString(), messages);
    }

    private static List<ContentBlock> ReadUserContent(JsonElement m, string path, bool skipUnsupported)
    {
        if (!TryGet(m, "content", out var content)) throw Error($"{path}.content", "required");
        return ReadParts(content, $"{path}.content", skipUnsupported);
    }

    private static List<ContentBlock> ReadParts(JsonElement content, string path, bool skipUnsupported)
    {
        if (content.ValueKind == JsonValueKind.String) return [new TextBlock(content.GetString()!)];
        if (content.ValueKind != JsonValueKind.Array) throw Error(path, $"expected a string or an array of content parts, got {Describe(content.ValueKind)}");
        var blocks = new List<ContentBlock>(content.GetArrayLength());
        var j = 0;
        foreach (var part in content.EnumerateArray())
        {
            var partPath = $"{path}[{j++}]";
            RequireObject(part, partPath);
            var type = RequiredString(part, "type", partPath);
            switch (type)
            {
                case "text":
                    blocks.Add(new TextBlock(RequiredString(part, "text", partPath)));
                    break;
                case "image_url":
                    if (ReadImage(part, partPath, skipUnsupported) is { } image) blocks.Add(image);
                    break;
                case "input_audio" or "file":
                    if (!skipUnsupported) throw Error($"{partPath}.type", $"'{type}' content parts are not supported; send text or inline images");
                    break;
                default:
                    throw Error($"{partPath}.type", $"unknown content part type '{type}'");
            }
        }
        return blocks;
    }

    private static ImageBlock? ReadImage(JsonElement part, string path, bool skipUnsupported)
    {
        if (!TryGet(part, "image_url", out var imageUrl)) throw Error($"{path}.image_url", "required");
        string url;
        var urlPath = $"{path}.image_url";
        if (imageUrl.ValueKind == JsonValueKind.String) url = imageUrl.GetString()!;
        else
        {
            RequireObject(imageUrl, urlPath);
            url = RequiredString(imageUrl, "url", urlPath);
            urlPath += ".url";
        }
        if (DataUrl.TryParse(url, out var mediaType, out var data)) return InlineImage.Create(mediaType, data, urlPath, urlPath);
        if (url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
            throw Error(urlPath, "a data URL must look like data:<media type>;base64,<data>");
        if (skipUnsupported) return null;
        throw Error(urlPath, "images must be inline (data:image/...;base64,...); the gateway does not fetch remote image URLs");
    }

    private static List<ContentBlock> ReadAssistantContent(JsonElement m, string path)
    {
        var blocks = new List<ContentBlock>();
        // Reasoning precedes the answer it led to, as in Anthropic's block order.
        var reasoning = OptionalString(m, "reasoning_content", path);
        if (!string.IsNullOrEmpty(reasoning)) blocks.Add(new ThinkingBlock(reasoning));

        if (TryGet(m, "content", out var content))
        {
            if (content.ValueKind == JsonValueKind.String)
            {
                var text = content.GetString()!;
                if (text.Length > 0) blocks.Add(new TextBlock(text));
            }
            else if (content.ValueKind == JsonValueKind.Array)
            {
                var j = 0;
                foreach (var part in content.EnumerateArray())
                {
                    var partPath = $"{path}.content[{j++}]";
                    RequireObject(part, partPath);
                    var type = RequiredString(part, "type", partPath);
                    var text = type switch
                    {
                        "text" => RequiredString(part, "text", partPath),
                        // A refusal is what the model said; keeping it as text keeps the history truthful.
                        "refusal" => RequiredString(part, "refusal", partPath),
                        _ => throw Error($"{partPath}.type", $"assistant content parts must be text or refusal, got '{type}'"),
                    };
                    if (text.Length > 0) blocks.Add(new TextBlock(text));
                }
            }
            else throw Error($"{path}.content", $"expected a string, an array of content parts or null, got {Describe(content.ValueKind)}");
        }

        if (TryGetArray(m, "tool_calls", path, out var calls))
        {
            var k = 0;
            foreach (var call in calls.EnumerateArray())
            {
                var callPath = $"{path}.tool_calls[{k++}]";
                RequireObject(call, callPath);
                var type = OptionalString(call, "type", callPath) ?? "function";
                if (type != "function") throw Error($"{callPath}.type", $"only function tool calls are supported, got '{type}'");
                var id = RequiredString(call, "id", callPath);
                if (!TryGetObject(call, "function", callPath, out var function)) throw Error($"{callPath}.function", "required");
                var name = RequiredString(function, "name", $"{callPath}.function");
                var arguments = OptionalString(function, "arguments", $"{callPath}.function") ?? "";
                blocks.Add(new ToolUseBlock(id, name, ParseArgumentsObject(arguments, $"{callPath}.function.arguments")));
            }
        }
        return blocks;
    }

    private static ToolResultBlock ReadToolResult(JsonElement m, string path, bool skipUnsupported)
    {
        var id = RequiredString(m, "tool_call_id", path);
        if (!TryGet(m, "content", out var content)) throw Error($"{path}.content", "required");
        return new ToolResultBlock(id, ReadParts(content, $"{path}.content", skipUnsupported), IsError: false);
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
            var type = RequiredString(tool, "type", path);
            if (type != "function")
            {
                if (skipUnsupported) continue;
                throw Error($"{path}.type", $"only function tools are supported, got '{type}'");
            }
            if (!TryGetObject(tool, "function", path, out var function)) throw Error($"{path}.function", "required");
            var fnPath = $"{path}.function";
            var name = RequiredString(function, "name", fnPath);
            if (name.Length == 0) throw Error($"{fnPath}.name", "must not be empty");
            var description = OptionalString(function, "description", fnPath);
            var schema = EmptyObjectSchema;
            if (TryGetObject(function, "parameters", fnPath, out var parameters)) schema = Detach(parameters);
            list.Add(new ToolDefinition(name, description, schema));
        }
        return list;
    }

    private static ToolChoice? ParseToolChoice(JsonElement body)
    {
        if (!TryGet(body, "tool_choice", out var choice)) return null;
        if (choice.ValueKind == JsonValueKind.String)
        {
            return choice.GetString() switch
            {
                "auto" => new ToolChoice(ToolChoiceKind.Auto),
                "none" => new ToolChoice(ToolChoiceKind.None),
                "required" => new ToolChoice(ToolChoiceKind.Any),
                var other => throw Error("tool_choice", $"unknown value '{other}' (expected auto, none, required or a function object)"),
            };
        }
        RequireObject(choice, "tool_choice");
        var type = RequiredString(choice, "type", "tool_choice");
        if (type != "function") throw Error("tool_choice.type", $"only 'function' is supported, got '{type}'");
        if (!TryGetObject(choice, "function", "tool_choice", out var function)) throw Error("tool_choice.function", "required");
        return new ToolChoice(ToolChoiceKind.Tool, RequiredString(function, "name", "tool_choice.function"));
    }

    /// <summary>
    /// Any effort word is passed on (the list keeps growing: minimal, low, medium, high, xhigh…);
    /// "none" is OpenAI's way of switching reasoning off.
    /// </summary>
    private static ThinkingRequest? ParseReasoningEffort(JsonElement body)
    {
        var effort = OptionalString(body, "reasoning_effort", "");
        if (effort is null) return null;
        if (effort.Length == 0) throw Error("reasoning_effort", "must not be empty");
        return effort == "none" ? new ThinkingRequest(ThinkingMode.Disabled) : new ThinkingRequest(ThinkingMode.Enabled, Effort: effort);
    }
}
