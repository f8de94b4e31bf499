using System.Security.Cryptography;
using System.Text;

namespace Gapura.Secrets;

/// <summary>
/// Seals secrets at rest with AES-256-GCM. A sealed value reads <c>gp1:&lt;key id&gt;:&lt;base64url(nonce ‖
/// ciphertext ‖ tag)&gt;</c>: self-describing, so any key in the ring can open it and rotation can find
/// values under an old key with a plain SQL prefix test. The associated data binds a value to its purpose
/// (e.g. <c>upstream_login:42</c>): moved to another row it fails to open instead of impersonating it.
/// </summary>
internal sealed class SecretBox(KeyRing ring)
{
    public const string Version = "gp1";
    public const int NonceSize = 12;
    public const int TagSize = 16;

    /// <summary>Where the key id starts in a sealed value (0-based) and how long it is.</summary>
    public const int KeyIdOffset = 4;
    public const int KeyIdLength = 8;

    public KeyRing Ring { get; } = ring;

    public string CurrentKeyId => Ring.Current.Id;

    public string Seal(string plaintext, string purpose)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        var key = Ring.Current;
        var data = Encoding.UTF8.GetBytes(plaintext);
        var payload = new byte[NonceSize + data.Length + TagSize];
        var nonce = payload.AsSpan(0, NonceSize);
        // Random 96-bit nonces: safe for far more values than a gateway will ever seal under one key.
        RandomNumberGenerator.Fill(nonce);
        using (var aes = key.CreateCipher())
            aes.Encrypt(nonce, data, payload.AsSpan(NonceSize, data.Length), payload.AsSpan(NonceSize + data.Length), AssociatedData(key.Id, purpose));
        // Stryker disable once Statement : wipes a copy of the plaintext from memory; nothing a caller can read changes
        CryptographicOperations.ZeroMemory(data);
        return $"{Version}:{key.Id}:{Base64Url.Encode(payload)}";
    }

    public string Open(string sealedValue, string purpose)
    {
        ArgumentNullException.ThrowIfNull(sealedValue);
        var keyId = KeyIdOf(sealedValue)
            ?? throw new SecretDecryptionException(SecretFailure.Malformed, $"The stored value for {purpose} is not a sealed secret (expected '{Version}:<key id>:…').");
        var key = Ring.Find(keyId)
            ?? throw new SecretDecryptionException(SecretFailure.UnknownKey,
                $"The stored value for {purpose} was sealed under key {keyId}, which is not in the key ring ({Ring}). " +
                "Set Secrets:Key to that key, or list it in Secrets:PreviousKeys.");
        if (!Base64Url.TryDecode(sealedValue[(KeyIdOffset + KeyIdLength + 1)..], out var payload) || payload.Length < NonceSize + TagSize)
            throw new SecretDecryptionException(SecretFailure.Malformed, $"The stored value for {purpose} is truncated or not valid base64url.");
        var length = payload.Length - NonceSize - TagSize;
        var plain = new byte[length];
        try
        {
            using var aes = key.CreateCipher();
            aes.Decrypt(payload.AsSpan(0, NonceSize), payload.AsSpan(NonceSize, length), payload.AsSpan(NonceSize + length), plain, AssociatedData(key.Id, purpose));
            return Encoding.UTF8.GetString(plain);
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new SecretDecryptionException(SecretFailure.Tampered,
                $"The stored value for {purpose} failed its integrity check: it was altered, or belongs to another row.");
        }
        finally
            // Stryker disable once Statement,Block : wipes a copy of the plaintext from memory; the string returned is already made
        {
            CryptographicOperations.ZeroMemory(plain);
        }
    }

    /// <summary>The key id a sealed value names, or null when the value is not in the sealed format.</summary>
    public static string? KeyIdOf(string value)
    {
        if (value.Length < KeyIdOffset + KeyIdLength + 1 || !value.StartsWith(Version + ":", StringComparison.Ordinal) || value[KeyIdOffset + KeyIdLength] != ':')
            return null;
        return value.Substring(KeyIdOffset, KeyIdLength);
    }

    public bool IsUnderCurrentKey(string sealedValue) => KeyIdOf(sealedValue) == Ring.Current.Id;

    private static byte[] AssociatedData(string keyId, string purpose) => Encoding.UTF8.GetBytes($"{Version}:{keyId}:{purpose}");
}

internal enum SecretFailure
{
    Malformed,
    UnknownKey,
    Tampered,
}

/// <summary>A stored secret could not be opened. Never carries plaintext or key material.</summary>
internal sealed class SecretDecryptionException(SecretFailure failure, string message) : Exception(message)
{
    public SecretFailure Failure { get; } = failure;
}
