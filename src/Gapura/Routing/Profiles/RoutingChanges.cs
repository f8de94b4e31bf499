using System.Text;
using System.Text.Json;
using Gapura.Routing.Tasks;
using Gapura.Storage;

namespace Gapura.Routing.Profiles;

/// <summary>
/// Every change to routing that admins make — through the admin API or the CLI — validated, written to the settings
/// table with its audit entry in one transaction, and then seen by every instance through the change feed.
/// Model names are checked against what the upstreams offer (<see cref="TaskRouter.EnsureOfferedAsync"/>) when a
/// <see cref="TaskRouter"/> is given; the CLI, which has no live catalogs, may skip that.
/// </summary>
internal sealed class RoutingChanges(IGapuraStore store, RoutingConfigSource source, TaskRouter? router, Func<string, string?, string?, NewAuditEntry> audit)
{
    public RoutingConfig Current => source.Current;

    public async Task<RoutingProfile> SaveProfileAsync(RoutingProfile profile, CancellationToken ct)
    {
        await EnsureModelsAsync(profile, $"profiles.{profile.Name}", ct);
        await WriteAsync(RoutingKeys.Profile(profile.Name), profile.ToJson(), "routing.profile.set", "profile:" + profile.Name, profile.ToJson(), ct);
        return profile;
    }

    /// <summary>False when no admin-set profile had that name (a configured or built-in one cannot be deleted here).</summary>
    public async Task<bool> DeleteProfileAsync(string name, CancellationToken ct)
    {
        var config = source.Current;
        foreach (var (task, profile) in config.Tasks)
            if (profile.Equals(name, StringComparison.OrdinalIgnoreCase) && config.TaskSources[task] == "admin")
                throw new RoutingConfigException($"tasks.{task}", $"tasks.{task}: routes to profile '{name}'; point it at another profile before deleting this one.");
        if (config.CanaryOf(name) is not null)
            throw new RoutingConfigException($"profiles.{name}", $"profiles.{name}: a canary is running on it; promote or roll it back first.");
        return await DeleteAsync(RoutingKeys.Profile(name), "routing.profile.delete", "profile:" + name, ct);
    }

    public async Task SetTaskAsync(string task, string profile, CancellationToken ct)
    {
        var known = TaskTypes.Valid(task, "task");
        var name = RoutingProfile.ValidName(profile, $"tasks.{known}");
        if (source.Current.FindProfile(name) is null)
            throw RoutingConfigException.NoProfile($"tasks.{known}", name, source.Current.Profiles.Keys);
        await WriteAsync(RoutingKeys.Task(known), name, "routing.task.set", "task:" + known, name, ct);
    }

    public Task<bool> ResetTaskAsync(string task, CancellationToken ct)
    {
        var known = TaskTypes.Valid(task, "task");
        return DeleteAsync(RoutingKeys.Task(known), "routing.task.reset", "task:" + known, ct);
    }

    /// <summary>Replaces the configured rules (the built-in ones stay after them).</summary>
    public async Task SetRulesAsync(IReadOnlyList<TaskRule> rules, CancellationToken ct)
    {
        var json = RulesJson(rules);
        await WriteAsync(RoutingKeys.Rules, json, "routing.rules.set", "rules", $"{rules.Count} rules", ct);
    }

    public Task<bool> ResetRulesAsync(CancellationToken ct) => DeleteAsync(RoutingKeys.Rules, "routing.rules.reset", "rules", ct);

    /// <summary>Sets the mode of the gateway, one user or one key; null for a user or key goes back to the wider mode.</summary>
    public async Task SetModeAsync(string? mode, long? userId, long? keyId, CancellationToken ct)
    {
        var (key, target) = keyId is { } k ? (RoutingKeys.KeyMode(k), $"key:{k}") : userId is { } u ? (RoutingKeys.UserMode(u), $"user:{u}") : (RoutingKeys.Mode, "gateway");
        if (mode is null)
        {
            await DeleteAsync(key, "routing.mode.reset", target, ct);
            return;
        }
        var valid = RoutingModes.Valid(mode, "mode");
        await WriteAsync(key, valid, "routing.mode.set", target, valid, ct);
    }

    /// <summary>Starts (or replaces) a canary on a profile.</summary>
    public async Task<CanaryDefinition> StartCanaryAsync(string profile, string model, string? provider, int percent, DateTimeOffset now, string actor, CancellationToken ct)
    {
        var p = source.Current.FindProfile(profile) ?? throw RoutingConfigException.NoProfile("profile", profile, source.Current.Profiles.Keys);
        if (percent is < 1 or > 100) throw new RoutingConfigException("percent", "percent: a whole number from 1 to 100.");
        if (string.IsNullOrWhiteSpace(model) || model.Length > 200) throw new RoutingConfigException("model", "model: the candidate model's name.");
        var canary = new CanaryDefinition(p.Name, model.Trim(), string.IsNullOrWhiteSpace(provider) ? null : provider.Trim(), percent, now, actor);
        if (router is not null) await router.EnsureOfferedAsync(canary.Choice, "model", ct);
        await WriteAsync(RoutingKeys.Canary(p.Name), canary.ToJson(), "routing.canary.start", "profile:" + p.Name, $"{canary.Choice} at {percent}%", ct);
        return canary;
    }

    /// <summary>Ends the canary; with <paramref name="promote"/> the candidate becomes the profile's model, in the same transaction.</summary>
    public async Task<CanaryDefinition?> EndCanaryAsync(string profile, bool promote, string? reason, CancellationToken ct)
    {
        var config = source.Current;
        var canary = config.CanaryOf(profile);
        if (canary is null) return null;
        var p = config.Profiles[canary.Profile];
        var promoted = p with { Model = canary.Model, Provider = canary.Provider };
        // The stored canary is what is ended, not this instance's picture of it: when it is already gone (another
        // instance, or an earlier check whose reload a slower one overtook) nothing is changed or audited again.
        var ended = await store.InTransactionAsync(async s =>
        {
            if (!await s.Settings.DeleteAsync(RoutingKeys.Canary(p.Name), ct)) return false;
            if (promote) await s.Settings.SetAsync(RoutingKeys.Profile(p.Name), promoted.ToJson(), ct);
            await s.Audit.WriteAsync(audit(promote ? "routing.canary.promote" : "routing.canary.rollback", "profile:" + p.Name,
                reason is null ? canary.Choice : $"{canary.Choice}: {reason}"), ct);
            return true;
        }, ct);
        await source.ReloadAllAsync(ct);
        return ended ? canary : null;
    }

    /// <summary>
    /// Imports a seed-shaped <c>.kiro/settings.json</c>: <c>{"models": {"primary": {…}, "fast": {…}, "routing": {task: profile}}}</c>
    /// (comments and trailing commas allowed). Every profile and task is checked before anything is written, then all of
    /// it is written in one transaction. Returns what was imported, and the top-level sections that were not (such as <c>budget</c>).
    /// </summary>
    public async Task<ImportResult> ImportAsync(string json, CancellationToken ct)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new RoutingConfigException("file", $"The file is not JSON (comments allowed): {e.Message}");
        }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("models", out var models) || models.ValueKind != JsonValueKind.Object)
            throw new RoutingConfigException("models", "models: the file needs a \"models\" object, as in .kiro/settings.json: {\"models\": {\"primary\": {…}, \"fast\": {…}, \"routing\": {…}}}.");
        var skipped = doc.RootElement.EnumerateObject().Select(p => p.Name).Where(n => n != "models").ToList();

        var profiles = new List<RoutingProfile>();
        var tasks = new List<(string Task, string Profile)>();
        List<TaskRule>? rules = null;
        string? mode = null;
        foreach (var p in models.EnumerateObject())
        {
            switch (p.Name)
            {
                case "routing":
                    if (p.Value.ValueKind != JsonValueKind.Object) throw new RoutingConfigException("models.routing", "models.routing: an object of task type → profile name.");
                    foreach (var t in p.Value.EnumerateObject())
                    {
                        var field = $"models.routing.{t.Name}";
                        var task = TaskTypes.Valid(t.Name, field);
                        if (t.Value.ValueKind != JsonValueKind.String) throw new RoutingConfigException(field, $"{field}: a profile name.");
                        tasks.Add((task, RoutingProfile.ValidName(t.Value.GetString(), field)));
                    }
                    break;
                case "rules":
                    rules = [.. TaskRule.ParseList(p.Value, "models.rules")];
                    break;
                case "mode":
                    mode = RoutingModes.Valid(p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : p.Value.ToString(), "models.mode");
                    break;
                default:
                    profiles.Add(RoutingProfile.Parse(p.Name, p.Value, $"models.{p.Name}"));
                    break;
            }
        }
        var known = new HashSet<string>(source.Current.Profiles.Keys.Concat(profiles.Select(p => p.Name)), StringComparer.OrdinalIgnoreCase);
        foreach (var (task, profile) in tasks)
            if (!known.Contains(profile))
                throw RoutingConfigException.NoProfile($"models.routing.{task}", profile, known);
        foreach (var p in profiles) await EnsureModelsAsync(p, $"models.{p.Name}", ct);

        await store.InTransactionAsync(async s =>
        {
            foreach (var p in profiles) await s.Settings.SetAsync(RoutingKeys.Profile(p.Name), p.ToJson(), ct);
            foreach (var (task, profile) in tasks) await s.Settings.SetAsync(RoutingKeys.Task(task), profile, ct);
            if (rules is not null) await s.Settings.SetAsync(RoutingKeys.Rules, RulesJson(rules), ct);
            if (mode is not null) await s.Settings.SetAsync(RoutingKeys.Mode, mode, ct);
            await s.Audit.WriteAsync(audit("routing.import", "routing",
                $"{profiles.Count} profiles ({string.Join(", ", profiles.Select(p => p.Name))}), {tasks.Count} tasks{(rules is null ? "" : $", {rules.Count} rules")}{(mode is null ? "" : $", mode {mode}")}"), ct);
        }, ct);
        await source.ReloadAllAsync(ct);
        return new ImportResult(profiles, tasks, rules, mode, skipped);
    }

    internal sealed record ImportResult(IReadOnlyList<RoutingProfile> Profiles, IReadOnlyList<(string Task, string Profile)> Tasks,
        IReadOnlyList<TaskRule>? Rules, string? Mode, IReadOnlyList<string> Skipped);

    public static string RulesJson(IReadOnlyList<TaskRule> rules)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartArray();
            foreach (var r in rules) r.WriteTo(w);
            w.WriteEndArray();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private async Task EnsureModelsAsync(RoutingProfile profile, string path, CancellationToken ct)
    {
        if (router is null) return;
        await router.EnsureOfferedAsync(profile.FirstChoice, $"{path}.model", ct);
        for (var i = 0; i < profile.Fallbacks.Count; i++) await router.EnsureOfferedAsync(profile.Fallbacks[i], $"{path}.fallbacks[{i}]", ct);
    }

    private async Task WriteAsync(string key, string value, string action, string target, string? detail, CancellationToken ct)
    {
        await store.InTransactionAsync(async s =>
        {
            await s.Settings.SetAsync(key, value, ct);
            await s.Audit.WriteAsync(audit(action, target, detail), ct);
        }, ct);
        // This instance applies it at once; the others within Routing:SyncSeconds, from the change feed.
        await source.ReloadAllAsync(ct);
    }

    private async Task<bool> DeleteAsync(string key, string action, string target, CancellationToken ct)
    {
        var gone = await store.InTransactionAsync(async s =>
        {
            var deleted = await s.Settings.DeleteAsync(key, ct);
            if (deleted) await s.Audit.WriteAsync(audit(action, target, null), ct);
            return deleted;
        }, ct);
        if (gone) await source.ReloadAllAsync(ct);
        return gone;
    }
}
