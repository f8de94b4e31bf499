using System.Collections.Concurrent;
using System.Collections.Frozen;
using System.Globalization;
using System.Text.RegularExpressions;
using Gapura.Conversations;
using Gapura.Routing;
using Gapura.Storage;
using Microsoft.Extensions.Options;

namespace Gapura.Ledger;

/// <summary>USD per million tokens of each bucket.</summary>
internal sealed record ModelPrice(double Input, double Output, double CacheRead, double CacheWrite)
{
    public double CostOf(Usage usage) =>
        (usage.InputTokens * Input + usage.OutputTokens * Output + usage.CacheReadTokens * CacheRead + usage.CacheWriteTokens * CacheWrite) / 1_000_000d;

    /// <summary>The settings-table form: <c>input,output,cacheRead,cacheWrite</c>.</summary>
    public string ToSetting() => string.Join(",", new[] { Input, Output, CacheRead, CacheWrite }.Select(v => v.ToString("R", CultureInfo.InvariantCulture)));

    public static ModelPrice? FromSetting(string value)
    {
        var parts = value.Split(',');
        if (parts.Length != 4) return null;
        var v = new double[4];
        for (var i = 0; i < 4; i++)
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out v[i]) || v[i] < 0 || !double.IsFinite(v[i])) return null;
        return new ModelPrice(v[0], v[1], v[2], v[3]);
    }
}

/// <summary>Settings of the price table (section <c>Pricing</c>).</summary>
internal sealed class PricingOptions
{
    public const string Section = "Pricing";

    /// <summary><c>Pricing:Models:&lt;model&gt;:Input|Output|CacheRead|CacheWrite</c>, USD per million tokens.</summary>
    public Dictionary<string, PriceOption> Models { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    public KiroPricing Kiro { get; set; } = new();

    internal sealed class PriceOption
    {
        public double? Input { get; set; }
        public double? Output { get; set; }
        public double? CacheRead { get; set; }
        public double? CacheWrite { get; set; }
    }

    internal sealed class KiroPricing
    {
        /// <summary>When set, a Kiro request costs its credits × this, instead of its tokens at the model's list price.</summary>
        public double? UsdPerCredit { get; set; }
    }
}

/// <summary>
/// What a request cost in USD. Three layers, the later winning: the built-in list prices below (per million
/// tokens, as Anthropic and OpenAI publish them), <c>Pricing:Models</c> in the configuration, and prices an admin
/// set through the admin API (stored in the settings table as <c>Pricing:Model:&lt;model&gt;</c>, followed on
/// every instance through the change feed). Models are matched by family, whatever the provider calls them:
/// <c>claude-sonnet-4.5</c> (Kiro), <c>claude-sonnet-4-5-20250929</c> (Anthropic),
/// <c>us.anthropic.claude-sonnet-4-5-20250929-v1:0</c> (Bedrock) and <c>copilot/claude-sonnet-4.5</c> are one
/// price; the longest matching name wins, so <c>gpt-4.1-mini</c> is not priced as <c>gpt-4.1</c>. A model with no
/// price costs null, never 0. Lookups are cached per model id, so the request path does no parsing.
/// </summary>
internal sealed partial class PriceTable : IStoreChangeListener
{
    public const string SettingPrefix = "Pricing:Model:";

    /// <summary>List prices, USD per million tokens: input, output, cache read, cache write (5-minute).</summary>
    internal static readonly IReadOnlyDictionary<string, ModelPrice> BuiltIn = new Dictionary<string, ModelPrice>
    {
        ["claude-opus-4-6"] = new(5, 25, 0.5, 6.25),
        ["claude-opus-4-5"] = new(5, 25, 0.5, 6.25),
        ["claude-opus-4-1"] = new(15, 75, 1.5, 18.75),
        ["claude-opus-4"] = new(15, 75, 1.5, 18.75),
        ["claude-sonnet-4-6"] = new(3, 15, 0.3, 3.75),
        ["claude-sonnet-4-5"] = new(3, 15, 0.3, 3.75),
        ["claude-sonnet-4"] = new(3, 15, 0.3, 3.75),
        ["claude-3-7-sonnet"] = new(3, 15, 0.3, 3.75),
        ["claude-3-5-sonnet"] = new(3, 15, 0.3, 3.75),
        ["claude-haiku-4-5"] = new(1, 5, 0.1, 1.25),
        ["claude-3-5-haiku"] = new(0.8, 4, 0.08, 1),
        ["claude-3-haiku"] = new(0.25, 1.25, 0.03, 0.3),
        ["gpt-5-nano"] = new(0.05, 0.4, 0.005, 0),
        ["gpt-5-mini"] = new(0.25, 2, 0.025, 0),
        ["gpt-5"] = new(1.25, 10, 0.125, 0),
        ["gpt-4.1-nano"] = new(0.1, 0.4, 0.025, 0),
        ["gpt-4.1-mini"] = new(0.4, 1.6, 0.1, 0),
        ["gpt-4.1"] = new(2, 8, 0.5, 0),
        ["gpt-4o-mini"] = new(0.15, 0.6, 0.075, 0),
        ["gpt-4o"] = new(2.5, 10, 1.25, 0),
        ["o4-mini"] = new(1.1, 4.4, 0.275, 0),
        ["o3-mini"] = new(1.1, 4.4, 0.55, 0),
        ["o3"] = new(2, 8, 0.5, 0),
        ["o1"] = new(15, 60, 7.5, 0),
    };

    private readonly IGapuraStore _store;
    private readonly PricingOptions _options;
    private readonly FrozenDictionary<string, ModelPrice> _configured;
    private volatile Layers _layers;

    public PriceTable(IGapuraStore store, IOptions<PricingOptions> options)
    {
        _store = store;
        _options = options.Value;
        _configured = Configured(_options).ToFrozenDictionary(StringComparer.Ordinal);
        _layers = new Layers(Merge(FrozenDictionary<string, ModelPrice>.Empty), FrozenDictionary<string, ModelPrice>.Empty);
    }

    public double? UsdPerKiroCredit => _options.Kiro.UsdPerCredit;

    /// <summary>The cost of one answer: Kiro credits at <c>Pricing:Kiro:UsdPerCredit</c> when set, else tokens at the model's price.</summary>
    public double? CostOf(string? provider, string model, Usage usage)
    {
        if (usage.Credits is { } credits && UsdPerKiroCredit is { } perCredit && string.Equals(provider, "kiro", StringComparison.OrdinalIgnoreCase))
            return credits * perCredit;
        return Find(model)?.CostOf(usage);
    }

    /// <summary>The price that applies to a model id as any provider names it; null when none does.</summary>
    public ModelPrice? Find(string model)
    {
        var layers = _layers;
        if (layers.Cache.TryGetValue(model, out var cached)) return cached;
        var price = Match(layers.Effective, Normalize(model));
        // Model ids come from the catalogs, so the cache stays small; the bound only guards against surprises.
        if (layers.Cache.Count < 4096) layers.Cache[model] = price;
        return price;
    }

    /// <summary>Every price in force, by normalised model name, and where it comes from (builtin, config, admin).</summary>
    public IReadOnlyList<(string Model, ModelPrice Price, string Source)> List()
    {
        var layers = _layers;
        return [.. layers.Effective.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value,
            layers.Admin.ContainsKey(p.Key) ? "admin" : _configured.ContainsKey(p.Key) ? "config" : "builtin"))];
    }

    public async Task ReloadAllAsync(CancellationToken ct)
    {
        var admin = new Dictionary<string, ModelPrice>(StringComparer.Ordinal);
        foreach (var s in await _store.Settings.ListAsync(ct))
            if (s.Key.StartsWith(SettingPrefix, StringComparison.OrdinalIgnoreCase) && s.Value is { } v && ModelPrice.FromSetting(v) is { } price)
                admin[Normalize(s.Key[SettingPrefix.Length..])] = price;
        var frozen = admin.ToFrozenDictionary(StringComparer.Ordinal);
        _layers = new Layers(Merge(frozen), frozen);
    }

    public Task ApplyAsync(IReadOnlyList<Change> changes, CancellationToken ct)
        => changes.Any(c => c.Entity == ChangeEntity.Setting) ? ReloadAllAsync(ct) : Task.CompletedTask;

    public static string SettingKey(string model) => SettingPrefix + Normalize(model);

    /// <summary>
    /// One spelling for every provider's name of a model: lower case; no provider prefix (<c>copilot/</c>), Bedrock
    /// region and vendor prefix (<c>us.anthropic.</c>) or version suffix (<c>-v1:0</c>), or date stamp
    /// (<c>-20250929</c>, <c>-2024-08-06</c>); Claude's version dots as dashes (<c>4.5</c> → <c>4-5</c>).
    /// </summary>
    internal static string Normalize(string model)
    {
        var m = model.Trim().ToLowerInvariant();
        if (m.LastIndexOf('/') is var slash and >= 0) m = m[(slash + 1)..];
        m = BedrockPrefix().Replace(m, "");
        m = BedrockSuffix().Replace(m, "");
        m = DateSuffix().Replace(m, "");
        if (m.StartsWith("claude", StringComparison.Ordinal)) m = m.Replace('.', '-');
        return m;
    }

    private static ModelPrice? Match(FrozenDictionary<string, ModelPrice> prices, string normalized)
    {
        if (prices.TryGetValue(normalized, out var exact)) return exact;
        // A longer name of a known family (claude-sonnet-4-5-thinking, gpt-4o-audio…): the longest known prefix
        // followed by a dash. Never a shorter version of another: "claude-opus-4" must not price "claude-opus-4-8".
        ModelPrice? best = null;
        var bestLength = 0;
        foreach (var (name, price) in prices)
            if (name.Length > bestLength && normalized.Length > name.Length && normalized.StartsWith(name, StringComparison.Ordinal)
                && normalized[name.Length] == '-' && !char.IsAsciiDigit(normalized.ElementAtOrDefault(name.Length + 1)))
                (best, bestLength) = (price, name.Length);
        return best;
    }

    private FrozenDictionary<string, ModelPrice> Merge(FrozenDictionary<string, ModelPrice> admin)
    {
        var all = new Dictionary<string, ModelPrice>(StringComparer.Ordinal);
        foreach (var (k, v) in BuiltIn) all[Normalize(k)] = v;
        foreach (var (k, v) in _configured) all[k] = v;
        foreach (var (k, v) in admin) all[k] = v;
        return all.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>
    /// <c>Pricing:Models</c>: a model the built-in table knows may set only some buckets (the rest keep their
    /// list price); a new model's missing buckets are 0.
    /// </summary>
    private static Dictionary<string, ModelPrice> Configured(PricingOptions options)
    {
        var result = new Dictionary<string, ModelPrice>(StringComparer.Ordinal);
        foreach (var (model, o) in options.Models)
        {
            var key = Normalize(model);
            var basis = Match(BuiltIn.ToFrozenDictionary(p => Normalize(p.Key), p => p.Value, StringComparer.Ordinal), key) ?? new ModelPrice(0, 0, 0, 0);
            var price = new ModelPrice(o.Input ?? basis.Input, o.Output ?? basis.Output, o.CacheRead ?? basis.CacheRead, o.CacheWrite ?? basis.CacheWrite);
            if (new[] { price.Input, price.Output, price.CacheRead, price.CacheWrite }.Any(v => v < 0 || !double.IsFinite(v)))
                throw new InvalidOperationException($"Pricing:Models:{model}: prices must be zero or more (USD per million tokens).");
            result[key] = price;
        }
        return result;
    }

    private sealed class Layers(FrozenDictionary<string, ModelPrice> effective, FrozenDictionary<string, ModelPrice> admin)
    {
        public FrozenDictionary<string, ModelPrice> Effective { get; } = effective;
        public FrozenDictionary<string, ModelPrice> Admin { get; } = admin;
        public ConcurrentDictionary<string, ModelPrice?> Cache { get; } = new(StringComparer.Ordinal);
    }

    [GeneratedRegex(@"^(?:(?:us|eu|apac|global|au|ca|jp)\.)?(?:anthropic|openai|meta|amazon)\.")]
    private static partial Regex BedrockPrefix();

    [GeneratedRegex(@"-v\d+(?::\d+)?$")]
    private static partial Regex BedrockSuffix();

    [GeneratedRegex(@"-(?:20\d{6}|20\d{2}-\d{2}-\d{2})$")]
    private static partial Regex DateSuffix();
}
