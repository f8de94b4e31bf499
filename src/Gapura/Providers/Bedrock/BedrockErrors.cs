using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.Bedrock;

/// <summary>
/// Bedrock's failures → <see cref="GatewayException"/>. HTTP errors carry the type in <c>x-amzn-ErrorType</c>
/// (<c>ThrottlingException:http://internal.amazon.com/…</c>) and <c>{"message"}</c> in the body; stream
/// exceptions carry it in <c>:exception-type</c> in lower camel case (<c>throttlingException</c>).
/// The upstream's own message always reaches the caller.
/// </summary>
internal static class BedrockErrors
{
    public static GatewayException FromHttp(int status, string? errorType, ReadOnlySpan<byte> body, TimeSpan? retryAfter)
    {
        var type = Normalise(errorType);
        var message = ParseMessage(body);
        var text = $"Bedrock answered {status}" + (type.Length > 0 ? $" {type}" : "") + $": {message ?? "(no message)"}";
        return status switch
        {
            429 => new GatewayException(type == "ServiceQuotaExceededException" ? ErrorKind.QuotaExceeded : ErrorKind.RateLimited, text, 429, retryAfter),
            400 when type == "ValidationException" && message is not null && IsContextOverflow(message)
                => GatewayException.ContextTooLong(null, null, text),
            400 or 413 or 422 => new GatewayException(ErrorKind.InvalidRequest, text, 400),
            404 => new GatewayException(ErrorKind.NotFound, text, 404),
            // Bad keys are the account owner's to fix, not the caller's request: not a 401 they would read as
            // "your gateway key is invalid". A user's own login is named by AccountFallback.WithSecretAsync.
            401 or 403 when type is "UnrecognizedClientException" or "ExpiredTokenException" or "InvalidSignatureException" || message?.Contains("signature", StringComparison.OrdinalIgnoreCase) == true
                => new GatewayException(ErrorKind.UpstreamLogin, $"Bedrock refused the AWS credentials (the gateway's Providers:Bedrock keys or profile, or a user's own login). {text}", 503),
            401 or 403 => new GatewayException(ErrorKind.PermissionDenied, text, 403),
            // A model that failed while answering: Bedrock's own 424 is worth passing on as a bad gateway.
            424 => new GatewayException(ErrorKind.UpstreamUnavailable, text, 502),
            408 or 504 => new GatewayException(ErrorKind.Timeout, text, 504, retryAfter),
            >= 500 => new GatewayException(ErrorKind.UpstreamUnavailable, text, 503, retryAfter),
            _ => new GatewayException(ErrorKind.UpstreamUnavailable, text, 502),
        };
    }

    /// <summary>An <c>exception</c> frame of ConverseStream.</summary>
    public static GatewayException FromStream(string? exceptionType, ReadOnlySpan<byte> payload)
    {
        var type = Normalise(exceptionType);
        var message = ParseMessage(payload);
        var text = $"Bedrock {type}: {message ?? "(no message)"}";
        return type.ToLowerInvariant() switch
        {
            "throttlingexception" => new GatewayException(ErrorKind.RateLimited, text, 429),
            "servicequotaexceededexception" => new GatewayException(ErrorKind.QuotaExceeded, text, 429),
            "validationexception" when message is not null && IsContextOverflow(message)
                => GatewayException.ContextTooLong(null, null, text),
            "validationexception" => new GatewayException(ErrorKind.InvalidRequest, text, 400),
            "accessdeniedexception" => new GatewayException(ErrorKind.PermissionDenied, text, 403),
            "resourcenotfoundexception" => new GatewayException(ErrorKind.NotFound, text, 404),
            "serviceunavailableexception" or "internalserverexception" => new GatewayException(ErrorKind.UpstreamUnavailable, text, 503),
            "modeltimeoutexception" => new GatewayException(ErrorKind.Timeout, text, 504),
            // modelStreamErrorException and anything unknown: the answer broke behind us.
            _ => new GatewayException(ErrorKind.UpstreamUnavailable, text, 502),
        };
    }

    private static bool IsContextOverflow(string message)
        => message.Contains("too long", StringComparison.OrdinalIgnoreCase) || message.Contains("context window", StringComparison.OrdinalIgnoreCase)
           || message.Contains("Input is too long", StringComparison.OrdinalIgnoreCase);

    /// <summary><c>ThrottlingException:http://…</c> or <c>com.amazon…#ThrottlingException</c> → <c>ThrottlingException</c>.</summary>
    public static string Normalise(string? type)
    {
        if (string.IsNullOrEmpty(type)) return "";
        var colon = type.IndexOf(':');
        var name = colon >= 0 ? type[..colon] : type;
        var hash = name.LastIndexOf('#');
        return hash >= 0 ? name[(hash + 1)..] : name;
    }

    public static string? ParseMessage(ReadOnlySpan<byte> body)
    {
        var trimmed = body.Trim(" \t\r\n"u8);
        if (trimmed.IsEmpty) return null;
        if (trimmed[0] != (byte)'{') return System.Text.Encoding.UTF8.GetString(trimmed);
        try
        {
            var reader = new Utf8JsonReader(trimmed);
            using var doc = JsonDocument.ParseValue(ref reader);
            foreach (var p in doc.RootElement.EnumerateObject())
                if (p.Name.Equals("message", StringComparison.OrdinalIgnoreCase) && p.Value.ValueKind == JsonValueKind.String)
                    return p.Value.GetString();
            return System.Text.Encoding.UTF8.GetString(trimmed);
        }
        catch (JsonException)
        {
            return System.Text.Encoding.UTF8.GetString(trimmed);
        }
    }
}
