using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Formats.Anthropic;

/// <summary>The Anthropic messages dialect (<c>POST /v1/messages</c>, <c>POST /v1/messages/count_tokens</c>).</summary>
internal sealed class AnthropicMessagesFrontDoor : IFrontDoor
{
    public static readonly AnthropicMessagesFrontDoor Instance = new();

    private AnthropicMessagesFrontDoor() { }

    /// <summary>An id in Anthropic's style, for <see cref="ResponseContext.ResponseId"/>.</summary>
    public static string NewResponseId() => "msg_" + RandomNumberGenerator.GetHexString(24, lowercase: true);

    string IFrontDoor.NewResponseId() => NewResponseId();

    public ChatRequest ParseRequest(JsonElement body) => AnthropicRequestParser.Parse(body);

    /// <summary>Lenient parse for the passthrough path: server tools and unsupported blocks are skipped, not refused.</summary>
    public ChatRequest ParseRequest(JsonElement body, bool skipUnsupported) => AnthropicRequestParser.Parse(body, skipUnsupported);

    public SseWriter CreateStreamWriter(PipeWriter output, ResponseContext context) => new AnthropicSseWriter(output, context);

    public Task WriteResultAsync(HttpResponse response, ChatResult result, ResponseContext context, CancellationToken ct)
        => JsonResponses.WriteAsync(response, 200, (result, context), static (w, s) => WriteMessage(w, s.result, s.context), ct);

    public Task WriteErrorAsync(HttpResponse response, GatewayException error)
    {
        JsonResponses.SetRetryAfter(response, error);
        return JsonResponses.WriteAsync(response, error.Status, error, AnthropicWire.WriteError, CancellationToken.None);
    }

    /// <summary>The count_tokens answer, <c>{"input_tokens":N}</c>, for a request parsed by <see cref="ParseRequest(JsonElement)"/>.</summary>
    public static Task WriteCountTokensAsync(HttpResponse response, ChatRequest request, CancellationToken ct)
        => JsonResponses.WriteAsync(response, 200, RequestTokenCounter.Count(request), static (w, n) =>
        {
            w.WriteStartObject();
            w.WriteNumber("input_tokens", n);
            w.WriteEndObject();
        }, ct);

    internal static void WriteMessage(Utf8JsonWriter w, ChatResult result, ResponseContext context)
    {
        w.WriteStartObject();
        w.WriteString("id", context.ResponseId);
        w.WriteString("type", "message");
        w.WriteString("role", "assistant");
        w.WriteString("model", context.Model);
        w.WriteStartArray("content");
        if (result.Reasoning is not null || result.ReasoningSignature is not null)
        {
            w.WriteStartObject();
            w.WriteString("type", "thinking");
            w.WriteString("thinking", result.Reasoning ?? "");
            w.WriteString("signature", result.ReasoningSignature ?? "");
            w.WriteEndObject();
        }
        if (result.Text.Length > 0)
        {
            w.WriteStartObject();
            w.WriteString("type", "text");
            w.WriteString("text", result.Text);
            w.WriteEndObject();
        }
        foreach (var call in result.ToolCalls)
        {
            w.WriteStartObject();
            w.WriteString("type", "tool_use");
            w.WriteString("id", call.Id);
            w.WriteString("name", call.Name);
            w.WritePropertyName("input");
            WriteToolInput(w, call.Arguments);
            AnthropicWire.WriteDirectCaller(w);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteString("stop_reason", AnthropicWire.StopReason(result.StopReason));
        if (result.StopSequence is null) w.WriteNull("stop_sequence");
        else w.WriteString("stop_sequence", result.StopSequence);
        AnthropicWire.WriteUsage(w, result.Usage);
        w.WriteEndObject();
    }

    /// <summary>
    /// Anthropic's <c>input</c> is an object. Arguments an upstream left malformed (a truncated
    /// generation) become <c>{}</c>: the client's tool then reports the missing parameters to the
    /// model, which can retry — a broken body would instead fail the whole turn in the SDK.
    /// </summary>
    private static void WriteToolInput(Utf8JsonWriter w, string arguments)
    {
        if (!string.IsNullOrWhiteSpace(arguments))
        {
            try
            {
                using var doc = JsonDocument.Parse(arguments);
                if (doc.RootElement.ValueKind == JsonValueKind.Object)
                {
                    doc.RootElement.WriteTo(w);
                    return;
                }
            }
            catch (JsonException)
            {
                // Falls through to the empty object.
            }
        }
        w.WriteStartObject();
        w.WriteEndObject();
    }
}
