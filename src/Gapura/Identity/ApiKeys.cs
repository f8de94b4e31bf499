using System.Security.Cryptography;
using System.Text;
using Gapura.Secrets;

namespace Gapura.Identity;

/// <summary>A freshly made client key: <see cref="Key"/> is shown once and never stored.</summary>
internal sealed record GeneratedApiKey(string Key, string Prefix, string Hash)
{
    /// <summary>Keeps the key out of logs even if the record is printed whole.</summary>
    public override string ToString() => $"GeneratedApiKey {{ Prefix = {Prefix} }}";
}

/// <summary>
/// Client API keys: <c>sk-gp-</c> followed by 43 URL-safe characters (32 random bytes). Stored as a
/// SHA-256 hash with the first <see cref="PrefixLength"/> characters in clear so people can tell keys
/// apart. A fast hash is right here, unlike for passwords: 256 random bits cannot be brute-forced however
/// fast the hash, and the request path checks a key on every call.
/// </summary>
internal static class ApiKeys
{
    public const string Marker = "sk-gp-";
    public const int RandomBytes = 32;

    /// <summary><c>sk-gp-</c> and six random characters: 36 bits, enough to name a key among a team's.</summary>
    public const int PrefixLength = 12;

    public static GeneratedApiKey Generate()
    {
        var key = Marker + Base64Url.Encode(RandomNumberGenerator.GetBytes(RandomBytes));
        return new GeneratedApiKey(key, PrefixOf(key), Hash(key));
    }

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    // Stryker disable once Equality : a key of exactly PrefixLength characters is its own prefix either way
    public static string PrefixOf(string key) => key.Length <= PrefixLength ? key : key[..PrefixLength];

    /// <summary>Whether <paramref name="text"/> has the shape of a Gapura key (not whether it is valid).</summary>
    public static bool LooksLikeKey(string? text)
        => text is not null && text.StartsWith(Marker, StringComparison.Ordinal) && text.Length >= Marker.Length + 32
           && text.AsSpan(Marker.Length).IndexOfAnyExcept("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") < 0;
}
