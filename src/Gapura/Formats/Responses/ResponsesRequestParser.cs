using System.Text;
using System.Text.Json;
using Gapura.Conversations;
using static Gapura.Formats.JsonFields;

namespace Gapura.Formats.Responses;

/// <summary>
/// OpenAI Responses request (<c>POST /v1/responses</c>) → <see cref="ChatRequest"/>.
/// <para>
/// <c>previous_response_id</c> and <c>item_reference</c> items are served from kept answers: the front door
/// looks them up first (<see cref="ResolvedInput"/>) and the parser reads the previous response's input and output
/// items, then the request's own, with each reference replaced by the item it names — one conversation, parsed as if
/// the client had sent it whole. The previous response's <c>instructions</c> are not carried over (as OpenAI does).
/// Without a lookup both are refused. <c>conversation</c> objects and
/// <c>background</c> are refused with a 400 telling the client to send the whole input.
/// </para>
/// <para>
/// Tools the gateway cannot run are dropped, not refused: Codex CLI always declares <c>web_search</c>
/// and a <c>namespace</c> group next to its function tools, and refusing them would make the gateway
/// useless to it. Dropped: every hosted tool (<c>web_search</c>, <c>file_search</c>, <c>code_interpreter</c>,
/// <c>computer_use</c>, <c>image_generation</c>, <c>mcp</c>, <c>local_shell</c>…), freeform <c>custom</c>
/// tools (their input is raw text under a grammar the canonical tool model cannot express), and whole
/// <c>namespace</c> groups, including function tools inside them: a call to a namespaced function must
/// come back carrying its namespace for the client to route it, which a canonical tool call cannot carry,
/// so flattening them would offer the model tools whose calls the client would not recognise.
/// </para>
/// Input content the canonical model cannot carry (remote image URLs, file ids, files) is a 400 naming
/// the path, as in the other front doors.
/// </summary>
internal static class ResponsesRequestParser
{
    public static ChatRequest Parse(JsonElement body, ResolvedInput? resolved = null)
    {
        if (body.ValueKind != JsonValueKind.Object) throw Error("body", $"expected a JSON object, got {Describe(body.ValueKind)}");
        var model = RequiredString(body, "model", "");
        if (model.Length == 0) throw Error("model", "must not be empty");

        var previous = OptionalString(body, "previous_response_id", "");
        if (previous is not null && resolved?.PreviousResponseId != previous)
            throw Error("previous_response_id", "this gateway keeps no responses here: send the full input instead of a previous response id");
        if (TryGet(body, "conversation", out _))
            throw Error("conversation", "this gateway is stateless: send the full input instead of a conversation id");
        if (TryGet(body, "prompt", out _))
            throw Error("prompt", "stored prompt templates are not supported: send the instructions and input");
        if (OptionalBool(body, "background", "") == true)
            throw Error("background", "background responses are not supported: this gateway stores nothing to poll");
        // Accepted and ignored: include, metadata, prompt_cache_key, user,
        // safety_identifier, service_tier, truncation, max_tool_calls, stream_options, top_logprobs.
        OptionalBool(body, "store", "");
        OptionalBool(body, "parallel_tool_calls", "");

        StringBuilder? system = null;
        var instructions = OptionalString(body, "instructions", "");
        if (!string.IsNullOrEmpty(instructions)) AppendSystem(ref system, instructions);

        var messages = ParseInput(body, resolved, ref system);

        return new ChatRequest
        {
            Model = model,
            System = system?.ToString(),
            Messages = messages,
            Tools = ParseTools(body),
            ToolChoice = ParseToolChoice(body),
            MaxTokens = OptionalPositiveInt(body, "max_output_tokens", ""),
            Temperature = OptionalNumber(body, "temperature", "", 0, 2),
            TopP = OptionalNumber(body, "top_p", "", 0, 1),
            Thinking = ParseReasoning(body),
            Stream = OptionalBool(body, "stream", "") ?? false,
            OutputFormat = OutputFormats.FromResponsesTextFormat(body),
        };
    }

    private static List<Message> ParseInput(JsonElement body, ResolvedInput? resolved, ref StringBuilder? system)
    {
        if (!TryGet(body, "input", out var input)) throw Error("input", "required");
        if (input.ValueKind == JsonValueKind.String)
        {
            if (resolved is null) return [Message.Text(Role.User, input.GetString()!)];
            var history = ParseItems(resolved.Prefix, "previous_response", null, ref system);
            history.Add(Message.Text(Role.User, input.GetString()!));
            return history;
        }
        if (input.ValueKind != JsonValueKind.Array) throw Error("input", $"expected a string or an array of input items, got {Describe(input.ValueKind)}");
        if (input.GetArrayLength() == 0 && resolved?.Prefix is not { Count: > 0 }) throw Error("input", "must contain at least one item");
        if (resolved is null) return ParseItems(input.EnumerateArray(), "input", null, ref system);
        // The previous response's items are the leading part of one conversation with the request's own.
        return ParseItems(resolved.Prefix.Concat(input.EnumerateArray()), "input", resolved, ref system, prefixCount: resolved.Prefix.Count);
    }

    /// <summary>
    /// Input items → canonical messages. The first <paramref name="prefixCount"/> items come from a kept response
    /// (their paths say <c>previous_response</c>); an <c>item_reference</c> is replaced by the item it names.
    /// </summary>
    private static List<Message> ParseItems(IEnumerable<JsonElement> items, string pathName, ResolvedInput? resolved, ref StringBuilder? system, int prefixCount = 0)
    {
        var messages = new List<Message>();
        // function_call and reasoning items that follow an assistant message belong to the same assistant
        // turn, and consecutive function_call_output items answer one turn: canonical (Anthropic-shaped)
        // upstreams want each as one message.
        List<ContentBlock>? assistant = null;
        List<ContentBlock>? results = null;
        var leading = true;
        var i = 0;

        void FlushAssistant()
        {
            if (assistant is { Count: > 0 }) messages.Add(new Message(Role.Assistant, assistant));
            assistant = null;
        }
        void FlushResults()
        {
            if (results is { Count: > 0 }) messages.Add(new Message(Role.User, results));
            results = null;
        }

        foreach (var given in items)
        {
            var path = i < prefixCount ? $"previous_response.items[{i}]" : $"{pathName}[{i - prefixCount}]";
            i++;
            RequireObject(given, path);
            var item = given;
            if (OptionalString(item, "type", path) == "item_reference")
            {
                var id = RequiredString(item, "id", path);
                if (resolved is null)
                    throw Error($"{path}.type", "this gateway keeps no responses here and cannot resolve item references: send the full item");
                item = resolved.Items.TryGetValue(id, out var referenced)
                    ? referenced
                    : throw new GatewayException(ErrorKind.NotFound, $"Item with id '{id}' not found ({path}.id).");
            }
            // Easy input messages ({role, content}) carry no type.
            var type = OptionalString(item, "type", path) ?? "message";
            switch (type)
            {
                case "message":
                {
                    var role = RequiredString(item, "role", path);
                    switch (role)
                    {
                        case "system" or "developer":
                            FlushAssistant();
                            FlushResults();
                            var text = ReadTextContent(item, path, separator: "\n", "input_text", "output_text", "text");
                            if (leading) AppendSystem(ref system, text);
                            else if (text.Length > 0) messages.Add(Message.Text(Role.System, text));
                            break;
                        case "user":
                            FlushAssistant();
                            FlushResults();
                            leading = false;
                            messages.Add(new Message(Role.User, ReadParts(item, path, assistantRole: false)));
                            break;
                        case "assistant":
                            FlushResults();
                            leading = false;
                            (assistant ??= []).AddRange(ReadParts(item, path, assistantRole: true));
                            break;
                        default:
                            throw Error($"{path}.role", $"unknown role '{role}' (expected developer, system, user or assistant)");
                    }
                    break;
                }
                case "function_call":
                {
                    FlushResults();
                    leading = false;
                    var callId = RequiredString(item, "call_id", path);
                    var name = RequiredString(item, "name", path);
                    var arguments = OptionalString(item, "arguments", path) ?? "";
                    (assistant ??= []).Add(new ToolUseBlock(callId, name, ParseArgumentsObject(arguments, $"{path}.arguments")));
                    break;
                }
                case "function_call_output":
                {
                    FlushAssistant();
                    leading = false;
                    var callId = RequiredString(item, "call_id", path);
                    (results ??= []).Add(new ToolResultBlock(callId, ReadToolOutput(item, path), IsError: false));
                    break;
                }
                case "reasoning":
                {
                    FlushResults();
                    leading = false;
                    if (ReadReasoning(item, path) is { } thinking) (assistant ??= []).Add(thinking);
                    break;
                }
                default:
                    throw Error($"{path}.type", $"unsupported input item type '{type}' (expected message, function_call, function_call_output or reasoning)");
            }
        }
        FlushAssistant();
        FlushResults();
        if (messages.Count == 0) throw Error("input", "must contain at least one user, assistant or tool item besides system text");
        return messages;
    }

    private static List<ContentBlock> ReadParts(JsonElement item, string path, bool assistantRole)
    {
        if (!TryGet(item, "content", out var content)) throw Error($"{path}.content", "required");
        if (content.ValueKind == JsonValueKind.String)
        {
            var text = content.GetString()!;
            return assistantRole && text.Length == 0 ? [] : [new TextBlock(text)];
        }
        if (content.ValueKind != JsonValueKind.Array) throw Error($"{path}.content", $"expected a string or an array of content parts, got {Describe(content.ValueKind)}");
        return ReadPartArray(content, $"{path}.content", assistantRole);
    }

    private static List<ContentBlock> ReadPartArray(JsonElement content, string path, bool assistantRole)
    {
        var blocks = new List<ContentBlock>(content.GetArrayLength());
        var j = 0;
        foreach (var part in content.EnumerateArray())
        {
            var partPath = $"{path}[{j++}]";
            RequireObject(part, partPath);
            var type = RequiredString(part, "type", partPath);
            switch (type)
            {
                case "input_text" or "output_text" or "text":
                {
                    var text = RequiredString(part, "text", partPath);
                    if (!(assistantRole && text.Length == 0)) blocks.Add(new TextBlock(text));
                    break;
                }
                // A refusal is what the model said; keeping it as text keeps the history truthful.
                case "refusal":
                    blocks.Add(new TextBlock(RequiredString(part, "refusal", partPath)));
                    break;
                case "input_image" when !assistantRole:
                    blocks.Add(ReadImage(part, partPath));
                    break;
                case "input_file" when !assistantRole:
                    throw Error($"{partPath}.type", "'input_file' parts are not supported; send text or inline images");
                default:
                    throw Error($"{partPath}.type", assistantRole
                        ? $"assistant content parts must be output_text or refusal, got '{type}'"
                        : $"unknown content part type '{type}' (expected input_text or input_image)");
            }
        }
        return blocks;
    }

    private static ImageBlock ReadImage(JsonElement part, string path)
    {
        if (TryGet(part, "file_id", out _) && !TryGet(part, "image_url", out _))
            throw Error($"{path}.file_id", "uploaded files are not supported; send the image inline as a data URL in image_url");
        var url = RequiredString(part, "image_url", path);
        if (DataUrl.TryParse(url, out var mediaType, out var data)) return InlineImage.Create(mediaType, data, $"{path}.image_url", $"{path}.image_url");
        if (url.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
            throw Error($"{path}.image_url", "a data URL must look like data:<media type>;base64,<data>");
        throw Error($"{path}.image_url", "images must be inline (data:image/...;base64,...); the gateway does not fetch remote image URLs");
    }

    /// <summary><c>output</c> is a string, or (newer API) an array of input_text / input_image parts.</summary>
    private static List<ContentBlock> ReadToolOutput(JsonElement item, string path)
    {
        if (!TryGet(item, "output", out var output)) throw Error($"{path}.output", "required");
        if (output.ValueKind == JsonValueKind.String) return [new TextBlock(output.GetString()!)];
        if (output.ValueKind != JsonValueKind.Array) throw Error($"{path}.output", $"expected a string or an array of content parts, got {Describe(output.ValueKind)}");
        return ReadPartArray(output, $"{path}.output", assistantRole: false);
    }

    /// <summary>
    /// Reasoning from an earlier turn: the readable text (summary parts, or reasoning_text content) becomes a
    /// thinking block whose signature is the item's <c>encrypted_content</c> (this gateway puts the upstream's
    /// thinking signature there, so it survives the round trip). An item with only encrypted content carries
    /// nothing a non-OpenAI upstream can read, so it is skipped.
    /// </summary>
    private static ThinkingBlock? ReadReasoning(JsonElement item, string path)
    {
        var sb = new StringBuilder();
        if (TryGetArray(item, "summary", path, out var summary)) AppendReasoningParts(sb, summary, $"{path}.summary");
        if (TryGetArray(item, "content", path, out var content)) AppendReasoningParts(sb, content, $"{path}.content");
        var encrypted = OptionalString(item, "encrypted_content", path);
        if (sb.Length == 0) return null;
        return new ThinkingBlock(sb.ToString(), encrypted);
    }

    private static void AppendReasoningParts(StringBuilder sb, JsonElement parts, string path)
    {
        var j = 0;
        foreach (var part in parts.EnumerateArray())
        {
            var partPath = $"{path}[{j++}]";
            RequireObject(part, partPath);
            var text = RequiredString(part, "text", partPath);
            if (text.Length == 0) continue;
            if (sb.Length > 0) sb.Append("\n\n");
            sb.Append(text);
        }
    }

    private static IReadOnlyList<ToolDefinition> ParseTools(JsonElement body)
    {
        if (!TryGetArray(body, "tools", "", out var tools)) return [];
        var list = new List<ToolDefinition>(tools.GetArrayLength());
        var i = 0;
        foreach (var tool in tools.EnumerateArray())
        {
            var path = $"tools[{i++}]";
            RequireObject(tool, path);
            var type = RequiredString(tool, "type", path);
            // Everything but plain function tools is dropped (see the class comment for why).
            if (type != "function") continue;
            var name = RequiredString(tool, "name", path);
            if (name.Length == 0) throw Error($"{path}.name", "must not be empty");
            var description = OptionalString(tool, "description", path);
            OptionalBool(tool, "strict", path);
            var schema = EmptyObjectSchema;
            if (TryGetObject(tool, "parameters", path, out var parameters)) schema = Detach(parameters);
            list.Add(new ToolDefinition(name, description, schema));
        }
        return list;
    }

    private static ToolChoice? ParseToolChoice(JsonElement body)
    {
        if (!TryGet(body, "tool_choice", out var choice)) return null;
        if (choice.ValueKind == JsonValueKind.String) return Mode(choice.GetString()!, "tool_choice");
        RequireObject(choice, "tool_choice");
        var type = RequiredString(choice, "type", "tool_choice");
        return type switch
        {
            "function" => new ToolChoice(ToolChoiceKind.Tool, RequiredString(choice, "name", "tool_choice")),
            // A subset of the declared tools: the canonical model cannot narrow the set, so keep the mode.
            "allowed_tools" => Mode(RequiredString(choice, "mode", "tool_choice"), "tool_choice.mode"),
            _ => throw Error("tool_choice.type", $"only 'function' and 'allowed_tools' can be served, got '{type}'"),
        };
    }

    private static ToolChoice Mode(string mode, string path) => mode switch
    {
        "auto" => new ToolChoice(ToolChoiceKind.Auto),
        "none" => new ToolChoice(ToolChoiceKind.None),
        "required" => new ToolChoice(ToolChoiceKind.Any),
        _ => throw Error(path, $"unknown value '{mode}' (expected auto, none, required or a function object)"),
    };

    /// <summary>
    /// <c>reasoning.effort</c> passes on as an effort word; "none" switches reasoning off. A reasoning object
    /// without an effort (Codex sends only <c>summary</c>) leaves the choice to the provider.
    /// </summary>
    private static ThinkingRequest? ParseReasoning(JsonElement body)
    {
        if (!TryGetObject(body, "reasoning", "", out var reasoning)) return null;
        OptionalString(reasoning, "summary", "reasoning");
        var effort = OptionalString(reasoning, "effort", "reasoning");
        if (effort is null) return null;
        if (effort.Length == 0) throw Error("reasoning.effort", "must not be empty");
        return effort == "none" ? new ThinkingRequest(ThinkingMode.Disabled) : new ThinkingRequest(ThinkingMode.Enabled, Effort: effort);
    }
}
