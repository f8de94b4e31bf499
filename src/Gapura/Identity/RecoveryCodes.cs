using System.Security.Cryptography;
using System.Text;

namespace Gapura.Identity;

/// <summary>
/// One-time codes that stand in for the TOTP device. Ten codes of 12 base32 characters (60 random bits)
/// shown once as <c>xxxx-xxxx-xxxx</c>; stored only as SHA-256 hashes — random codes of that size
/// cannot be guessed offline, so a slow hash would buy nothing.
/// </summary>
internal static class RecoveryCodes
{
    public const int DefaultCount = 10;
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyz234567";

    public static IReadOnlyList<string> Generate(int count = DefaultCount)
    {
        var codes = new List<string>(count);
        while (codes.Count < count)
        {
            var chars = new char[12];
            for (var i = 0; i < chars.Length; i++) chars[i] = Alphabet[RandomNumberGenerator.GetInt32(Alphabet.Length)];
            var code = $"{new string(chars, 0, 4)}-{new string(chars, 4, 4)}-{new string(chars, 8, 4)}";
            if (!codes.Contains(code)) codes.Add(code);
        }
        return codes;
    }

    /// <summary>Hash of a code as typed: case, spaces and dashes do not matter.</summary>
    public static string Hash(string code)
    {
        var normal = new string((code ?? "").Where(c => c is not (' ' or '-')).Select(char.ToLowerInvariant).ToArray());
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("gapura-recovery:" + normal)));
    }
}
