using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Formats.Anthropic;

/// <summary>Mappings and pre-encoded names shared by the Anthropic messages writers.</summary>
internal static class AnthropicWire
{
    public static string StopReason(Conversations.StopReason reason) => reason switch
    {
        Conversations.StopReason.EndTurn => "end_turn",
        Conversations.StopReason.MaxTokens => "max_tokens",
        Conversations.StopReason.ToolUse => "tool_use",
        Conversations.StopReason.StopSequence => "stop_sequence",
        Conversations.StopReason.ContextWindowExceeded => "model_context_window_exceeded",
        _ => "end_turn",
    };

    /// <summary>
    /// Anthropic's error type. 529 is Anthropic's "overloaded" status and Claude Code words it
    /// accordingly; a 503 from an unavailable upstream means the same to a client.
    /// </summary>
    public static string ErrorType(GatewayException error)
    {
        if (error.Status == 529) return "overloaded_error";
        return error.Kind switch
        {
            ErrorKind.InvalidRequest => "invalid_request_error",
            ErrorKind.Authentication => "authentication_error",
            ErrorKind.PermissionDenied => "permission_error",
            ErrorKind.NotFound => "not_found_error",
            ErrorKind.RequestTooLarge => "request_too_large",
            ErrorKind.RateLimited or ErrorKind.QuotaExceeded => "rate_limit_error",
            ErrorKind.UpstreamUnavailable when error.Status == 503 => "overloaded_error",
            ErrorKind.ShuttingDown => "overloaded_error", // what Anthropic says when it cannot serve now: clients retry it
            ErrorKind.Timeout => "timeout_error",
            ErrorKind.UpstreamLogin => "api_error",
            _ => "api_error",
        };
    }

    /// <summary><c>{"type":"error","error":{"type","message"}}</c>, the body and the SSE error event alike.</summary>
    public static void WriteError(Utf8JsonWriter w, GatewayException error)
    {
        w.WriteStartObject();
        w.WriteString(Names.Type, "error");
        w.WriteStartObject("error");
        w.WriteString(Names.Type, ErrorType(error));
        w.WriteString("message", error.Message);
        // The SDKs pick their error class (and a thread's recovery) from this code.
        if (error.Code is { } code)
        {
            w.WriteStartObject("details");
            w.WriteString("error_code", code);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteEndObject();
    }

    public static void WriteUsage(Utf8JsonWriter w, Usage usage)
    {
        w.WriteStartObject(Names.Usage);
        w.WriteNumber("input_tokens", usage.InputTokens);
        w.WriteNumber("output_tokens", usage.OutputTokens);
        w.WriteNumber("cache_read_input_tokens", usage.CacheReadTokens);
        w.WriteNumber("cache_creation_input_tokens", usage.CacheWriteTokens);
        w.WriteEndObject();
    }

    /// <summary>
    /// Current Anthropic responses say who invoked a tool; the SDKs' validators require the field.
    /// Translated upstreams only ever produce calls made by the model itself.
    /// </summary>
    public static void WriteDirectCaller(Utf8JsonWriter w)
    {
        w.WriteStartObject("caller");
        w.WriteString(Names.Type, "direct");
        w.WriteEndObject();
    }

    public static class Names
    {
        public static readonly JsonEncodedText Type = JsonEncodedText.Encode("type");
        public static readonly JsonEncodedText Index = JsonEncodedText.Encode("index");
        public static readonly JsonEncodedText ContentBlock = JsonEncodedText.Encode("content_block");
        public static readonly JsonEncodedText Delta = JsonEncodedText.Encode("delta");
        public static readonly JsonEncodedText Text = JsonEncodedText.Encode("text");
        public static readonly JsonEncodedText TextDelta = JsonEncodedText.Encode("text_delta");
        public static readonly JsonEncodedText Thinking = JsonEncodedText.Encode("thinking");
        public static readonly JsonEncodedText ThinkingDelta = JsonEncodedText.Encode("thinking_delta");
        public static readonly JsonEncodedText Signature = JsonEncodedText.Encode("signature");
        public static readonly JsonEncodedText SignatureDelta = JsonEncodedText.Encode("signature_delta");
        public static readonly JsonEncodedText ToolUse = JsonEncodedText.Encode("tool_use");
        public static readonly JsonEncodedText InputJsonDelta = JsonEncodedText.Encode("input_json_delta");
        public static readonly JsonEncodedText PartialJson = JsonEncodedText.Encode("partial_json");
        public static readonly JsonEncodedText ContentBlockStart = JsonEncodedText.Encode("content_block_start");
        public static readonly JsonEncodedText ContentBlockDelta = JsonEncodedText.Encode("content_block_delta");
        public static readonly JsonEncodedText ContentBlockStop = JsonEncodedText.Encode("content_block_stop");
        public static readonly JsonEncodedText Usage = JsonEncodedText.Encode("usage");
    }
}
