using System.Buffers;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Formats;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// <see cref="ChatRequest"/> → Responses API request body (<c>POST /responses</c>), written with
/// <see cref="Utf8JsonWriter"/>. As with chat completions, the upstream is always asked to stream
/// (non-streaming clients are answered by folding the same stream), and <c>store</c> is always false:
/// the gateway is stateless and sends the whole conversation every time.
/// </summary>
/// <remarks>
/// Mapping choices, each forced by the wire format:
/// <list type="bullet">
/// <item>The system prompt goes in <c>instructions</c>; system text in mid-conversation becomes a
/// <c>developer</c> message where it stood.</item>
/// <item>Reasoning from earlier turns is not resent: a <c>reasoning</c> input item is only valid with the
/// upstream's own <c>encrypted_content</c>, and another provider's thinking signature would be refused.</item>
/// <item>A failed tool result is marked by an <c>Error:</c> prefix; <c>function_call_output</c> has no error flag.</item>
/// <item>There is no <c>stop</c> field: stop sequences are enforced by the provider on the decoded stream.</item>
/// </list>
/// </remarks>
internal static class ResponsesRequestBuilder
{
    public static byte[] Build(ChatRequest request, string modelId, ChatCompletionsDialect dialect, OpenAiEndpoint endpoint)
    {
        var buffer = new ArrayBufferWriter<byte>(4096);
        using (var w = new Utf8JsonWriter(buffer, JsonResponses.WriterOptions)) // relaxed: base64 "+" and non-ASCII text as themselves
        {
            w.WriteStartObject();
            w.WriteString("model", modelId);
            // The Codex backend requires instructions even when there are none.
            if (!string.IsNullOrEmpty(request.System) || endpoint.StreamOnly) w.WriteString("instructions", request.System ?? "");
            WriteInput(w, request);
            WriteTools(w, request);
            if (ChatCompletionsRequestBuilder.Effort(request.Thinking) is { } effort && dialect.AcceptsReasoningEffort(modelId))
            {
                w.WriteStartObject("reasoning");
                w.WriteString("effort", effort);
                // Without a summary the model reasons silently; "auto" streams a readable summary, shown as thinking.
                w.WriteString("summary", "auto");
                w.WriteEndObject();
            }
            if (request.MaxTokens is { } max && endpoint.AcceptsMaxOutputTokens) w.WriteNumber("max_output_tokens", max);
            if (request.Temperature is { } temperature) w.WriteNumber("temperature", temperature);
            if (request.TopP is { } topP) w.WriteNumber("top_p", topP);
            if (request.OutputFormat is { } format)
            {
                w.WriteStartObject("text");
                w.WriteStartObject("format");
                ChatCompletionsRequestBuilder.WriteOutputFormat(w, format, nested: false);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteBoolean("stream", true);
            w.WriteBoolean("store", false);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteInput(Utf8JsonWriter w, ChatRequest request)
    {
        w.WriteStartArray("input");
        foreach (var message in request.Messages)
        {
            switch (message.Role)
            {
                case Role.System:
                    WriteMessage(w, "developer", message.Content.OfType<TextBlock>(), "input_text");
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

    /// <summary>Text and images in the order given, as one message item.</summary>
    private static void WriteMessage(Utf8JsonWriter w, string role, IEnumerable<ContentBlock> parts, string textType)
    {
        w.WriteStartObject();
        w.WriteString("type", "message");
        w.WriteString("role", role);
        w.WriteStartArray("content");
        WriteParts(w, parts, textType);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteParts(Utf8JsonWriter w, IEnumerable<ContentBlock> parts, string textType)
    {
        foreach (var part in parts)
        {
            if (part is TextBlock text)
            {
                w.WriteStartObject();
                w.WriteString("type", textType);
                w.WriteString("text", text.Text);
                w.WriteEndObject();
            }
            else if (part is ImageBlock image)
            {
                w.WriteStartObject();
                w.WriteString("type", "input_image");
                w.WriteString("image_url", $"data:{image.MediaType};base64,{image.Data}");
                w.WriteEndObject();
            }
        }
    }

    /// <summary>An assistant turn: its text as one message item, then each tool call as a <c>function_call</c> item.</summary>
    private static void WriteAssistant(Utf8JsonWriter w, Message message)
    {
        var text = message.Content.OfType<TextBlock>().Where(t => t.Text.Length > 0).ToList();
        if (text.Count > 0) WriteMessage(w, "assistant", text, "output_text");
        foreach (var call in message.Content.OfType<ToolUseBlock>())
        {
            w.WriteStartObject();
            w.WriteString("type", "function_call");
            w.WriteString("call_id", call.Id);
            w.WriteString("name", call.Name);
            // Arguments are JSON text inside a string, as the model produced them.
            w.WriteString("arguments", call.Input.ValueKind == JsonValueKind.Undefined ? "{}" : call.Input.GetRawText());
            w.WriteEndObject();
        }
    }

    /// <summary>A user turn: its tool results first (one <c>function_call_output</c> each), then the rest as one message.</summary>
    private static void WriteUser(Utf8JsonWriter w, Message message)
    {
        foreach (var result in message.Content.OfType<ToolResultBlock>())
        {
            w.WriteStartObject();
            w.WriteString("type", "function_call_output");
            w.WriteString("call_id", result.ToolUseId);
            var prefix = result.IsError ? "Error: " : "";
            if (result.Content.All(b => b is TextBlock)) w.WriteString("output", prefix + string.Concat(result.Content.OfType<TextBlock>().Select(t => t.Text)));
            else
            {
                // Images a tool returned travel in the output itself, as input parts.
                w.WriteStartArray("output");
                WriteParts(w, result.IsError ? [new TextBlock(prefix), .. result.Content] : result.Content, "input_text");
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        var parts = message.Content.Where(b => b is TextBlock or ImageBlock).ToList();
        if (parts.Count > 0) WriteMessage(w, "user", parts, "input_text");
    }

    private static void WriteTools(Utf8JsonWriter w, ChatRequest request)
    {
        if (request.Tools.Count == 0) return;
        w.WriteStartArray("tools");
        foreach (var tool in request.Tools)
        {
            w.WriteStartObject();
            w.WriteString("type", "function");
            w.WriteString("name", tool.Name);
            if (!string.IsNullOrEmpty(tool.Description)) w.WriteString("description", tool.Description);
            w.WritePropertyName("parameters");
            tool.WriteInputSchema(w);
            // Client schemas are not written for strict mode (it demands every property be required).
            w.WriteBoolean("strict", false);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        switch (request.ToolChoice?.Kind)
        {
            case ToolChoiceKind.Auto: w.WriteString("tool_choice", "auto"); break;
            case ToolChoiceKind.None: w.WriteString("tool_choice", "none"); break;
            case ToolChoiceKind.Any: w.WriteString("tool_choice", "required"); break;
            case ToolChoiceKind.Tool:
                w.WriteStartObject("tool_choice");
                w.WriteString("type", "function");
                w.WriteString("name", request.ToolChoice.Name);
                w.WriteEndObject();
                break;
        }
    }
}
