using System.Text;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// Maps an OpenAI-format upstream's failure to a <see cref="GatewayException"/> carrying the upstream's
/// status and message. Compatible servers vary in their error bodies — OpenAI's
/// <c>{"error":{"message","type","param","code"}}</c>, Ollama's <c>{"error":"…"}</c>, FastAPI's
/// <c>{"detail":…}</c>, plain text — so all of them are read.
/// </summary>
internal static class OpenAiErrors
{
    public static GatewayException FromHttp(string label, int status, ReadOnlySpan<byte> body, TimeSpan? retryAfter)
    {
        var (message, type, code) = ParseBody(body);
        var text = $"{label} answered {status}" + Tag(type, code) + $": {message ?? "(no message)"}";
        return status switch
        {
            429 when IsQuota(type, code) => new GatewayException(ErrorKind.QuotaExceeded, text, 429, retryAfter),
            429 => new GatewayException(ErrorKind.RateLimited, text, 429, retryAfter),
            400 when code == "context_length_exceeded"
                => GatewayException.ContextTooLong(null, null, text),
            400 or 409 or 422 => new GatewayException(ErrorKind.InvalidRequest, text, status),
            404 => new GatewayException(ErrorKind.NotFound, text, 404),
            413 => new GatewayException(ErrorKind.RequestTooLarge, text, 413),
            // The gateway's own key was refused: the caller's key was fine, so not a 401 they would read as theirs.
            401 => new GatewayException(ErrorKind.UpstreamLogin, $"{label} refused the gateway's API key; an administrator must fix it. {text}", 503),
            403 => new GatewayException(ErrorKind.PermissionDenied, text, 403),
            408 or 504 => new GatewayException(ErrorKind.Timeout, text, 504, retryAfter),
            >= 500 => new GatewayException(ErrorKind.UpstreamUnavailable, text, status is 500 or 502 or 503 ? status : 502, retryAfter),
            _ => new GatewayException(ErrorKind.UpstreamUnavailable, text, 502),
        };
    }

    /// <summary>An error sent inside a 200 stream (<c>data: {"error":{…}}</c>), after the headers went out.</summary>
    public static GatewayException FromStream(string label, JsonElement error)
    {
        var (message, type, code) = Read(error);
        var text = $"{label} reported an error mid-stream" + Tag(type, code) + $": {message ?? "(no message)"}";
        // Chat streams name a type; Responses' response.failed and error events name a code.
        static ErrorKind? KindOf(string? name) => name switch
        {
            "invalid_request_error" or "invalid_prompt" or "context_length_exceeded" => ErrorKind.InvalidRequest,
            "rate_limit_error" or "rate_limit_exceeded" => ErrorKind.RateLimited,
            "insufficient_quota" => ErrorKind.QuotaExceeded,
            _ => null,
        };
        var kind = KindOf(type) ?? KindOf(code) ?? ErrorKind.UpstreamUnavailable;
        return new GatewayException(kind, text, kind == ErrorKind.UpstreamUnavailable ? 502 : null);
    }

    /// <summary>A spent quota or billing limit lasts until the account is topped up: retrying only delays the error.</summary>
    public static bool IsQuota(string? type, string? code) => type == "insufficient_quota" || code == "insufficient_quota";

    public static (string? Message, string? Type, string? Code) ParseBody(ReadOnlySpan<byte> body)
    {
        var trimmed = body.Trim(" \t\r\n"u8);
        if (trimmed.IsEmpty) return (null, null, null);
        if (trimmed[0] != (byte)'{') return (Clip(Encoding.UTF8.GetString(trimmed)), null, null);
        try
        {
            var reader = new Utf8JsonReader(trimmed);
            using var doc = JsonDocument.ParseValue(ref reader);
            return Read(doc.RootElement);
        }
        catch (JsonException)
        {
            return (Clip(Encoding.UTF8.GetString(trimmed)), null, null);
        }
    }

    private static (string? Message, string? Type, string? Code) Read(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) return (Clip(root.GetRawText()), null, null);
        if (root.TryGetProperty("error", out var error))
        {
            if (error.ValueKind == JsonValueKind.String) return (error.GetString(), null, null);
            if (error.ValueKind == JsonValueKind.Object) return (Str(error, "message"), Str(error, "type"), Str(error, "code"));
        }
        if (Str(root, "message") is { } message) return (message, Str(root, "type"), Str(root, "code"));
        if (root.TryGetProperty("detail", out var detail))
            return (detail.ValueKind == JsonValueKind.String ? detail.GetString() : Clip(detail.GetRawText()), null, null);
        return (Clip(root.GetRawText()), null, null);
    }

    // Codes are strings at OpenAI but numbers at some servers; both are worth showing.
    private static string? Str(JsonElement obj, string name) => obj.TryGetProperty(name, out var v) ? v.ValueKind switch
    {
        JsonValueKind.String => v.GetString(),
        JsonValueKind.Number => v.GetRawText(),
        _ => null,
    } : null;

    private static string Tag(string? type, string? code) => (code ?? type) is { } tag ? $" ({tag})" : "";

    private static string Clip(string text) => text.Length <= 500 ? text : text[..500] + "…";
}
