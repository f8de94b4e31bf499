using System.Buffers;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Formats;
using Gapura.Routing;

namespace Gapura.Providers.Anthropic;

/// <summary>
/// <see cref="ChatRequest"/> → an Anthropic Messages request body, written once with a
/// <see cref="Utf8JsonWriter"/>. The upstream is always asked to stream: streaming and non-streaming
/// clients share one decoding path (<see cref="AnthropicStreamReader"/>), as with every provider.
/// </summary>
internal static class AnthropicRequestBuilder
{
    /// <summary>Anthropic's smallest thinking budget.</summary>
    public const int MinThinkingBudget = 1024;

    public static byte[] Build(ChatRequest request, ModelInfo model)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer, JsonResponses.WriterOptions)) // relaxed: base64 "+" and non-ASCII text as themselves
        {
            var maxTokens = Math.Max(1, request.MaxTokens ?? model.MaxOutputTokens);
            w.WriteStartObject();
            w.WriteString("model", model.Id);
            w.WriteNumber("max_tokens", maxTokens);
            if (!string.IsNullOrEmpty(request.System)) w.WriteString("system", request.System);
            WriteMessages(w, request.Messages);
            WriteTools(w, request);
            if (request.StopSequences.Count > 0)
            {
                w.WriteStartArray("stop_sequences");
                foreach (var s in request.StopSequences) w.WriteStringValue(s);
                w.WriteEndArray();
            }
            if (request.Temperature is { } temperature) w.WriteNumber("temperature", temperature);
            if (request.TopP is { } topP) w.WriteNumber("top_p", topP);
            WriteThinking(w, request.Thinking, maxTokens);
            WriteOutputConfig(w, request);
            w.WriteBoolean("stream", true);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteMessages(Utf8JsonWriter w, IReadOnlyList<Message> messages)
    {
        // Anthropic has no system role inside messages: a mid-conversation system message (Claude Code's)
        // becomes user text where it stood, and neighbours of the same role are merged so the turns alternate.
        var turns = new List<(string Role, List<ContentBlock> Blocks)>(messages.Count);
        foreach (var m in messages)
        {
            var role = m.Role == Role.Assistant ? "assistant" : "user";
            var blocks = m.Role == Role.System
                ? m.Content.Select(b => b is TextBlock t ? new TextBlock("<system-reminder>\n" + t.Text + "\n</system-reminder>") : b).ToList()
                : [.. m.Content];
            if (turns.Count > 0 && turns[^1].Role == role) turns[^1].Blocks.AddRange(blocks);
            else turns.Add((role, blocks));
        }

        w.WriteStartArray("messages");
        foreach (var (role, blocks) in turns)
        {
            w.WriteStartObject();
            w.WriteString("role", role);
            w.WriteStartArray("content");
            foreach (var block in blocks) WriteBlock(w, block);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WriteBlock(Utf8JsonWriter w, ContentBlock block)
    {
        switch (block)
        {
            // Anthropic refuses empty text blocks; an empty one carries nothing anyway.
            case TextBlock { Text.Length: 0 }:
                break;
            case TextBlock t:
                w.WriteStartObject();
                w.WriteString("type", "text");
                w.WriteString("text", t.Text);
                w.WriteEndObject();
                break;
            case ImageBlock i:
                WriteImage(w, i);
                break;
            case ToolUseBlock u:
                w.WriteStartObject();
                w.WriteString("type", "tool_use");
                w.WriteString("id", u.Id);
                w.WriteString("name", u.Name);
                w.WritePropertyName("input");
                if (u.Input.ValueKind == JsonValueKind.Object) u.Input.WriteTo(w);
                else { w.WriteStartObject(); w.WriteEndObject(); }
                w.WriteEndObject();
                break;
            case ToolResultBlock r:
                w.WriteStartObject();
                w.WriteString("type", "tool_result");
                w.WriteString("tool_use_id", r.ToolUseId);
                w.WriteStartArray("content");
                foreach (var part in r.Content)
                {
                    if (part is TextBlock { Text.Length: > 0 } pt) { w.WriteStartObject(); w.WriteString("type", "text"); w.WriteString("text", pt.Text); w.WriteEndObject(); }
                    else if (part is ImageBlock pi) WriteImage(w, pi);
                }
                w.WriteEndArray();
                if (r.IsError) w.WriteBoolean("is_error", true);
                w.WriteEndObject();
                break;
            // The parser's convention for redacted thinking: no text, the encrypted data as the signature.
            case ThinkingBlock { Text.Length: 0, Signature: { Length: > 0 } data }:
                w.WriteStartObject();
                w.WriteString("type", "redacted_thinking");
                w.WriteString("data", data);
                w.WriteEndObject();
                break;
            case ThinkingBlock { Signature: { Length: > 0 } signature } th:
                w.WriteStartObject();
                w.WriteString("type", "thinking");
                w.WriteString("thinking", th.Text);
                w.WriteString("signature", signature);
                w.WriteEndObject();
                break;
            // Unsigned reasoning came from another upstream (Kiro's tags, OpenAI reasoning_content): Anthropic
            // rejects a thinking block without its own signature, and the model does not need it back.
            case ThinkingBlock:
                break;
        }
    }

    private static void WriteImage(Utf8JsonWriter w, ImageBlock image)
    {
        w.WriteStartObject();
        w.WriteString("type", "image");
        w.WriteStartObject("source");
        w.WriteString("type", "base64");
        w.WriteString("media_type", image.MediaType);
        w.WriteString("data", image.Data);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteTools(Utf8JsonWriter w, ChatRequest request)
    {
        if (request.Tools.Count == 0) return;
        w.WriteStartArray("tools");
        foreach (var tool in request.Tools)
        {
            w.WriteStartObject();
            w.WriteString("name", tool.Name);
            if (!string.IsNullOrEmpty(tool.Description)) w.WriteString("description", tool.Description);
            w.WritePropertyName("input_schema");
            if (tool.InputSchema.ValueKind == JsonValueKind.Object) tool.InputSchema.WriteTo(w);
            else { w.WriteStartObject(); w.WriteString("type", "object"); w.WriteEndObject(); }
            w.WriteEndObject();
        }
        w.WriteEndArray();

        if (request.ToolChoice is { } choice)
        {
            w.WriteStartObject("tool_choice");
            w.WriteString("type", choice.Kind switch
            {
                ToolChoiceKind.Any => "any",
                ToolChoiceKind.None => "none",
                ToolChoiceKind.Tool => "tool",
                _ => "auto",
            });
            if (choice.Kind == ToolChoiceKind.Tool && choice.Name is not null) w.WriteString("name", choice.Name);
            w.WriteEndObject();
        }
    }

    private static void WriteThinking(Utf8JsonWriter w, ThinkingRequest? thinking, int maxTokens)
    {
        if (thinking is null) return;
        switch (thinking.Mode)
        {
            case ThinkingMode.Enabled:
                // OpenAI clients give an effort word, not a budget; Anthropic needs a budget below max_tokens.
                var budget = thinking.BudgetTokens ?? BudgetFor(thinking.Effort);
                budget = Math.Max(MinThinkingBudget, Math.Min(budget, maxTokens - 1));
                w.WriteStartObject("thinking");
                w.WriteString("type", "enabled");
                w.WriteNumber("budget_tokens", budget);
                w.WriteEndObject();
                break;
            case ThinkingMode.Adaptive:
                w.WriteStartObject("thinking");
                w.WriteString("type", "adaptive");
                w.WriteEndObject();
                break;
        }
    }

    /// <summary>
    /// <c>output_config</c>: the effort, and the structured-output format. An effort beside a budget (or adaptive/disabled)
    /// came from an Anthropic client's output_config and goes back as it came; an effort alone with thinking enabled is
    /// OpenAI's reasoning_effort, already a budget in <see cref="WriteThinking"/>.
    /// </summary>
    private static void WriteOutputConfig(Utf8JsonWriter w, ChatRequest request)
    {
        var thinking = request.Thinking;
        var effort = thinking is not null && (thinking.Mode != ThinkingMode.Enabled || thinking.BudgetTokens is not null)
            && thinking.Effort is "low" or "medium" or "high" or "max" ? thinking.Effort : null;
        var format = request.OutputFormat;
        if (effort is null && format is null) return;
        w.WriteStartObject("output_config");
        if (effort is not null) w.WriteString("effort", effort);
        if (format is not null)
        {
            w.WriteStartObject("format");
            w.WriteString("type", "json_schema");
            w.WritePropertyName("schema");
            format.Schema.WriteTo(w);
            w.WriteEndObject();
        }
        w.WriteEndObject();
    }

    private static int BudgetFor(string? effort) => effort switch
    {
        "minimal" or "low" => 2048,
        "high" => 16_384,
        "xhigh" or "max" => 32_000,
        _ => 8192,
    };
}
