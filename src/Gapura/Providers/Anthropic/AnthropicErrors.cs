using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.Anthropic;

/// <summary>
/// Maps Anthropic's errors — HTTP bodies and mid-stream <c>event: error</c>, both
/// <c>{"type":"error","error":{"type","message"}}</c> — to a <see cref="GatewayException"/> that keeps the
/// upstream's status and message, so the caller's format can report them faithfully.
/// </summary>
internal static class AnthropicErrors
{
    /// <summary>Anthropic's own "overloaded" status; the Anthropic front door reports it as <c>overloaded_error</c>.</summary>
    public const int Overloaded = 529;

    public static GatewayException FromHttp(int status, ReadOnlySpan<byte> body, TimeSpan? retryAfter)
    {
        var (type, message) = ParseBody(body);
        var text = $"Anthropic answered {status}" + (type is null ? "" : $" ({type})") + $": {message ?? "(no message)"}";
        return status switch
        {
            400 or 422 => new GatewayException(ErrorKind.InvalidRequest, text, 400),
            // The gateway's configured key was refused: not the caller's fault, so not a 401 they would read
            // as "your key is invalid" — a 503 telling the operator which setting to fix.
            401 => new GatewayException(ErrorKind.UpstreamLogin, $"Anthropic refused the credentials (the gateway's Providers:Anthropic:ApiKey, or a user's own login). {text}", 503),
            403 => new GatewayException(ErrorKind.PermissionDenied, text, 403),
            404 => new GatewayException(ErrorKind.NotFound, text, 404),
            413 => new GatewayException(ErrorKind.RequestTooLarge, text, 413),
            429 => new GatewayException(ErrorKind.RateLimited, text, 429, retryAfter),
            504 => new GatewayException(ErrorKind.Timeout, text, 504, retryAfter),
            >= 500 => new GatewayException(ErrorKind.UpstreamUnavailable, text, status, retryAfter),
            _ => new GatewayException(ErrorKind.UpstreamUnavailable, text, 502),
        };
    }

    /// <summary>A mid-stream <c>event: error</c>: the error type decides, since no HTTP status comes with it.</summary>
    public static GatewayException FromStreamError(string? type, string? message)
    {
        var text = $"Anthropic stream error ({type ?? "unknown"}): {message ?? "(no message)"}";
        return type switch
        {
            "overloaded_error" => new GatewayException(ErrorKind.UpstreamUnavailable, text, Overloaded),
            "rate_limit_error" => new GatewayException(ErrorKind.RateLimited, text, 429),
            "invalid_request_error" => new GatewayException(ErrorKind.InvalidRequest, text, 400),
            "authentication_error" => new GatewayException(ErrorKind.UpstreamLogin, text, 503),
            "permission_error" => new GatewayException(ErrorKind.PermissionDenied, text, 403),
            "not_found_error" => new GatewayException(ErrorKind.NotFound, text, 404),
            "request_too_large" => new GatewayException(ErrorKind.RequestTooLarge, text, 413),
            "timeout_error" => new GatewayException(ErrorKind.Timeout, text, 504),
            "api_error" => new GatewayException(ErrorKind.UpstreamUnavailable, text, 500),
            _ => new GatewayException(ErrorKind.UpstreamUnavailable, text, 502),
        };
    }

    /// <summary>Reads the error type and message; a body that is not Anthropic's shape is quoted as text.</summary>
    public static (string? Type, string? Message) ParseBody(ReadOnlySpan<byte> body)
    {
        var trimmed = body.Trim(" \t\r\n"u8);
        if (trimmed.IsEmpty) return (null, null);
        if (trimmed[0] != (byte)'{') return (null, System.Text.Encoding.UTF8.GetString(trimmed));
        try
        {
            var reader = new Utf8JsonReader(trimmed);
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object && root.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object)
                return (Str(error, "type"), Str(error, "message"));
            return (null, Str(root, "message") ?? System.Text.Encoding.UTF8.GetString(trimmed));
        }
        catch (JsonException)
        {
            return (null, System.Text.Encoding.UTF8.GetString(trimmed));
        }
    }

    private static string? Str(JsonElement obj, string name)
        => obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
