using System.Text.RegularExpressions;

namespace Gapura.Routing;

/// <summary>A Claude model's family and version, whatever the provider calls it.</summary>
internal readonly record struct ModelVersion(string Family, int Major, int Minor) : IComparable<ModelVersion>
{
    public int CompareTo(ModelVersion other) => Major != other.Major ? Major.CompareTo(other.Major) : Minor.CompareTo(other.Minor);

    public override string ToString() => $"claude-{Family}-{Major}.{Minor}";
}

/// <summary>
/// Reads the family (opus, sonnet, haiku) and version out of every spelling of a Claude model id: Kiro's
/// <c>claude-sonnet-4.5</c>, Anthropic's <c>claude-sonnet-4-5-20250929</c> and <c>claude-3-7-sonnet-latest</c>,
/// Bedrock's <c>us.anthropic.claude-sonnet-4-5-20250929-v1:0</c>, Copilot's <c>claude-sonnet-4.5</c>, the seed's
/// <c>claude-sonnet-3-7</c>. Routing uses it to pick "the best Sonnet the caller's upstreams offer" and to find a
/// model a profile names in another spelling.
/// </summary>
internal static partial class ModelFamilies
{
    public const string Opus = "opus";
    public const string Sonnet = "sonnet";
    public const string Haiku = "haiku";

    /// <summary>A bare family name (<c>claude-sonnet</c>, <c>sonnet</c>) → the family; otherwise null.</summary>
    public static string? BareFamily(string name)
    {
        var n = name.Trim().ToLowerInvariant();
        if (n.StartsWith("claude-", StringComparison.Ordinal)) n = n["claude-".Length..];
        return n is Opus or Sonnet or Haiku ? n : null;
    }

    // Catalog ids are few and asked about on every routed request: parse each once. Bounded against a flood of client names.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, ModelVersion?> Parsed = new(StringComparer.Ordinal);

    public static ModelVersion? Parse(string modelId)
    {
        if (Parsed.TryGetValue(modelId, out var known)) return known;
        var version = ParseUncached(modelId);
        if (Parsed.Count < 4096) Parsed[modelId] = version;
        return version;
    }

    private static ModelVersion? ParseUncached(string modelId)
    {
        var id = modelId.Trim().ToLowerInvariant();
        var slash = id.LastIndexOf('/');
        if (slash >= 0) id = id[(slash + 1)..];
        var claude = id.IndexOf("claude-", StringComparison.Ordinal);
        if (claude < 0) return null;
        id = id[claude..];
        var m = FamilyFirst().Match(id);
        if (m.Success) return new ModelVersion(m.Groups["f"].Value, int.Parse(m.Groups["major"].Value), Minor(m.Groups["minor"]));
        m = VersionFirst().Match(id);
        if (m.Success) return new ModelVersion(m.Groups["f"].Value, int.Parse(m.Groups["major"].Value), Minor(m.Groups["minor"]));
        return null;
    }

    /// <summary>The newest model of <paramref name="family"/> among <paramref name="models"/>; null when none.</summary>
    public static ModelInfo? Newest(string family, IEnumerable<ModelInfo> models)
    {
        ModelInfo? best = null;
        ModelVersion bestVersion = default;
        foreach (var m in models)
        {
            if (Parse(m.Id) is not { } v || v.Family != family) continue;
            if (best is null || v.CompareTo(bestVersion) > 0) { best = m; bestVersion = v; }
        }
        return best;
    }

    /// <summary>A model of the same family and version as <paramref name="name"/> among <paramref name="models"/>.</summary>
    public static ModelInfo? SameVersion(string name, IEnumerable<ModelInfo> models)
    {
        if (Parse(name) is not { } wanted) return null;
        foreach (var m in models)
            if (Parse(m.Id) is { } v && v == wanted) return m;
        return null;
    }

    // A one- or two-digit minor only: "4-5" is 4.5, "4-20250514" is 4 with a date.
    private static int Minor(Group g) => g.Success ? int.Parse(g.Value) : 0;

    [GeneratedRegex(@"^claude-(?<f>opus|sonnet|haiku)-(?<major>\d{1,2})(?:[.-](?<minor>\d{1,2})(?!\d))?")]
    private static partial Regex FamilyFirst();

    [GeneratedRegex(@"^claude-(?<major>\d{1,2})(?:[.-](?<minor>\d{1,2}))?-(?<f>opus|sonnet|haiku)")]
    private static partial Regex VersionFirst();
}
