namespace Gapura.Routing;

/// <summary>
/// A routing setting that cannot be used (an unknown profile, task or rule field, a regular expression that does not
/// compile, a model no upstream offers). <see cref="Field"/> names the setting the way the caller wrote it
/// (<c>profiles.fast.model</c>, <c>rules[2].lastUserText</c>) so the admin API, the CLI and start-up can point at it.
/// </summary>
internal sealed class RoutingConfigException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;

    /// <summary>A profile name that names no profile, with the ones that exist.</summary>
    public static RoutingConfigException NoProfile(string field, string name, IEnumerable<string> profiles)
        => new(field, $"{field}: no profile is named '{name}' (profiles: {string.Join(", ", profiles.Order(StringComparer.Ordinal))}).");
}
