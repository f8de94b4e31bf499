using System.Buffers;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Formats;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// <see cref="ChatRequest"/> → chat-completions request body, written with <see cref="Utf8JsonWriter"/>
/// (no intermediate object graph). The upstream is always asked to stream with usage: non-streaming
/// clients are answered by folding the same stream, so there is one decoding path per upstream.
/// </summary>
/// <remarks>
/// Mapping choices, each forced by the wire format:
/// <list type="bullet">
/// <item>Reasoning from earlier turns is not resent: chat completions has no input field for it
/// (DeepSeek-style servers even refuse <c>reasoning_content</c> in input).</item>
/// <item>Tool messages carry text only; images a tool returned follow in a user message right after the
/// tool messages, so the model still sees them.</item>
/// <item>A failed tool result is marked by an <c>Error:</c> prefix; the format has no error flag.</item>
/// </list>
/// </remarks>
internal static class ChatCompletionsRequestBuilder
{
    /// <summary>
    /// A structured-output format in OpenAI's words: <c>{type: json_object}</c>, or <c>{type: json_schema, …}</c> with the
    /// name, schema, strict and description nested under <c>json_schema</c> (chat completions) or beside the type (Responses).
    /// </summary>
    public static void WriteOutputFormat(Utf8JsonWriter w, OutputFormat format, bool nested)
    {
        if (format.Kind == OutputFormatKind.JsonObject)
        {
            w.WriteString("type", "json_object");
            return;
        }
        w.WriteString("type", "json_schema");
        if (nested) w.WriteStartObject("json_schema");
        w.WriteString("name", format.Name);
        if (format.Description is not null) w.WriteString("description", format.Description);
        w.WritePropertyName("schema");
        format.Schema.WriteTo(w);
        if (format.Strict is { } strict) w.WriteBoolean("strict", strict);
        if (nested) w.WriteEndObject();
    }

    public static byte[] Build(ChatRequest request, string modelId, ChatCompletionsDialect dialect)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer, JsonResponses.WriterOptions)) // relaxed: base64 "+" and non-ASCII text as themselves
        {
            w.WriteStartObject();
            w.WriteString("model", modelId);
            WriteMessages(w, request);
            w.WriteBoolean("stream", true);
            w.WriteStartObject("stream_options");
            w.WriteBoolean("include_usage", true);
            w.WriteEndObject();
            if (request.MaxTokens is { } max) w.WriteNumber(dialect.UseMaxCompletionTokens ? "max_completion_tokens" : "max_tokens", max);
            if (request.Temperature is { } temperature) w.WriteNumber("temperature", temperature);
            if (request.TopP is { } topP) w.WriteNumber("top_p", topP);
            if (request.StopSequences.Count > 0)
            {
                w.WriteStartArray("stop");
                foreach (var stop in request.StopSequences) w.WriteStringValue(stop);
                w.WriteEndArray();
            }
            WriteTools(w, request);
            if (Effort(request.Thinking) is { } effort && dialect.AcceptsReasoningEffort(modelId)) w.WriteString("reasoning_effort", effort);
            if (request.OutputFormat is { } format)
            {
                w.WriteStartObject("response_format");
                WriteOutputFormat(w, format, nested: true);
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// OpenAI clients give an effort word, passed on as it is; Anthropic clients give a thinking budget,
    /// mapped to the nearest effort. Disabled thinking sends nothing (the model's default applies).
    /// </summary>
    internal static string? Effort(ThinkingRequest? thinking) => thinking switch
    {
        null or { Mode: ThinkingMode.Disabled } => null,
        { Effort: { Length: > 0 } effort } => effort,
        { BudgetTokens: { } budget } => budget <= 4_096 ? "low" : budget <= 16_384 ? "medium" : "high",
        _ => "medium",
    };

    private static void WriteMessages(Utf8JsonWriter w, ChatRequest request)
    {
        w.WriteStartArray("messages");
        if (!string.IsNullOrEmpty(request.System)) WriteTextMessage(w, "system", request.System);
        foreach (var message in request.Messages)
        {
            switch (message.Role)
            {
                case Role.System:
                    WriteTextMessage(w, "system", string.Concat(message.Content.OfType<TextBlock>().Select(t => t.Text)));
                    break;
                case Role.Assistant:
                    WriteAssistant(w, message);
                    break;
                default:
                    WriteUser(w, message);
                    break;
            }
        }
        w.WriteEndArray();
    }

    private static void WriteTextMessage(Utf8JsonWriter w, string role, string text)
    {
        w.WriteStartObject();
        w.WriteString("role", role);
        w.WriteString("content", text);
        w.WriteEndObject();
    }

    private static void WriteAssistant(Utf8JsonWriter w, Message message)
    {
        var text = string.Concat(message.Content.OfType<TextBlock>().Select(t => t.Text));
        var calls = message.Content.OfType<ToolUseBlock>().ToList();
        w.WriteStartObject();
        w.WriteString("role", "assistant");
        // With tool calls and no text, OpenAI's own transcripts carry content null.
        if (text.Length == 0 && calls.Count > 0) w.WriteNull("content");
        else w.WriteString("content", text);
        if (calls.Count > 0)
        {
            w.WriteStartArray("tool_calls");
            foreach (var call in calls)
            {
                w.WriteStartObject();
                w.WriteString("id", call.Id);
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", call.Name);
                // Arguments are JSON text inside a string, as the model produced them.
                w.WriteString("arguments", call.Input.ValueKind == JsonValueKind.Undefined ? "{}" : call.Input.GetRawText());
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    /// <summary>A user turn: its tool results first (one tool message each), then the rest as one user message.</summary>
    private static void WriteUser(Utf8JsonWriter w, Message message)
    {
        List<ImageBlock>? toolImages = null;
        foreach (var result in message.Content.OfType<ToolResultBlock>())
        {
            var text = string.Concat(result.Content.OfType<TextBlock>().Select(t => t.Text));
            if (result.IsError) text = "Error: " + text;
            w.WriteStartObject();
            w.WriteString("role", "tool");
            w.WriteString("tool_call_id", result.ToolUseId);
            w.WriteString("content", text);
            w.WriteEndObject();
            foreach (var image in result.Content.OfType<ImageBlock>()) (toolImages ??= []).Add(image);
        }

        var parts = message.Content.Where(b => b is TextBlock or ImageBlock).ToList();
        if (toolImages is not null) parts.InsertRange(0, toolImages);
        if (parts.Count == 0) return;
        w.WriteStartObject();
        w.WriteString("role", "user");
        if (parts.All(p => p is TextBlock)) w.WriteString("content", string.Concat(parts.Cast<TextBlock>().Select(t => t.Text)));
        else
        {
            w.WriteStartArray("content");
            foreach (var part in parts)
            {
                w.WriteStartObject();
                if (part is TextBlock t)
                {
                    w.WriteString("type", "text");
                    w.WriteString("text", t.Text);
                }
                else if (part is ImageBlock image)
                {
                    w.WriteString("type", "image_url");
                    w.WriteStartObject("image_url");
                    w.WriteString("url", $"data:{image.MediaType};base64,{image.Data}");
                    w.WriteEndObject();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    private static void WriteTools(Utf8JsonWriter w, ChatRequest request)
    {
        if (request.Tools.Count > 0)
        {
            w.WriteStartArray("tools");
            foreach (var tool in request.Tools)
            {
                w.WriteStartObject();
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", tool.Name);
                if (!string.IsNullOrEmpty(tool.Description)) w.WriteString("description", tool.Description);
                w.WritePropertyName("parameters");
                tool.WriteInputSchema(w);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        // tool_choice without tools is refused by OpenAI; it means nothing then anyway.
        if (request.ToolChoice is { } choice && request.Tools.Count > 0)
        {
            switch (choice.Kind)
            {
                case ToolChoiceKind.Auto: w.WriteString("tool_choice", "auto"); break;
                case ToolChoiceKind.None: w.WriteString("tool_choice", "none"); break;
                case ToolChoiceKind.Any: w.WriteString("tool_choice", "required"); break;
                case ToolChoiceKind.Tool:
                    w.WriteStartObject("tool_choice");
                    w.WriteString("type", "function");
                    w.WriteStartObject("function");
                    w.WriteString("name", choice.Name);
                    w.WriteEndObject();
                    w.WriteEndObject();
                    break;
            }
        }
    }
}
