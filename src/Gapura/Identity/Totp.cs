using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;

namespace Gapura.Identity;

/// <summary>
/// RFC 6238 time-based one-time passwords: HMAC-SHA1, 6 digits, 30-second steps — what every
/// authenticator app does by default. A code is accepted one step either side of now to absorb clock
/// drift; <see cref="Verify"/> returns the step it matched so the caller can make it single-use
/// (<see cref="Storage.IUserRepository.TryUseTotpStepAsync"/>).
/// </summary>
internal static class Totp
{
    public const int Digits = 6;
    public const int StepSeconds = 30;
    public const int SecretBytes = 20;

    public static string GenerateSecret() => Base32.Encode(RandomNumberGenerator.GetBytes(SecretBytes));

    public static long StepAt(DateTimeOffset time) => time.ToUnixTimeSeconds() / StepSeconds;

    public static string Compute(ReadOnlySpan<byte> secret, long step, int digits = Digits)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(digits, 6);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(digits, 9);
        Span<byte> counter = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(counter, step);
        Span<byte> mac = stackalloc byte[20];
        HMACSHA1.HashData(secret, counter, mac);
        // RFC 4226 §5.3 dynamic truncation.
        var offset = mac[19] & 0x0f;
        var binary = (BinaryPrimitives.ReadInt32BigEndian(mac[offset..]) & 0x7fffffff) % Pow10(digits);
        return binary.ToString(CultureInfo.InvariantCulture).PadLeft(digits, '0');
    }

    public static string Compute(string base32Secret, DateTimeOffset time, int digits = Digits)
        => Compute(Base32.Decode(base32Secret), StepAt(time), digits);

    /// <summary>
    /// The time step <paramref name="code"/> belongs to, within ±<paramref name="window"/> steps of
    /// <paramref name="now"/>, or null. Steps at or before <paramref name="lastUsedStep"/> are refused, so a
    /// code seen once (or an older one) cannot be replayed. Every candidate is compared, in constant time.
    /// </summary>
    public static long? Verify(string base32Secret, string? code, DateTimeOffset now, long? lastUsedStep = null, int window = 1, int digits = Digits)
    {
        var typed = (code ?? "").Replace(" ", "", StringComparison.Ordinal);
        // Stryker disable once Logical,Linq : a quick refusal only; a code of another length or with a non-digit never equals a computed code either
        if (typed.Length != digits || !typed.All(char.IsAsciiDigit)) return null;
        var secret = Base32.Decode(base32Secret);
        var current = StepAt(now);
        long? match = null;
        for (var step = current - window; step <= current + window; step++)
        {
            var expected = Compute(secret, step, digits);
            var equal = CryptographicOperations.FixedTimeEquals(
                System.Text.Encoding.ASCII.GetBytes(expected), System.Text.Encoding.ASCII.GetBytes(typed));
            if (equal && (lastUsedStep is not { } last || step > last)) match ??= step;
        }
        // Stryker disable once Statement : wipes the decoded secret from memory; the answer is already decided
        CryptographicOperations.ZeroMemory(secret);
        return match;
    }

    /// <summary>The <c>otpauth://</c> URI an authenticator app scans (Key Uri Format).</summary>
    public static string OtpAuthUri(string base32Secret, string account, string issuer = "Gapura")
    {
        var label = Uri.EscapeDataString(issuer) + ":" + Uri.EscapeDataString(account);
        return $"otpauth://totp/{label}?secret={base32Secret}&issuer={Uri.EscapeDataString(issuer)}" +
               $"&algorithm=SHA1&digits={Digits}&period={StepSeconds}";
    }

    private static int Pow10(int n)
    {
        var v = 1;
        for (var i = 0; i < n; i++) v *= 10;
        return v;
    }
}
