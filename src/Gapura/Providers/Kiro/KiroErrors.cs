using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.Kiro;

/// <summary>
/// Maps Kiro's failures (exception type, reason code, message; kiro.md §5) to a <see cref="GatewayException"/>.
/// Shared by the stream translator (exception and error frames) and usable for HTTP error bodies,
/// whose <c>{"message","reason"}</c> shape is the same.
/// </summary>
internal static class KiroErrors
{
    public const string ContentLengthExceeded = "ContentLengthExceededException";

    public static GatewayException Map(string? exceptionType, string? reason, string? message)
    {
        var type = Normalise(exceptionType);
        var text = Describe(exceptionType, reason, message);

        // Quota reasons come under several exception types (ThrottlingException, ServiceQuotaExceeded…)
        // and over several statuses (402, 429): the reason decides.
        if (reason is "MONTHLY_REQUEST_COUNT" or "DAILY_REQUEST_COUNT" or "OVERAGE_REQUEST_LIMIT_EXCEEDED" or "CONVERSATION_LIMIT_EXCEEDED"
            || type is "ServiceQuotaExceededException")
            return new GatewayException(ErrorKind.QuotaExceeded, text);
        if (reason is "INSUFFICIENT_MODEL_CAPACITY" or "MODEL_TEMPORARILY_UNAVAILABLE")
            return new GatewayException(ErrorKind.UpstreamUnavailable, text);
        // Context overflow is the client's conversation being too big: a 400, never retried.
        if (message is not null && message.Contains("Input is too long", StringComparison.OrdinalIgnoreCase))
            return GatewayException.ContextTooLong(null, null, text);

        return type switch
        {
            "ThrottlingException" => new GatewayException(ErrorKind.RateLimited, text),
            "ValidationException" or "BadRequestException" or "SerializationException" or "InvalidStateEvent"
                => new GatewayException(ErrorKind.InvalidRequest, text),
            ContentLengthExceeded => new GatewayException(ErrorKind.InvalidRequest, text),
            "AccessDeniedException" => new GatewayException(ErrorKind.PermissionDenied, text),
            "UnauthorizedException" or "ExpiredTokenException" or "UnrecognizedClientException"
                => new GatewayException(ErrorKind.UpstreamLogin, text),
            "ResourceNotFoundException" => new GatewayException(ErrorKind.NotFound, text),
            "InternalServerException" or "InternalFailure" or "InternalError" or "ServiceUnavailableException"
                => new GatewayException(ErrorKind.UpstreamUnavailable, text),
            // Anything else broke the upstream's answer; 502 tells the client the fault is behind us.
            _ => new GatewayException(ErrorKind.UpstreamUnavailable, text, status: 502),
        };
    }

    /// <summary>Reasons that mean the account's quota is spent until a reset, not a momentary throttle.</summary>
    public static bool IsQuotaReason(string? reason) =>
        reason is "MONTHLY_REQUEST_COUNT" or "DAILY_REQUEST_COUNT" or "OVERAGE_REQUEST_LIMIT_EXCEEDED" or "CONVERSATION_LIMIT_EXCEEDED";

    /// <summary>Kiro's way of saying the access token must be refreshed (kiro.md §2).</summary>
    public static bool IsInvalidBearer(int status, string? message) =>
        status is 401 or 403 && message is not null && message.Contains("bearer token", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// An HTTP failure of a Kiro call. The status decides the kind (the reason refines it: a 429 that
    /// carries MONTHLY_REQUEST_COUNT is a spent quota, not a throttle), and the caller always gets the
    /// upstream's own message — never a 200.
    /// </summary>
    public static GatewayException FromHttp(int status, ReadOnlySpan<byte> body, TimeSpan? retryAfter)
    {
        var (message, reason) = ParseBody(body);
        var text = $"Kiro answered {status}" + (reason is null ? "" : $" ({reason})") + $": {message ?? "(no message)"}";
        var quota = reason is "MONTHLY_REQUEST_COUNT" or "DAILY_REQUEST_COUNT" or "OVERAGE_REQUEST_LIMIT_EXCEEDED" or "CONVERSATION_LIMIT_EXCEEDED";
        return status switch
        {
            402 => new GatewayException(ErrorKind.QuotaExceeded, text, 429, retryAfter),
            429 => new GatewayException(quota ? ErrorKind.QuotaExceeded : ErrorKind.RateLimited, text, 429, retryAfter),
            400 when message is not null && message.Contains("too long", StringComparison.OrdinalIgnoreCase)
                => GatewayException.ContextTooLong(null, null, text),
            400 or 404 or 413 or 422 => new GatewayException(ErrorKind.InvalidRequest, text, 400),
            401 or 403 when IsInvalidBearer(status, message) => new GatewayException(ErrorKind.UpstreamLogin,
                $"Kiro refused the login even after a token refresh; run `gapura login kiro`. {text}", 503),
            401 or 403 => new GatewayException(ErrorKind.PermissionDenied, text, 403),
            504 => new GatewayException(ErrorKind.Timeout, text, 504, retryAfter),
            >= 500 => new GatewayException(ErrorKind.UpstreamUnavailable, text, 503, retryAfter),
            _ => new GatewayException(ErrorKind.UpstreamUnavailable, text, 502),
        };
    }

    /// <summary>Reads <c>{"message","reason"}</c> (either casing) from a body that may also be plain text.</summary>
    public static (string? Message, string? Reason) ParseBody(ReadOnlySpan<byte> body)
    {
        var trimmed = body.Trim(" \t\r\n"u8);
        if (trimmed.IsEmpty) return (null, null);
        if (trimmed[0] != (byte)'{') return (System.Text.Encoding.UTF8.GetString(trimmed), null);
        try
        {
            var reader = new Utf8JsonReader(trimmed);
            using var doc = JsonDocument.ParseValue(ref reader);
            string? message = null, reason = null;
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String) continue;
                if (p.Name.Equals("message", StringComparison.OrdinalIgnoreCase)) message = p.Value.GetString();
                else if (p.Name.Equals("reason", StringComparison.OrdinalIgnoreCase)) reason = p.Value.GetString();
            }
            return (message, reason);
        }
        catch (JsonException)
        {
            return (System.Text.Encoding.UTF8.GetString(trimmed), null);
        }
    }

    // Types sometimes arrive qualified ("com.amazon.aws.codewhisperer#ThrottlingException").
    private static string Normalise(string? type)
    {
        if (string.IsNullOrEmpty(type)) return "";
        int hash = type.LastIndexOf('#');
        var name = hash >= 0 ? type[(hash + 1)..] : type;
        int colon = name.IndexOf(':');
        return colon >= 0 ? name[..colon] : name;
    }

    private static string Describe(string? type, string? reason, string? message)
    {
        var head = string.IsNullOrEmpty(type) ? "Kiro error" : $"Kiro {Normalise(type)}";
        if (!string.IsNullOrEmpty(reason)) head += $" ({reason})";
        return string.IsNullOrEmpty(message) ? head : $"{head}: {message}";
    }
}
