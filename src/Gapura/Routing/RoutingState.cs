using System.Collections.Frozen;
using System.Globalization;
using Gapura.Storage;

namespace Gapura.Routing;

/// <summary>
/// The provider controls every request consults — providers and models an admin disabled, each user's
/// provider priority, and run-time switches such as <c>Kiro:ShareProcessLogin</c> — held in memory as one
/// immutable snapshot, so the request path reads no database. They live in the <c>settings</c> table
/// (keys in <see cref="RoutingSettings"/>) and follow it through the change feed.
/// </summary>
internal sealed class RoutingState(IGapuraStore store) : IStoreChangeListener
{
    private volatile Snapshot _snapshot = Snapshot.Empty;

    public bool IsProviderDisabled(string provider) => _snapshot.DisabledProviders.Contains(provider);

    public bool IsModelDisabled(string modelId) => _snapshot.DisabledModels.Contains(modelId);

    public IReadOnlyCollection<string> DisabledProviders => _snapshot.DisabledProviders;

    public IReadOnlyCollection<string> DisabledModels => _snapshot.DisabledModels;

    /// <summary>The user's provider priority, most preferred first; empty when they set none.</summary>
    public IReadOnlyList<string> PriorityOf(long userId) => _snapshot.Priorities.GetValueOrDefault(userId, []);

    /// <summary>A yes/no setting stored in the database; null when unset there (the configuration file then decides).</summary>
    public bool? GetBool(string key)
        => _snapshot.Values.TryGetValue(key, out var value) && bool.TryParse(value.Trim(), out var flag) ? flag : null;

    public async Task ReloadAllAsync(CancellationToken ct)
    {
        var settings = await store.Settings.ListAsync(ct);
        _snapshot = Snapshot.From(settings);
    }

    public Task ApplyAsync(IReadOnlyList<Change> changes, CancellationToken ct)
        // Settings are few: one read of them all is simpler than applying each change, and as cheap.
        => changes.Any(c => c.Entity == ChangeEntity.Setting) ? ReloadAllAsync(ct) : Task.CompletedTask;

    private sealed record Snapshot(
        FrozenSet<string> DisabledProviders,
        FrozenSet<string> DisabledModels,
        FrozenDictionary<long, string[]> Priorities,
        FrozenDictionary<string, string> Values)
    {
        public static readonly Snapshot Empty = From([]);

        public static Snapshot From(IReadOnlyList<Setting> settings)
        {
            var providers = new List<string>();
            var models = new List<string>();
            var priorities = new Dictionary<long, string[]>();
            var values = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var s in settings)
            {
                if (s.Value is not { } value) continue; // secret settings never steer routing
                values[s.Key] = value;
                if (RoutingSettings.TryStrip(s.Key, RoutingSettings.DisabledProviderPrefix, out var provider) && IsTrue(value)) providers.Add(provider);
                else if (RoutingSettings.TryStrip(s.Key, RoutingSettings.DisabledModelPrefix, out var model) && IsTrue(value)) models.Add(model);
                else if (RoutingSettings.TryStrip(s.Key, RoutingSettings.PriorityPrefix, out var user)
                         && long.TryParse(user, NumberStyles.None, CultureInfo.InvariantCulture, out var userId))
                    priorities[userId] = RoutingSettings.ParseList(value);
            }
            return new Snapshot(
                providers.ToFrozenSet(StringComparer.OrdinalIgnoreCase),
                models.ToFrozenSet(StringComparer.OrdinalIgnoreCase),
                priorities.ToFrozenDictionary(),
                values.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase));
        }

        private static bool IsTrue(string value) => bool.TryParse(value.Trim(), out var flag) && flag;
    }
}

/// <summary>
/// Where the provider controls are stored. The <c>settings</c> table rather than new tables: it exists on
/// both back ends, every write already lands in the change feed that all instances follow, and no schema
/// step is needed (so none can collide with another branch's). One key per provider, model and user, so
/// two admins changing different things never overwrite each other's read-modify-write.
/// </summary>
internal static class RoutingSettings
{
    public const string DisabledProviderPrefix = "Routing:DisabledProvider:";
    public const string DisabledModelPrefix = "Routing:DisabledModel:";
    public const string PriorityPrefix = "Routing:Priority:";

    public static string DisabledProviderKey(string provider) => DisabledProviderPrefix + provider.Trim().ToLowerInvariant();

    public static string DisabledModelKey(string modelId) => DisabledModelPrefix + modelId.Trim().ToLowerInvariant();

    public static string PriorityKey(long userId) => PriorityPrefix + userId.ToString(CultureInfo.InvariantCulture);

    public static Task SetProviderEnabledAsync(ISettingsRepository settings, string provider, bool enabled, CancellationToken ct)
        => SetFlagAsync(settings, DisabledProviderKey(provider), !enabled, ct);

    public static Task SetModelEnabledAsync(ISettingsRepository settings, string modelId, bool enabled, CancellationToken ct)
        => SetFlagAsync(settings, DisabledModelKey(modelId), !enabled, ct);

    /// <summary>Stores a user's priority; an empty list removes it (the gateway's order applies).</summary>
    public static async Task SetPriorityAsync(ISettingsRepository settings, long userId, IReadOnlyList<string> providers, CancellationToken ct)
    {
        if (providers.Count == 0) await settings.DeleteAsync(PriorityKey(userId), ct);
        else await settings.SetAsync(PriorityKey(userId), string.Join(",", providers), ct);
    }

    public static string[] ParseList(string value)
        => value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => p.ToLowerInvariant()).Distinct().ToArray();

    internal static bool TryStrip(string key, string prefix, out string rest)
    {
        rest = key.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) ? key[prefix.Length..] : "";
        return rest.Length > 0;
    }

    // Enabled is the default, so enabling deletes the key rather than storing "false" forever.
    private static async Task SetFlagAsync(ISettingsRepository settings, string key, bool set, CancellationToken ct)
    {
        if (set) await settings.SetAsync(key, "true", ct);
        else await settings.DeleteAsync(key, ct);
    }
}
