using System.Text.RegularExpressions;

namespace Gapura.Providers.Kiro;

/// <summary>
/// Turns the Anthropic-style names clients send (<c>claude-sonnet-4-5-20250929</c>, <c>claude-opus-4-6[1m]</c>,
/// <c>claude-3-7-sonnet-latest</c>) into Kiro's dotted ids (<c>claude-sonnet-4.5</c>). This only normalises;
/// whether the id exists is decided by the catalog, so an unknown name is never silently mapped to <c>auto</c>.
/// </summary>
internal static partial class KiroModelNames
{
    public static string Normalize(string clientName)
    {
        var name = clientName.Trim().ToLowerInvariant();
        name = Suffix().Replace(name, "");          // [1m] context marker
        name = DateOrLatest().Replace(name, "");    // -20250929, -latest
        name = VersionDash().Replace(name, "$1.$2"); // 4-5 → 4.5, 3-7 → 3.7
        return name;
    }

    [GeneratedRegex(@"\[[^\]]*\]$")]
    private static partial Regex Suffix();

    [GeneratedRegex(@"-(\d{8}|latest)$")]
    private static partial Regex DateOrLatest();

    // Only a single-digit minor after a dash is a version: "4-5" yes, a date was stripped above.
    [GeneratedRegex(@"(\d+)-(\d)(?=$|-)")]
    private static partial Regex VersionDash();
}
