using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Formats.OpenAi;

/// <summary>The OpenAI chat completions dialect (<c>POST /v1/chat/completions</c>).</summary>
internal sealed class OpenAiChatFrontDoor : IFrontDoor
{
    public static readonly OpenAiChatFrontDoor Instance = new();

    private OpenAiChatFrontDoor() { }

    /// <summary>An id in OpenAI's style, for <see cref="ResponseContext.ResponseId"/>.</summary>
    public static string NewResponseId() => "chatcmpl-" + RandomNumberGenerator.GetHexString(24, lowercase: true);

    string IFrontDoor.NewResponseId() => NewResponseId();

    public ChatRequest ParseRequest(JsonElement body) => OpenAiChatRequestParser.Parse(body);

    /// <summary>Lenient parse for the passthrough path: unsupported tools/parts are skipped, not refused.</summary>
    public ChatRequest ParseRequest(JsonElement body, bool skipUnsupported) => OpenAiChatRequestParser.Parse(body, skipUnsupported);

    public SseWriter CreateStreamWriter(PipeWriter output, ResponseContext context) => new OpenAiChatSseWriter(output, context);

    public Task WriteResultAsync(HttpResponse response, ChatResult result, ResponseContext context, CancellationToken ct)
        => JsonResponses.WriteAsync(response, 200, (result, context), static (w, s) => WriteCompletion(w, s.result, s.context), ct);

    public Task WriteErrorAsync(HttpResponse response, GatewayException error)
    {
        JsonResponses.SetRetryAfter(response, error);
        return JsonResponses.WriteAsync(response, error.Status, error, OpenAiWire.WriteError, CancellationToken.None);
    }

    internal static void WriteCompletion(Utf8JsonWriter w, ChatResult result, ResponseContext context)
    {
        w.WriteStartObject();
        w.WriteString("id", context.ResponseId);
        w.WriteString("object", "chat.completion");
        w.WriteNumber("created", context.Created.ToUnixTimeSeconds());
        w.WriteString("model", context.Model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("message");
        w.WriteString("role", "assistant");
        // OpenAI answers content: null on a pure tool-call turn; clients test for it.
        if (result.Text.Length > 0 || result.ToolCalls.Count == 0) w.WriteString("content", result.Text);
        else w.WriteNull("content");
        if (!string.IsNullOrEmpty(result.Reasoning)) w.WriteString("reasoning_content", result.Reasoning);
        if (result.ToolCalls.Count > 0)
        {
            w.WriteStartArray("tool_calls");
            foreach (var call in result.ToolCalls)
            {
                w.WriteStartObject();
                w.WriteString("id", call.Id);
                w.WriteString("type", "function");
                w.WriteStartObject("function");
                w.WriteString("name", call.Name);
                w.WriteString("arguments", call.Arguments);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
        w.WriteNull("logprobs");
        w.WriteString("finish_reason", OpenAiWire.FinishReason(result.StopReason));
        w.WriteEndObject();
        w.WriteEndArray();
        OpenAiWire.WriteUsage(w, result.Usage);
        w.WriteEndObject();
    }
}
