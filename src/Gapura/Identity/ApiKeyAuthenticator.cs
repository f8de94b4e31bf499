using System.Security.Cryptography;
using System.Text;
using Gapura.Api;
using Microsoft.Extensions.Options;

namespace Gapura.Identity;

/// <summary>Who is calling. Per-user identities arrive with the multi-user work; for now one gateway key.</summary>
public sealed record Caller(string Name);

/// <summary>
/// Checks the caller's API key from <c>Authorization: Bearer</c> or <c>x-api-key</c> — never from the
/// query string. Comparison is constant-time over SHA-256 digests so neither content nor length leaks.
/// </summary>
public sealed class ApiKeyAuthenticator
{
    private readonly byte[]? _expectedHash;

    public ApiKeyAuthenticator(IOptions<GatewayOptions> options)
    {
        var key = options.Value.ApiKey;
        if (!string.IsNullOrEmpty(key)) _expectedHash = SHA256.HashData(Encoding.UTF8.GetBytes(key));
    }

    public static string? ReadKey(HttpRequest request)
    {
        if (request.Headers.TryGetValue("x-api-key", out var apiKey) && !string.IsNullOrWhiteSpace(apiKey))
            return apiKey.ToString().Trim();
        var auth = request.Headers.Authorization.ToString();
        const string bearer = "Bearer ";
        if (auth.StartsWith(bearer, StringComparison.OrdinalIgnoreCase)) return auth[bearer.Length..].Trim();
        return null;
    }

    public Caller? Authenticate(HttpRequest request)
    {
        var key = ReadKey(request);
        if (key is null || _expectedHash is null) return null;
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(key), hash);
        return CryptographicOperations.FixedTimeEquals(hash, _expectedHash) ? new Caller("gateway") : null;
    }
}
