using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace Gapura.Providers.Kiro.Auth;

internal sealed record DesktopRefreshRequest(string RefreshToken);

internal sealed record DesktopRefreshResponse(string? AccessToken, string? RefreshToken, long? ExpiresIn, string? ExpiresAt, string? ProfileArn);

internal sealed record OidcRegisterRequest(string ClientName, string ClientType, string[] Scopes);

internal sealed record OidcRegisterResponse(string? ClientId, string? ClientSecret, long? ClientSecretExpiresAt);

internal sealed record OidcDeviceAuthorizationRequest(string ClientId, string ClientSecret, string StartUrl);

internal sealed record OidcDeviceAuthorizationResponse(
    string? DeviceCode, string? UserCode, string? VerificationUri, string? VerificationUriComplete, int? ExpiresIn, int? Interval);

internal sealed record OidcTokenRequest(string ClientId, string ClientSecret, string GrantType, string? DeviceCode = null, string? RefreshToken = null);

internal sealed record OidcTokenResponse(string? AccessToken, string? RefreshToken, long? ExpiresIn, string? TokenType);

internal sealed record OidcErrorResponse(
    [property: JsonPropertyName("error")] string? Error,
    [property: JsonPropertyName("error_description")] string? ErrorDescription,
    [property: JsonPropertyName("message")] string? Message);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    PropertyNameCaseInsensitive = true)]
[JsonSerializable(typeof(DesktopRefreshRequest))]
[JsonSerializable(typeof(DesktopRefreshResponse))]
[JsonSerializable(typeof(OidcRegisterRequest))]
[JsonSerializable(typeof(OidcRegisterResponse))]
[JsonSerializable(typeof(OidcDeviceAuthorizationRequest))]
[JsonSerializable(typeof(OidcDeviceAuthorizationResponse))]
[JsonSerializable(typeof(OidcTokenRequest))]
[JsonSerializable(typeof(OidcTokenResponse))]
[JsonSerializable(typeof(OidcErrorResponse))]
internal sealed partial class KiroAuthJsonContext : JsonSerializerContext;

/// <summary>Timestamps as the Kiro IDE (ISO-8601, milliseconds) and kiro-cli (RFC 3339, up to nanoseconds) write them.</summary>
internal static class KiroTime
{
    public static string Format(DateTimeOffset value)
        => value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    public static bool TryParse(JsonNode? node, out DateTimeOffset value)
    {
        value = default;
        if (node is not JsonValue json) return false;
        if (json.TryGetValue<string>(out var text)) return TryParse(text, out value);
        if (json.TryGetValue<double>(out var number))
        {
            // Epoch seconds or milliseconds; nothing this century has more than 11 digits of seconds.
            value = number > 1e11 ? DateTimeOffset.FromUnixTimeMilliseconds((long)number) : DateTimeOffset.FromUnixTimeSeconds((long)number);
            return true;
        }
        return false;
    }

    public static bool TryParse(string? text, out DateTimeOffset value)
    {
        value = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        // .NET reads at most seven fractional digits; Rust's time crate writes nine.
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        if (dot > 0)
        {
            var end = dot + 1;
            while (end < text.Length && char.IsAsciiDigit(text[end])) end++;
            if (end - dot - 1 > 7) text = text[..(dot + 8)] + text[end..];
        }
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value);
    }
}
