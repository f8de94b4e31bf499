using System.Buffers;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Formats;

namespace Gapura.Providers.Bedrock;

/// <summary>
/// <see cref="ChatRequest"/> → the body of a Converse / ConverseStream call (both take the same body; the
/// model id is in the path). Written with <see cref="Utf8JsonWriter"/> straight to bytes, since the body
/// goes to the SigV4 hash and the wire exactly as produced.
/// </summary>
internal static class BedrockRequestBuilder
{
    public static byte[] Build(ChatRequest request, int maxOutputTokens, BedrockOptions options)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer, JsonResponses.WriterOptions)) // relaxed: base64 "+" and non-ASCII text as themselves
        {
            w.WriteStartObject();
            WriteMessages(w, request);
            WriteSystem(w, request);
            WriteInferenceConfig(w, request, maxOutputTokens);
            WriteToolConfig(w, request);
            WriteThinking(w, request, MaxTokens(request, maxOutputTokens), options);
            // Converse has no stop_sequence in its output; Claude's own field is asked for by path.
            if (request.StopSequences.Count > 0)
            {
                w.WriteStartArray("additionalModelResponseFieldPaths");
                w.WriteStringValue("/stop_sequence");
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteSystem(Utf8JsonWriter w, ChatRequest request)
    {
        if (string.IsNullOrEmpty(request.System)) return;
        w.WriteStartArray("system");
        w.WriteStartObject();
        w.WriteString("text", request.System);
        w.WriteEndObject();
        if (request.SystemCacheBreakpoint) WriteCachePoint(w);
        w.WriteEndArray();
    }

    /// <summary>
    /// Bedrock wants strictly alternating user/assistant turns starting with a user turn and has no system
    /// role inside the conversation: consecutive turns of one role are merged, and a mid-conversation system
    /// message becomes user text marked as such (never dropped).
    /// </summary>
    private static void WriteMessages(Utf8JsonWriter w, ChatRequest request)
    {
        var turns = new List<(string Role, List<ContentBlock> Blocks)>();
        foreach (var m in request.Messages)
        {
            var role = m.Role == Role.Assistant ? "assistant" : "user";
            IReadOnlyList<ContentBlock> content = m.Role == Role.System
                ? m.Content.Select(b => b is TextBlock t ? t with { Text = $"<system-reminder>\n{t.Text}\n</system-reminder>" } : b).ToList()
                : m.Content;
            if (turns.Count > 0 && turns[^1].Role == role) turns[^1].Blocks.AddRange(content);
            else turns.Add((role, [.. content]));
        }
        if (turns.Count > 0 && turns[0].Role == "assistant")
            throw GatewayException.BadRequest("messages: Bedrock requires the conversation to start with a user message.");

        w.WriteStartArray("messages");
        foreach (var (role, blocks) in turns)
        {
            w.WriteStartObject();
            w.WriteString("role", role);
            w.WriteStartArray("content");
            foreach (var block in blocks)
            {
                // Empty text is refused by Bedrock ("text field is blank"): skip it, but keep its breakpoint.
                if (block is not TextBlock { Text.Length: 0 }) WriteBlock(w, block, role);
                if (block.CacheBreakpoint) WriteCachePoint(w);
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WriteBlock(Utf8JsonWriter w, ContentBlock block, string role)
    {
        switch (block)
        {
            case TextBlock t:
                w.WriteStartObject();
                w.WriteString("text", t.Text);
                w.WriteEndObject();
                break;
            case ImageBlock image:
                WriteImage(w, image);
                break;
            case ToolUseBlock use:
                w.WriteStartObject();
                w.WriteStartObject("toolUse");
                w.WriteString("toolUseId", use.Id);
                w.WriteString("name", use.Name);
                w.WritePropertyName("input");
                if (use.Input.ValueKind == JsonValueKind.Object) use.Input.WriteTo(w);
                else { w.WriteStartObject(); w.WriteEndObject(); }
                w.WriteEndObject();
                w.WriteEndObject();
                break;
            case ToolResultBlock result:
                w.WriteStartObject();
                w.WriteStartObject("toolResult");
                w.WriteString("toolUseId", result.ToolUseId);
                w.WriteStartArray("content");
                var wrote = false;
                foreach (var part in result.Content)
                {
                    if (part is TextBlock { Text.Length: 0 }) continue;
                    if (part is TextBlock or ImageBlock) { WriteBlock(w, part, role); wrote = true; }
                    else throw GatewayException.BadRequest($"tool result {result.ToolUseId}: only text and image content can be sent to Bedrock.");
                }
                // A tool result with no content is refused upstream; an empty string says "no output" faithfully enough.
                if (!wrote) { w.WriteStartObject(); w.WriteString("text", ""); w.WriteEndObject(); }
                w.WriteEndArray();
                w.WriteString("status", result.IsError ? "error" : "success");
                w.WriteEndObject();
                w.WriteEndObject();
                break;
            case ThinkingBlock thinking:
                if (role != "assistant") throw GatewayException.BadRequest("messages: thinking blocks are allowed in assistant messages only.");
                w.WriteStartObject();
                w.WriteStartObject("reasoningContent");
                if (thinking.Text.Length == 0 && thinking.Signature is { Length: > 0 } redacted)
                {
                    // The canonical shape of redacted thinking: empty text, the encrypted data as signature.
                    w.WriteString("redactedContent", redacted);
                }
                else
                {
                    w.WriteStartObject("reasoningText");
                    w.WriteString("text", thinking.Text);
                    if (thinking.Signature is { Length: > 0 } sig) w.WriteString("signature", sig);
                    w.WriteEndObject();
                }
                w.WriteEndObject();
                w.WriteEndObject();
                break;
            default:
                throw GatewayException.BadRequest($"content block {block.GetType().Name} cannot be sent to Bedrock.");
        }
    }

    private static void WriteImage(Utf8JsonWriter w, ImageBlock image)
    {
        var format = image.MediaType.ToLowerInvariant() switch
        {
            "image/png" => "png",
            "image/jpeg" or "image/jpg" => "jpeg",
            "image/gif" => "gif",
            "image/webp" => "webp",
            var other => throw GatewayException.BadRequest($"image media type '{other}' is not supported by Bedrock (png, jpeg, gif, webp)."),
        };
        w.WriteStartObject();
        w.WriteStartObject("image");
        w.WriteString("format", format);
        w.WriteStartObject("source");
        // Converse's JSON carries image bytes as base64: the client's base64 goes through unchanged.
        w.WriteString("bytes", image.Data);
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteCachePoint(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteStartObject("cachePoint");
        w.WriteString("type", "default");
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>Clamped to the model's cap: Bedrock refuses a larger maxTokens instead of lowering it.</summary>
    private static int MaxTokens(ChatRequest request, int maxOutputTokens)
        => request.MaxTokens is { } m ? Math.Min(m, maxOutputTokens) : maxOutputTokens;

    private static void WriteInferenceConfig(Utf8JsonWriter w, ChatRequest request, int maxOutputTokens)
    {
        w.WriteStartObject("inferenceConfig");
        w.WriteNumber("maxTokens", MaxTokens(request, maxOutputTokens));
        if (request.Temperature is { } t) w.WriteNumber("temperature", t);
        if (request.TopP is { } p) w.WriteNumber("topP", p);
        if (request.StopSequences.Count > 0)
        {
            w.WriteStartArray("stopSequences");
            foreach (var s in request.StopSequences) w.WriteStringValue(s);
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    /// <summary>
    /// Bedrock has no "none" tool choice. With <see cref="ToolChoiceKind.None"/> the tools are still declared
    /// when the history holds tool blocks (Bedrock refuses toolUse/toolResult without a toolConfig) and left
    /// out otherwise, so the model cannot call one.
    /// </summary>
    private static void WriteToolConfig(Utf8JsonWriter w, ChatRequest request)
    {
        if (request.Tools.Count == 0)
        {
            if (HasToolBlocks(request))
                throw GatewayException.BadRequest("tools: the conversation holds tool calls but no tools are declared; Bedrock requires the tool definitions.");
            if (request.ToolChoice is { Kind: ToolChoiceKind.Any or ToolChoiceKind.Tool })
                throw GatewayException.BadRequest("tool_choice: a tool is required but no tools are declared.");
            return;
        }
        var none = request.ToolChoice?.Kind == ToolChoiceKind.None;
        if (none && !HasToolBlocks(request)) return;

        w.WriteStartObject("toolConfig");
        w.WriteStartArray("tools");
        foreach (var tool in request.Tools)
        {
            w.WriteStartObject();
            w.WriteStartObject("toolSpec");
            w.WriteString("name", tool.Name);
            if (!string.IsNullOrEmpty(tool.Description)) w.WriteString("description", tool.Description);
            w.WriteStartObject("inputSchema");
            w.WritePropertyName("json");
            if (tool.InputSchema.ValueKind == JsonValueKind.Object) tool.InputSchema.WriteTo(w);
            else { w.WriteStartObject(); w.WriteString("type", "object"); w.WriteEndObject(); }
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteEndObject();
            if (tool.CacheBreakpoint) WriteCachePoint(w);
        }
        w.WriteEndArray();
        switch (request.ToolChoice?.Kind)
        {
            case ToolChoiceKind.Any:
                w.WriteStartObject("toolChoice"); w.WriteStartObject("any"); w.WriteEndObject(); w.WriteEndObject();
                break;
            case ToolChoiceKind.Tool:
                if (request.Tools.All(t => t.Name != request.ToolChoice.Name))
                    throw GatewayException.BadRequest($"tool_choice: tool '{request.ToolChoice.Name}' is not among the declared tools.");
                w.WriteStartObject("toolChoice"); w.WriteStartObject("tool"); w.WriteString("name", request.ToolChoice.Name); w.WriteEndObject(); w.WriteEndObject();
                break;
            case ToolChoiceKind.Auto:
                w.WriteStartObject("toolChoice"); w.WriteStartObject("auto"); w.WriteEndObject(); w.WriteEndObject();
                break;
        }
        w.WriteEndObject();
    }

    private static bool HasToolBlocks(ChatRequest request)
        => request.Messages.Any(m => m.Content.Any(b => b is ToolUseBlock or ToolResultBlock));

    /// <summary>Claude's extended thinking goes through <c>additionalModelRequestFields</c>, as in the Messages API.</summary>
    private static void WriteThinking(Utf8JsonWriter w, ChatRequest request, int maxTokens, BedrockOptions options)
    {
        if (request.Thinking is not { } thinking) return;
        // OpenAI's reasoning_effort arrives as Enabled with an effort word and no budget. The budget made from it
        // must stay below maxTokens (Bedrock refuses it otherwise) and at Claude's smallest budget or above; a
        // budget the client gave goes as it is.
        int? budget = thinking.Mode == ThinkingMode.Enabled
            ? thinking.BudgetTokens ?? Math.Max(Anthropic.AnthropicRequestBuilder.MinThinkingBudget, Math.Min(EffortBudget(thinking.Effort, options.DefaultThinkingBudget), maxTokens - 1))
            : null;
        if (thinking.Mode == ThinkingMode.Adaptive)
        {
            w.WriteStartObject("additionalModelRequestFields");
            w.WriteStartObject("thinking");
            w.WriteString("type", "adaptive");
            w.WriteEndObject();
            w.WriteEndObject();
            return;
        }
        if (budget is null) return;
        w.WriteStartObject("additionalModelRequestFields");
        w.WriteStartObject("thinking");
        w.WriteString("type", "enabled");
        w.WriteNumber("budget_tokens", budget.Value);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static int EffortBudget(string? effort, int fallback) => effort switch
    {
        "minimal" => 1_024,
        "low" => 2_048,
        "medium" => fallback,
        "high" or "xhigh" => 16_384,
        _ => fallback,
    };
}
