using System.Security.Cryptography;
using System.Text;

namespace Gapura.Providers.Kiro;

/// <summary>
/// Kiro refuses tool names longer than 64 characters, while MCP clients routinely build longer ones
/// (<c>mcp__server__long_tool_name…</c>). Long names get an alias that is a pure function of the name,
/// so the same tool keeps the same alias across turns and across gateway instances without shared state;
/// the response side maps the alias back with the map in <see cref="KiroRequest.ToolNameAliases"/>.
/// </summary>
internal static class ToolNameAliases
{
    public const int MaxLength = 64;

    // 8 hex digits = 32 bits of SHA-256: collisions need two long names sharing their first 55 characters
    // and their hash prefix, which a single request's tool list will not produce.
    private const int HashChars = 8;

    /// <summary>The name as Kiro must see it: unchanged when short enough, else prefix + "_" + short hash.</summary>
    public static string For(string name)
    {
        if (name.Length <= MaxLength) return name;

        var prefixLength = MaxLength - HashChars - 1;
        // Never cut a surrogate pair in half: the alias must stay valid UTF-16 to be encodable.
        if (char.IsHighSurrogate(name[prefixLength - 1])) prefixLength--;

        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(name), hash);
        return string.Concat(name.AsSpan(0, prefixLength), "_", Convert.ToHexStringLower(hash[..(HashChars / 2)]));
    }

    /// <summary>The client's original name for a name Kiro produced (an alias or an unaliased name).</summary>
    public static string Original(IReadOnlyDictionary<string, string> aliases, string name)
        => aliases.TryGetValue(name, out var original) ? original : name;
}
