using System.Net;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.Kiro;

/// <summary>
/// Maps Kiro's HTTP failures (kiro.md §5) to gateway errors. Bodies look like
/// <c>{"message":"…","reason":"…"}</c>; the caller sees the upstream's message, never a 200.
/// </summary>
internal static class KiroUpstreamErrors
{
    public static bool IsInvalidBearer(HttpStatusCode status, string body) =>
        status is HttpStatusCode.Forbidden or HttpStatusCode.Unauthorized
        && body.Contains("bearer token", StringComparison.OrdinalIgnoreCase);

    public static GatewayException Map(HttpStatusCode status, string body, TimeSpan? retryAfter)
    {
        var (message, reason) = Parse(body);
        var code = (int)status;
        var text = $"Kiro upstream error {code}: {message}" + (reason is null ? "" : $" ({reason})");
        var quota = reason is not null && (reason.Contains("MONTHLY_REQUEST_COUNT", StringComparison.Ordinal)
                                           || reason.Contains("DAILY_REQUEST_COUNT", StringComparison.Ordinal)
                                           || reason.Contains("OVERAGE_REQUEST_LIMIT", StringComparison.Ordinal)
                                           || reason.Contains("CONVERSATION_LIMIT", StringComparison.Ordinal));
        return code switch
        {
            402 => new GatewayException(ErrorKind.QuotaExceeded, text, 429, retryAfter),
            429 when quota => new GatewayException(ErrorKind.QuotaExceeded, text, 429, retryAfter),
            429 => new GatewayException(ErrorKind.RateLimited, text, 429, retryAfter),
            400 when message.Contains("too long", StringComparison.OrdinalIgnoreCase) || reason == "CONTENT_LENGTH_EXCEEDS_THRESHOLD"
                => new GatewayException(ErrorKind.InvalidRequest, $"The conversation is too long for the model's context window. {text}"),
            400 or 404 or 413 or 422 => new GatewayException(ErrorKind.InvalidRequest, text, 400),
            401 or 403 when IsInvalidBearer(status, body) => new GatewayException(ErrorKind.Authentication,
                $"The Kiro login was refused even after a token refresh; run `gapura login kiro`. {text}", 401),
            401 or 403 => new GatewayException(ErrorKind.PermissionDenied, text, 403),
            >= 500 => new GatewayException(ErrorKind.UpstreamUnavailable, text, code == 504 ? 504 : 503, retryAfter),
            _ => new GatewayException(ErrorKind.UpstreamUnavailable, text, 502),
        };
    }

    private static (string Message, string? Reason) Parse(string body)
    {
        if (string.IsNullOrWhiteSpace(body)) return ("(empty body)", null);
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                var message = (root.TryGetProperty("message", out var m) || root.TryGetProperty("Message", out m)) && m.ValueKind == JsonValueKind.String
                    ? m.GetString()! : body;
                var reason = root.TryGetProperty("reason", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
                return (message, reason);
            }
        }
        catch (JsonException) { }
        return (body.Length > 500 ? body[..500] : body, null);
    }
}
