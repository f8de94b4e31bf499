using System.Collections.Frozen;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Gapura.Routing;
using Gapura.Storage;

namespace Gapura.Providers.Limits;

/// <summary>
/// One model's limits as <c>gapura probe-limits</c> measured them on its upstream, in the upstream's own tokens.
/// Either figure may be missing (the model stopped early, the probe was refused): the catalog's value stands for it.
/// </summary>
/// <param name="PrecisionPercent">How far above <paramref name="ContextWindow"/> the smallest refused input was (the search's bracket).</param>
/// <param name="Estimated">A figure came from the gateway's own estimate because the upstream reported no count (said in the output).</param>
internal sealed record ProbedLimit(int? ContextWindow, int? MaxOutputTokens, DateTimeOffset ProbedAt, double? PrecisionPercent = null,
    bool Estimated = false)
{
    /// <summary>The settings table's value: a small JSON object (snake_case, like the admin API).</summary>
    public string ToSetting()
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            if (ContextWindow is { } c) w.WriteNumber("context_window", c);
            if (MaxOutputTokens is { } o) w.WriteNumber("max_output_tokens", o);
            w.WriteString("probed_at", ProbedAt.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            if (PrecisionPercent is { } p) w.WriteNumber("precision_percent", Math.Round(p, 2));
            if (Estimated) w.WriteBoolean("estimated", true);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>A stored value, or null when it cannot be read (hand-edited, from a newer version): it is then ignored, never fatal.</summary>
    public static ProbedLimit? FromSetting(string value)
    {
        try
        {
            using var doc = JsonDocument.Parse(value);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return null;
            static int? Positive(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.TryGetInt32(out var n) && n > 0 ? n : null;
            var at = root.TryGetProperty("probed_at", out var t) && t.ValueKind == JsonValueKind.String
                     && DateTimeOffset.TryParse(t.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed) ? parsed : DateTimeOffset.MinValue;
            var limit = new ProbedLimit(Positive(root, "context_window"), Positive(root, "max_output_tokens"), at,
                root.TryGetProperty("precision_percent", out var p) && p.TryGetDouble(out var pd) ? pd : null,
                root.TryGetProperty("estimated", out var e) && e.ValueKind == JsonValueKind.True);
            return limit.ContextWindow is null && limit.MaxOutputTokens is null ? null : limit;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>
/// The limits <c>gapura probe-limits</c> stored, by provider and model id, laid over what the model catalogs know
/// (the upstream's list or the built-in table). Kept in the settings table as <c>Limits:Model:&lt;provider&gt;/&lt;model&gt;</c>
/// — like admin prices — so SQLite and PostgreSQL need no new table and every instance follows a new probe through the
/// change feed. Catalogs apply the overlay when they build their snapshot (<see cref="RefreshingModelList"/>) and again
/// only when <see cref="Version"/> moves, so a request reads one integer, never the database.
/// </summary>
internal sealed class ProbedLimits(IGapuraStore store) : IStoreChangeListener
{
    public const string SettingPrefix = "Limits:Model:";

    private volatile State _state = new(FrozenDictionary<string, ProbedLimit>.Empty, 0);

    /// <summary>Moves whenever the stored limits were (re)loaded; catalogs rebuild their snapshot when it differs from theirs.</summary>
    public int Version => _state.Version;

    public IReadOnlyDictionary<string, ProbedLimit> All => _state.ByModel;

    public static string Key(string provider, string modelId) => provider.ToLowerInvariant() + "/" + modelId.ToLowerInvariant();

    public static string SettingKey(string provider, string modelId) => SettingPrefix + Key(provider, modelId);

    public ProbedLimit? Find(string provider, string modelId) => _state.ByModel.GetValueOrDefault(Key(provider, modelId));

    /// <summary>The model with its probed limits in place of the catalog's; the same instance when nothing was probed.</summary>
    public ModelInfo Apply(ModelInfo model)
    {
        if (_state.ByModel.Count == 0 || Find(model.Provider, model.Id) is not { } limit) return model;
        var context = limit.ContextWindow ?? model.ContextWindow;
        // An output cap is never above the window it has to fit in.
        var output = Math.Min(limit.MaxOutputTokens ?? model.MaxOutputTokens, context);
        return context == model.ContextWindow && output == model.MaxOutputTokens ? model : model with { ContextWindow = context, MaxOutputTokens = output };
    }

    public IReadOnlyList<ModelInfo> Apply(IReadOnlyList<ModelInfo> models)
        => _state.ByModel.Count == 0 ? models : [.. models.Select(Apply)];

    public async Task ReloadAllAsync(CancellationToken ct)
    {
        var limits = new Dictionary<string, ProbedLimit>(StringComparer.Ordinal);
        foreach (var s in await store.Settings.ListAsync(ct))
            if (s.Key.StartsWith(SettingPrefix, StringComparison.OrdinalIgnoreCase) && s.Value is { } v && ProbedLimit.FromSetting(v) is { } limit)
                limits[s.Key[SettingPrefix.Length..].ToLowerInvariant()] = limit;
        _state = new State(limits.ToFrozenDictionary(StringComparer.Ordinal), _state.Version + 1);
    }

    public Task ApplyAsync(IReadOnlyList<Change> changes, CancellationToken ct)
        => changes.Any(c => c.Entity == ChangeEntity.Setting && c.EntityId.StartsWith(SettingPrefix, StringComparison.OrdinalIgnoreCase))
            ? ReloadAllAsync(ct) : Task.CompletedTask;

    /// <summary>Stores one model's result (replacing an earlier probe) and takes it into use in this process at once.</summary>
    public async Task SaveAsync(string provider, string modelId, ProbedLimit limit, CancellationToken ct)
    {
        await store.Settings.SetAsync(SettingKey(provider, modelId), limit.ToSetting(), ct);
        await ReloadAllAsync(ct);
    }

    private sealed record State(FrozenDictionary<string, ProbedLimit> ByModel, int Version);
}
