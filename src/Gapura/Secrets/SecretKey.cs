using System.Security.Cryptography;
using System.Text;

namespace Gapura.Secrets;

/// <summary>
/// A 256-bit AES key and its public id. The id is a truncated hash of the key, so it names the key in
/// stored values and messages without revealing anything usable about it.
/// </summary>
internal sealed class SecretKey
{
    public const int Size = 32;

    private readonly byte[] _key;

    public SecretKey(ReadOnlySpan<byte> key)
    {
        if (key.Length != Size) throw new ArgumentException($"A secrets key is {Size} bytes; this one has {key.Length}.", nameof(key));
        _key = key.ToArray();
        Id = ComputeId(_key);
    }

    /// <summary>Eight URL-safe characters (48 bits): plenty to tell a handful of keys apart.</summary>
    public string Id { get; }

    public static SecretKey Generate() => new(RandomNumberGenerator.GetBytes(Size));

    /// <summary>Parses a base64 key; <paramref name="source"/> names the setting in the error, the value never appears.</summary>
    public static SecretKey Parse(string text, string source)
    {
        byte[] bytes;
        try { bytes = Convert.FromBase64String(text.Trim()); }
        catch (FormatException)
        {
            throw new SecretKeyException($"{source} is not valid base64. Expected the base64 of {Size} random bytes (e.g. `openssl rand -base64 32`).");
        }
        if (bytes.Length != Size)
            throw new SecretKeyException($"{source} decodes to {bytes.Length} bytes; a secrets key must be exactly {Size} bytes (e.g. `openssl rand -base64 32`).");
        try { return new SecretKey(bytes); }
        // Stryker disable once Statement,Block : wipes the decoded copy of the key; the key made from it is a separate copy
        finally { CryptographicOperations.ZeroMemory(bytes); }
    }

    public string ToBase64() => Convert.ToBase64String(_key);

    internal AesGcm CreateCipher() => new(_key, SecretBox.TagSize);

    /// <summary>Never the key itself, so a key that slips into a log line shows only its id.</summary>
    public override string ToString() => $"secrets key {Id}";

    private static string ComputeId(byte[] key)
    {
        Span<byte> input = stackalloc byte[32 + Size];
        var label = "gapura/secrets-key-id/v1"u8;
        label.CopyTo(input);
        key.CopyTo(input[label.Length..]);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(input[..(label.Length + Size)], hash);
        return Base64Url.Encode(hash[..6]);
    }
}

internal sealed class SecretKeyException(string message) : Exception(message);

/// <summary>RFC 4648 §5 base64url without padding.</summary>
internal static class Base64Url
{
    public static string Encode(ReadOnlySpan<byte> data)
        => Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static bool TryDecode(string text, out byte[] bytes)
    {
        var s = new StringBuilder(text.Length + 3).Append(text).Replace('-', '+').Replace('_', '/');
        s.Append('=', (4 - s.Length % 4) % 4);
        try
        {
            bytes = Convert.FromBase64String(s.ToString());
            return true;
        }
        catch (FormatException)
        {
            bytes = [];
            return false;
        }
    }
}
