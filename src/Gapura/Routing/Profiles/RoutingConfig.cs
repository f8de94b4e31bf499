using System.Collections.Frozen;
using Gapura.Identity;
using Gapura.Routing.Tasks;

namespace Gapura.Routing.Profiles;

/// <summary>
/// Everything routing decides with, as one immutable snapshot: profiles, the task → profile table, the
/// classification rules, the modes and the running canaries. Built from the configuration file, overlaid with
/// what admins stored in the database (<see cref="RoutingConfigSource"/>), and swapped whole when either changes,
/// so a request reads one consistent version without locks or database reads.
/// </summary>
internal sealed class RoutingConfig
{
    /// <summary>The seed's table: primary for spec generation, task execution and review; fast for the rest.</summary>
    public static readonly FrozenDictionary<string, string> DefaultTasks = new Dictionary<string, string>
    {
        [TaskTypes.SpecGeneration] = RoutingProfile.Primary,
        [TaskTypes.TaskExecution] = RoutingProfile.Primary,
        [TaskTypes.CodeReview] = RoutingProfile.Primary,
        [TaskTypes.InteractiveChat] = RoutingProfile.Fast,
        [TaskTypes.HookActions] = RoutingProfile.Fast,
        [TaskTypes.CodeExplanation] = RoutingProfile.Fast,
        [TaskTypes.DocumentationUpdate] = RoutingProfile.Fast,
        [TaskTypes.Background] = RoutingProfile.Fast,
        [TaskTypes.LongContext] = RoutingProfile.Fast,
        [TaskTypes.Vision] = RoutingProfile.Fast,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>
    /// The profiles that exist with no configuration: the newest Claude Sonnet and Haiku the caller's upstreams
    /// offer (a bare family name is resolved per request, see <see cref="ModelFamilies"/>).
    /// </summary>
    public static readonly IReadOnlyList<RoutingProfile> DefaultProfiles =
    [
        new(RoutingProfile.Primary, null, "claude-sonnet", null, null, []),
        new(RoutingProfile.Fast, null, "claude-haiku", null, null, []),
    ];

    public static readonly RoutingConfig Empty = new()
    {
        Profiles = DefaultProfiles.ToFrozenDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase),
        ProfileSources = DefaultProfiles.ToFrozenDictionary(p => p.Name, _ => "builtin", StringComparer.OrdinalIgnoreCase),
        Tasks = DefaultTasks,
        TaskSources = DefaultTasks.ToFrozenDictionary(t => t.Key, _ => "builtin", StringComparer.Ordinal),
        Rules = TaskRules.Create([], includeBuiltIns: true, longContextTokens: 60_000),
        RulesSource = "builtin",
        Mode = RoutingModes.Virtual,
        UserModes = FrozenDictionary<long, string>.Empty,
        KeyModes = FrozenDictionary<long, string>.Empty,
        Canaries = FrozenDictionary<string, CanaryDefinition>.Empty,
    };

    public required FrozenDictionary<string, RoutingProfile> Profiles { get; init; }

    /// <summary>Where each profile comes from: builtin, config or admin.</summary>
    public required FrozenDictionary<string, string> ProfileSources { get; init; }

    /// <summary>Every task type → its profile name.</summary>
    public required FrozenDictionary<string, string> Tasks { get; init; }

    public required FrozenDictionary<string, string> TaskSources { get; init; }

    public required TaskRules Rules { get; init; }

    public required string RulesSource { get; init; }

    public bool BuiltInRules { get; init; } = true;

    public int LongContextTokens { get; init; } = 60_000;

    /// <summary>The gateway-wide mode.</summary>
    public required string Mode { get; init; }

    public required FrozenDictionary<long, string> UserModes { get; init; }

    public required FrozenDictionary<long, string> KeyModes { get; init; }

    /// <summary>Running canaries by profile name.</summary>
    public required FrozenDictionary<string, CanaryDefinition> Canaries { get; init; }

    /// <summary>The mode for this caller: the key's own, else the user's, else the gateway's.</summary>
    public string ModeFor(Caller? caller)
    {
        if (caller is null) return Mode;
        if (KeyModes.Count > 0 && caller.KeyId is { } key && KeyModes.TryGetValue(key, out var byKey)) return byKey;
        if (UserModes.Count > 0 && UserModes.TryGetValue(caller.UserId, out var byUser)) return byUser;
        return Mode;
    }

    public RoutingProfile? FindProfile(string name) => Profiles.GetValueOrDefault(name);

    public CanaryDefinition? CanaryOf(string profile) => Canaries.Count == 0 ? null : Canaries.GetValueOrDefault(profile);
}
