namespace Gapura.Identity;

/// <summary>RFC 4648 base32 (A–Z, 2–7), the alphabet authenticator apps expect for TOTP seeds.</summary>
internal static class Base32
{
    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    /// <summary>Encodes without padding: otpauth URIs and authenticator apps do without it.</summary>
    public static string Encode(ReadOnlySpan<byte> data)
    {
        var chars = new char[(data.Length * 8 + 4) / 5];
        int buffer = 0, bits = 0, n = 0;
        foreach (var b in data)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                chars[n++] = Alphabet[(buffer >> (bits - 5)) & 31];
                bits -= 5;
            }
        }
        if (bits > 0) chars[n++] = Alphabet[(buffer << (5 - bits)) & 31];
        return new string(chars, 0, n);
    }

    /// <summary>Decodes, ignoring case, spaces, dashes and padding (people type seeds in groups).</summary>
    public static byte[] Decode(string text)
    {
        var output = new List<byte>(text.Length * 5 / 8);
        int buffer = 0, bits = 0;
        foreach (var raw in text)
        {
            if (raw is ' ' or '-' or '=') continue;
            var value = Alphabet.IndexOf(char.ToUpperInvariant(raw));
            if (value < 0) throw new FormatException($"'{raw}' is not a base32 character.");
            buffer = (buffer << 5) | value;
            bits += 5;
            if (bits >= 8)
            {
                output.Add((byte)(buffer >> (bits - 8)));
                bits -= 8;
            }
        }
        return [.. output];
    }
}
