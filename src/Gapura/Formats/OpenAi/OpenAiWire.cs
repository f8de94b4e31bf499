using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Formats.OpenAi;

/// <summary>Mappings and pre-encoded names shared by the OpenAI chat writers.</summary>
internal static class OpenAiWire
{
    public static string FinishReason(StopReason reason) => reason switch
    {
        StopReason.EndTurn => "stop",
        StopReason.StopSequence => "stop",
        StopReason.MaxTokens => "length",
        StopReason.ContextWindowExceeded => "length",
        StopReason.ToolUse => "tool_calls",
        _ => "stop",
    };

    /// <summary>
    /// OpenAI's <c>type</c> and <c>code</c> for an error. SDKs branch on the HTTP status, humans read the
    /// type; quota keeps OpenAI's own <c>insufficient_quota</c> so tools that special-case it still do.
    /// </summary>
    public static (string Type, string? Code) ErrorType(GatewayException error) => error.Kind switch
    {
        ErrorKind.InvalidRequest when error.IsContextOverflow => ("invalid_request_error", "context_length_exceeded"),
        ErrorKind.InvalidRequest => ("invalid_request_error", null),
        ErrorKind.Authentication => ("authentication_error", "invalid_api_key"),
        ErrorKind.PermissionDenied => ("permission_error", null),
        ErrorKind.NotFound => ("not_found_error", null),
        ErrorKind.RequestTooLarge => ("invalid_request_error", "request_too_large"),
        ErrorKind.RateLimited => ("rate_limit_error", "rate_limit_exceeded"),
        ErrorKind.QuotaExceeded => ("insufficient_quota", "insufficient_quota"),
        ErrorKind.UpstreamUnavailable => ("server_error", "upstream_unavailable"),
        ErrorKind.Timeout => ("server_error", "timeout"),
        ErrorKind.ShuttingDown => ("server_error", "shutting_down"),
        ErrorKind.UpstreamLogin => ("server_error", "upstream_login"),
        _ => ("server_error", null),
    };

    /// <summary>The body of an error: <c>{"error":{"message","type","param","code"}}</c>.</summary>
    public static void WriteError(Utf8JsonWriter w, GatewayException error)
    {
        var (type, code) = ErrorType(error);
        code = error.Code ?? code;
        w.WriteStartObject();
        w.WriteStartObject("error");
        w.WriteString("message", error.Message);
        w.WriteString("type", type);
        w.WriteNull("param");
        if (code is null) w.WriteNull("code"); else w.WriteString("code", code);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>
    /// OpenAI's <c>prompt_tokens</c> includes cached tokens (reported again under
    /// <c>prompt_tokens_details.cached_tokens</c>); the canonical input count excludes them.
    /// </summary>
    public static void WriteUsage(Utf8JsonWriter w, Usage usage)
    {
        var prompt = usage.InputTokens + usage.CacheReadTokens + usage.CacheWriteTokens;
        w.WriteStartObject(Names.Usage);
        w.WriteNumber("prompt_tokens", prompt);
        w.WriteNumber("completion_tokens", usage.OutputTokens);
        w.WriteNumber("total_tokens", prompt + usage.OutputTokens);
        w.WriteStartObject("prompt_tokens_details");
        w.WriteNumber("cached_tokens", usage.CacheReadTokens);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    public static class Names
    {
        public static readonly JsonEncodedText Id = JsonEncodedText.Encode("id");
        public static readonly JsonEncodedText Object = JsonEncodedText.Encode("object");
        public static readonly JsonEncodedText ChunkObject = JsonEncodedText.Encode("chat.completion.chunk");
        public static readonly JsonEncodedText Created = JsonEncodedText.Encode("created");
        public static readonly JsonEncodedText Model = JsonEncodedText.Encode("model");
        public static readonly JsonEncodedText Choices = JsonEncodedText.Encode("choices");
        public static readonly JsonEncodedText Index = JsonEncodedText.Encode("index");
        public static readonly JsonEncodedText Delta = JsonEncodedText.Encode("delta");
        public static readonly JsonEncodedText Content = JsonEncodedText.Encode("content");
        public static readonly JsonEncodedText ReasoningContent = JsonEncodedText.Encode("reasoning_content");
        public static readonly JsonEncodedText ToolCalls = JsonEncodedText.Encode("tool_calls");
        public static readonly JsonEncodedText Type = JsonEncodedText.Encode("type");
        public static readonly JsonEncodedText Function = JsonEncodedText.Encode("function");
        public static readonly JsonEncodedText Name = JsonEncodedText.Encode("name");
        public static readonly JsonEncodedText Arguments = JsonEncodedText.Encode("arguments");
        public static readonly JsonEncodedText FinishReason = JsonEncodedText.Encode("finish_reason");
        public static readonly JsonEncodedText Usage = JsonEncodedText.Encode("usage");
    }
}
