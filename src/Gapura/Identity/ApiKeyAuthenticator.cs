using Gapura.Api;

namespace Gapura.Identity;

/// <summary>
/// Authenticates a request from its API key — <c>Authorization: Bearer</c> or <c>x-api-key</c>, never the
/// query string — against the in-memory <see cref="ApiKeyIndex"/>: no database round trip per request.
/// </summary>
internal sealed class ApiKeyAuthenticator(ApiKeyIndex index, LastUsedRecorder lastUsed, TimeProvider time)
{
    public static string? ReadKey(HttpRequest request)
    {
        if (request.Headers.TryGetValue("x-api-key", out var apiKey) && !string.IsNullOrWhiteSpace(apiKey))
            return apiKey.ToString().Trim();
        var auth = request.Headers.Authorization.ToString();
        const string bearer = "Bearer ";
        if (auth.StartsWith(bearer, StringComparison.OrdinalIgnoreCase)) return auth[bearer.Length..].Trim();
        return null;
    }

    /// <summary><see cref="ReadKey"/> without allocating: a view into the header value.</summary>
    private static ReadOnlySpan<char> KeySpan(HttpRequest request)
    {
        var apiKey = request.Headers["x-api-key"].ToString();
        if (!string.IsNullOrWhiteSpace(apiKey)) return apiKey.AsSpan().Trim();
        var auth = request.Headers.Authorization.ToString().AsSpan();
        return auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? auth["Bearer ".Length..].Trim() : default;
    }

    public Caller? Authenticate(HttpRequest request)
    {
        if (index.Find(KeySpan(request)) is not { } entry) return null;
        var now = time.GetUtcNow();
        // The index drops expired keys on reload; this catches one that expired since.
        if (entry.ExpiresAt is { } expires && expires <= now) return null;
        if (entry.Caller.KeyId is { } id) lastUsed.Touch(id, now);
        return entry.Caller;
    }
}
