namespace Gapura.Routing.Profiles;

/// <summary>
/// When routing applies (<c>Routing:Mode</c>, overridable per user and per key): <c>virtual</c> routes only requests
/// that name a profile or <c>auto</c>; <c>override</c> classifies and routes every request whatever model it names;
/// <c>off</c> serves every model as named and classifies nothing.
/// </summary>
internal static class RoutingModes
{
    public const string Virtual = "virtual";
    public const string Override = "override";
    public const string Off = "off";

    public static readonly IReadOnlyList<string> All = [Virtual, Override, Off];

    /// <summary>The model name that asks the gateway to classify the request and pick the profile.</summary>
    public const string AutoModel = "auto";

    public static string? Find(string? mode)
    {
        if (string.IsNullOrWhiteSpace(mode)) return null;
        foreach (var m in All) if (string.Equals(m, mode.Trim(), StringComparison.OrdinalIgnoreCase)) return m;
        return null;
    }

    public static string Valid(string? mode, string field)
        => Find(mode) ?? throw new RoutingConfigException(field, $"{field}: '{mode}' is not a routing mode; use one of {string.Join(", ", All)}.");
}
