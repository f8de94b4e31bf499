using System.Collections.Frozen;
using System.Globalization;
using System.Text.Json;
using Gapura.Routing.Tasks;
using Gapura.Storage;

namespace Gapura.Routing.Profiles;

/// <summary>
/// Keeps <see cref="Current"/> up to date: the configuration file's <c>Routing</c> section (read once, validated at
/// start so a typo stops the gateway with the field's name), overlaid with the routing settings admins stored in the
/// database (<see cref="RoutingKeys"/>), re-read whenever the change feed says a setting changed — so every instance
/// routes alike within <c>Routing:SyncSeconds</c>.
/// </summary>
internal sealed class RoutingConfigSource : IStoreChangeListener
{
    private readonly IGapuraStore _store;
    private readonly ILogger<RoutingConfigSource> _log;
    private readonly FileLayer _file;
    private volatile RoutingConfig _current;

    public RoutingConfigSource(IGapuraStore store, IConfiguration configuration, ILogger<RoutingConfigSource> log)
    {
        _store = store;
        _log = log;
        _file = FileLayer.Read(configuration.GetSection("Routing"));
        _current = Build(_file, [], log);
    }

    public RoutingConfig Current => _current;

    public async Task ReloadAllAsync(CancellationToken ct)
        => _current = Build(_file, await _store.Settings.ListAsync(ct), _log);

    public Task ApplyAsync(IReadOnlyList<Change> changes, CancellationToken ct)
        => changes.Any(c => c.Entity == ChangeEntity.Setting) ? ReloadAllAsync(ct) : Task.CompletedTask;

    /// <summary>The configuration file's layer: what <c>Routing:*</c> says, validated.</summary>
    internal sealed record FileLayer(
        IReadOnlyList<RoutingProfile> Profiles, IReadOnlyDictionary<string, string> Tasks, IReadOnlyList<TaskRule>? Rules,
        string? Mode, bool BuiltInRules, int LongContextTokens)
    {
        public static FileLayer Read(IConfigurationSection routing)
        {
            var profiles = routing.GetSection("Profiles").GetChildren().Select(RoutingProfile.FromConfiguration).ToList();
            var tasks = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var t in routing.GetSection("Tasks").GetChildren())
            {
                var field = $"Routing:Tasks:{t.Key}";
                var task = TaskTypes.Valid(t.Key, field);
                tasks[task] = RoutingProfile.ValidName(t.Value, field);
            }
            var rulesSection = routing.GetSection("Rules");
            var rules = rulesSection.Exists() ? TaskRule.FromConfiguration(rulesSection) : null;
            var mode = routing["Mode"] is { Length: > 0 } m ? RoutingModes.Valid(m, "Routing:Mode") : null;
            var builtIns = routing["BuiltInRules"] is not { Length: > 0 } b || (bool.TryParse(b, out var flag)
                ? flag : throw new RoutingConfigException("Routing:BuiltInRules", "Routing:BuiltInRules: true or false."));
            var longContext = 60_000;
            if (routing["LongContextTokens"] is { Length: > 0 } lc
                && !(int.TryParse(lc, NumberStyles.None, CultureInfo.InvariantCulture, out longContext) && longContext >= 1000))
                throw new RoutingConfigException("Routing:LongContextTokens", "Routing:LongContextTokens: a whole number of tokens, 1000 or more.");
            var layer = new FileLayer(profiles, tasks, rules, mode, builtIns, longContext);
            // A task sent to a profile that exists nowhere would fail every such request: refuse at start.
            var names = new HashSet<string>(profiles.Select(p => p.Name).Concat(RoutingConfig.DefaultProfiles.Select(p => p.Name)), StringComparer.OrdinalIgnoreCase);
            foreach (var (task, profile) in tasks)
                if (!names.Contains(profile))
                    throw RoutingConfigException.NoProfile($"Routing:Tasks:{task}", profile, names);
            return layer;
        }
    }

    /// <summary>Built-in defaults, then the configuration file, then the database: each layer wins over the one before.</summary>
    internal static RoutingConfig Build(FileLayer file, IReadOnlyList<Setting> settings, ILogger log)
    {
        var profiles = new Dictionary<string, RoutingProfile>(StringComparer.OrdinalIgnoreCase);
        var profileSources = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var p in RoutingConfig.DefaultProfiles) { profiles[p.Name] = p; profileSources[p.Name] = "builtin"; }
        foreach (var p in file.Profiles) { profiles[p.Name] = p; profileSources[p.Name] = "config"; }
        var tasks = new Dictionary<string, string>(RoutingConfig.DefaultTasks, StringComparer.Ordinal);
        var taskSources = tasks.ToDictionary(t => t.Key, _ => "builtin", StringComparer.Ordinal);
        foreach (var (t, p) in file.Tasks) { tasks[t] = p; taskSources[t] = "config"; }
        var rules = file.Rules;
        var rulesSource = rules is null ? "builtin" : "config";
        var mode = file.Mode ?? RoutingModes.Virtual;
        var userModes = new Dictionary<long, string>();
        var keyModes = new Dictionary<long, string>();
        var canaries = new Dictionary<string, CanaryDefinition>(StringComparer.OrdinalIgnoreCase);

        foreach (var s in settings)
        {
            if (s.Value is not { } value || !s.Key.StartsWith(RoutingKeys.Root, StringComparison.OrdinalIgnoreCase)) continue;
            try
            {
                if (RoutingSettings.TryStrip(s.Key, RoutingKeys.ProfilePrefix, out var name))
                {
                    using var doc = JsonDocument.Parse(value);
                    profiles[name] = RoutingProfile.Parse(name, doc.RootElement, $"profiles.{name}");
                    profileSources[name] = "admin";
                }
                else if (RoutingSettings.TryStrip(s.Key, RoutingKeys.TaskPrefix, out var task) && TaskTypes.Find(task) is { } known)
                {
                    tasks[known] = value;
                    taskSources[known] = "admin";
                }
                else if (string.Equals(s.Key, RoutingKeys.Rules, StringComparison.OrdinalIgnoreCase))
                {
                    using var doc = JsonDocument.Parse(value);
                    rules = TaskRule.ParseList(doc.RootElement, "rules");
                    rulesSource = "admin";
                }
                else if (string.Equals(s.Key, RoutingKeys.Mode, StringComparison.OrdinalIgnoreCase)) mode = RoutingModes.Valid(value, "mode");
                else if (RoutingSettings.TryStrip(s.Key, RoutingKeys.UserModePrefix, out var user) && long.TryParse(user, NumberStyles.None, CultureInfo.InvariantCulture, out var userId))
                    userModes[userId] = RoutingModes.Valid(value, "mode");
                else if (RoutingSettings.TryStrip(s.Key, RoutingKeys.KeyModePrefix, out var key) && long.TryParse(key, NumberStyles.None, CultureInfo.InvariantCulture, out var keyId))
                    keyModes[keyId] = RoutingModes.Valid(value, "mode");
                else if (RoutingSettings.TryStrip(s.Key, RoutingKeys.CanaryPrefix, out var canaryProfile) && CanaryDefinition.FromJson(canaryProfile, value) is { } canary)
                    canaries[canaryProfile] = canary;
            }
            catch (Exception e) when (e is RoutingConfigException or JsonException)
            {
                // Saved values were validated when saved; one that no longer reads (an older version's) is skipped, loudly.
                log.LogWarning("Routing setting {Key} is ignored: {Error}", s.Key, e.Message);
            }
        }
        // A task pointing at a profile that was deleted falls back to the seed's choice rather than failing requests.
        foreach (var (task, profile) in tasks.ToList())
            if (!profiles.ContainsKey(profile))
            {
                log.LogWarning("Routing: task {Task} names profile {Profile}, which does not exist; using {Default}", task, profile, RoutingConfig.DefaultTasks[task]);
                tasks[task] = RoutingConfig.DefaultTasks[task];
            }
        foreach (var name in canaries.Keys.ToList())
            if (!profiles.ContainsKey(name)) canaries.Remove(name);

        return new RoutingConfig
        {
            Profiles = profiles.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
            ProfileSources = profileSources.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
            Tasks = tasks.ToFrozenDictionary(StringComparer.Ordinal),
            TaskSources = taskSources.ToFrozenDictionary(StringComparer.Ordinal),
            Rules = TaskRules.Create(rules ?? [], file.BuiltInRules, file.LongContextTokens, log),
            RulesSource = rulesSource,
            BuiltInRules = file.BuiltInRules,
            LongContextTokens = file.LongContextTokens,
            Mode = mode,
            UserModes = userModes.ToFrozenDictionary(),
            KeyModes = keyModes.ToFrozenDictionary(),
            Canaries = canaries.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
        };
    }
}

/// <summary>
/// Where admins' routing changes are stored: the <c>settings</c> table, like the provider controls — both back ends
/// have it, every write reaches the change feed all instances follow, and one key per profile, task, mode and canary
/// means two admins changing different things never overwrite each other.
/// </summary>
internal static class RoutingKeys
{
    public const string Root = "Routing:";
    public const string ProfilePrefix = "Routing:Profile:";
    public const string TaskPrefix = "Routing:Task:";
    public const string Rules = "Routing:Rules";
    public const string Mode = "Routing:Mode";
    public const string UserModePrefix = "Routing:Mode:User:";
    public const string KeyModePrefix = "Routing:Mode:Key:";
    public const string CanaryPrefix = "Routing:Canary:";

    public static string Profile(string name) => ProfilePrefix + name.ToLowerInvariant();
    public static string Task(string task) => TaskPrefix + task;
    public static string UserMode(long userId) => UserModePrefix + userId.ToString(CultureInfo.InvariantCulture);
    public static string KeyMode(long keyId) => KeyModePrefix + keyId.ToString(CultureInfo.InvariantCulture);
    public static string Canary(string profile) => CanaryPrefix + profile.ToLowerInvariant();
}
