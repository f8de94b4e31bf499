using System.Globalization;
using System.Text.Json;
using Gapura.Hosting;

namespace Gapura.Budgets;

/// <summary>A budget's window: from midnight, or from the 1st of the month, in <c>Budgets:TimeZone</c>.</summary>
internal enum BudgetPeriod
{
    Daily,
    Monthly,
}

/// <summary>What happens when a budget window's alert threshold (or its limit) is reached — the seed's three actions.</summary>
internal static class BudgetActions
{
    /// <summary>Alert, and tell the user in the conversation; requests go on.</summary>
    public const string Notify = "notify";

    /// <summary>From the threshold on, every request is served by the <c>fast</c> profile.</summary>
    public const string Restrict = "restrict";

    /// <summary>At the limit, requests are refused until a reset (or the next window, with <c>resumeAtPeriodEnd</c>).</summary>
    public const string Pause = "pause";

    public static readonly string[] All = [Notify, Restrict, Pause];

    public static string Valid(string? value, string field)
        => All.FirstOrDefault(a => a.Equals(value?.Trim(), StringComparison.OrdinalIgnoreCase))
           ?? throw new BudgetConfigException(field, $"{field}: '{value}' is not an action; use notify, restrict or pause.");
}

/// <summary>
/// One window of a budget, in the seed's shape: <c>{"input_tokens": 500000, "output_tokens": 200000, "cost_usd": 20,
/// "alert_threshold": 0.8, "action": "notify"}</c> (older camelCase definitions read the same). Each limit is optional (none means that quantity is not limited),
/// at least one is set. <see cref="ResumeAtPeriodEnd"/> lets a <c>pause</c> lift by itself when the window ends.
/// </summary>
internal sealed record BudgetLimit(
    BudgetPeriod Period, long? InputTokens, long? OutputTokens, double? CostUsd, double AlertThreshold, string Action, bool ResumeAtPeriodEnd)
{
    public const double DefaultAlertThreshold = 0.8;

    public string PeriodName => Period == BudgetPeriod.Daily ? "daily" : "monthly";

    /// <summary>The limit of one quantity, or null when this window does not limit it.</summary>
    public double? LimitOf(BudgetQuantity quantity) => quantity switch
    {
        BudgetQuantity.Input => InputTokens,
        BudgetQuantity.Output => OutputTokens,
        _ => CostUsd,
    };

    public bool IsPause => Action == BudgetActions.Pause;

    internal static BudgetLimit Parse(BudgetPeriod period, JsonElement json, string field)
    {
        if (json.ValueKind != JsonValueKind.Object) throw new BudgetConfigException(field, $"{field}: an object such as {{\"input_tokens\": 500000, \"action\": \"notify\"}}.");
        long? input = null, output = null;
        double? cost = null;
        var threshold = DefaultAlertThreshold;
        var action = BudgetActions.Notify;
        var resume = false;
        foreach (var p in json.EnumerateObject())
        {
            var f = $"{field}.{p.Name}";
            switch (FieldNames.Fold(p.Name))
            {
                case "inputtokens": input = Tokens(p.Value, f); break;
                case "outputtokens": output = Tokens(p.Value, f); break;
                case "costusd": cost = Dollars(p.Value, f); break;
                case "alertthreshold": threshold = Threshold(p.Value, f); break;
                case "action": action = BudgetActions.Valid(p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString() : p.Value.GetRawText(), f); break;
                case "resumeatperiodend":
                    resume = p.Value.ValueKind switch
                    {
                        JsonValueKind.True => true,
                        JsonValueKind.False => false,
                        _ => throw new BudgetConfigException(f, $"{f}: true or false."),
                    };
                    break;
                default:
                    throw new BudgetConfigException(f, $"{f}: unknown field; a budget window has inputTokens, outputTokens, costUsd, alertThreshold, action and resumeAtPeriodEnd.");
            }
        }
        return Create(period, input, output, cost, threshold, action, resume, field);
    }

    /// <summary>Checks a window built from parts (the CLI's flags, the configuration file).</summary>
    internal static BudgetLimit Create(BudgetPeriod period, long? input, long? output, double? cost, double threshold, string action, bool resume, string field)
    {
        if (input < 0) throw new BudgetConfigException($"{field}.inputTokens", $"{field}.inputTokens: a whole number of tokens, 0 or more.");
        if (output < 0) throw new BudgetConfigException($"{field}.outputTokens", $"{field}.outputTokens: a whole number of tokens, 0 or more.");
        if (cost is { } c && (c < 0 || !double.IsFinite(c))) throw new BudgetConfigException($"{field}.costUsd", $"{field}.costUsd: an amount in US dollars, 0 or more.");
        if (!(threshold is >= 0 and <= 1)) throw new BudgetConfigException($"{field}.alertThreshold", $"{field}.alertThreshold: a share between 0 and 1, such as 0.8.");
        if (input is null && output is null && cost is null)
            throw new BudgetConfigException(field, $"{field}: set at least one of inputTokens, outputTokens and costUsd.");
        return new BudgetLimit(period, input, output, cost, threshold, BudgetActions.Valid(action, $"{field}.action"), resume);
    }

    private static long Tokens(JsonElement value, string field)
        => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var n) && n >= 0
            ? n
            : throw new BudgetConfigException(field, $"{field}: a whole number of tokens, 0 or more (got {Shown(value)}).");

    private static double Dollars(JsonElement value, string field)
        => value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var d) && double.IsFinite(d) && d >= 0
            ? d
            : throw new BudgetConfigException(field, $"{field}: an amount in US dollars, 0 or more (got {Shown(value)}).");

    private static double Threshold(JsonElement value, string field)
        => value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out var d) && d is >= 0 and <= 1
            ? d
            : throw new BudgetConfigException(field, $"{field}: a share between 0 and 1, such as 0.8 (got {Shown(value)}).");

    private static string Shown(JsonElement value)
    {
        var raw = value.GetRawText();
        return raw.Length <= 40 ? raw : raw[..40] + "…";
    }

    internal void WriteTo(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        if (InputTokens is { } i) w.WriteNumber("input_tokens", i);
        if (OutputTokens is { } o) w.WriteNumber("output_tokens", o);
        if (CostUsd is { } c) w.WriteNumber("cost_usd", c);
        w.WriteNumber("alert_threshold", AlertThreshold);
        w.WriteString("action", Action);
        if (ResumeAtPeriodEnd) w.WriteBoolean("resume_at_period_end", true);
        w.WriteEndObject();
    }
}

/// <summary>
/// A budget: a <c>daily</c> and/or a <c>monthly</c> window — exactly the seed's <c>budget</c> block, which imports as it
/// is (wrapped in <c>{"budget": {…}}</c> or bare).
/// </summary>
internal sealed record Budget(BudgetLimit? Daily, BudgetLimit? Monthly)
{
    public IEnumerable<BudgetLimit> Windows
    {
        get
        {
            if (Daily is not null) yield return Daily;
            if (Monthly is not null) yield return Monthly;
        }
    }

    public BudgetLimit? Of(BudgetPeriod period) => period == BudgetPeriod.Daily ? Daily : Monthly;

    /// <param name="field">How the caller names this budget, for errors: <c>budget</c>, <c>Budgets:Gateway</c>.</param>
    public static Budget Parse(JsonElement json, string field = "budget")
    {
        if (json.ValueKind == JsonValueKind.Object && json.TryGetProperty("budget", out var inner) && CountProperties(json) == 1) json = inner;
        if (json.ValueKind != JsonValueKind.Object) throw new BudgetConfigException(field, $"{field}: an object with \"daily\" and/or \"monthly\" windows.");
        BudgetLimit? daily = null, monthly = null;
        foreach (var p in json.EnumerateObject())
        {
            switch (FieldNames.Fold(p.Name))
            {
                case "daily": daily = BudgetLimit.Parse(BudgetPeriod.Daily, p.Value, $"{field}.daily"); break;
                case "monthly": monthly = BudgetLimit.Parse(BudgetPeriod.Monthly, p.Value, $"{field}.monthly"); break;
                default: throw new BudgetConfigException($"{field}.{p.Name}", $"{field}.{p.Name}: unknown field; a budget has \"daily\" and \"monthly\" windows.");
            }
        }
        if (daily is null && monthly is null) throw new BudgetConfigException(field, $"{field}: set a \"daily\" or a \"monthly\" window (or both).");
        return new Budget(daily, monthly);
    }

    public static Budget Parse(string json, string field = "budget") => DefinitionJson.Parse(json, field, Parse);

    /// <summary>A configuration section in the same shape (<c>Budgets:Gateway:daily:inputTokens</c>), or null when absent.</summary>
    public static Budget? FromConfiguration(IConfigurationSection section)
    {
        if (!section.Exists()) return null;
        BudgetLimit? Window(BudgetPeriod period, string name)
        {
            var s = section.GetSection(name);
            if (!s.Exists()) return null;
            var field = $"{section.Path}:{name}";
            long? Long(string key) => s[key] is { Length: > 0 } v
                ? long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
                    : throw new BudgetConfigException($"{field}:{key}", $"{field}:{key}: a whole number of tokens, 0 or more (got '{v}').")
                : null;
            double? Double(string key) => s[key] is { Length: > 0 } v
                ? double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? d
                    : throw new BudgetConfigException($"{field}:{key}", $"{field}:{key}: a number (got '{v}').")
                : null;
            var resume = s["resumeAtPeriodEnd"] is { Length: > 0 } r
                ? bool.TryParse(r, out var b) ? b : throw new BudgetConfigException($"{field}:resumeAtPeriodEnd", $"{field}:resumeAtPeriodEnd: true or false.")
                : false;
            foreach (var child in s.GetChildren())
                if (!KnownKey(child.Key))
                    throw new BudgetConfigException($"{field}:{child.Key}", $"{field}:{child.Key}: unknown setting; a budget window has inputTokens, outputTokens, costUsd, alertThreshold, action and resumeAtPeriodEnd.");
            return BudgetLimit.Create(period, Long("inputTokens"), Long("outputTokens"), Double("costUsd"),
                Double("alertThreshold") ?? BudgetLimit.DefaultAlertThreshold, s["action"] ?? BudgetActions.Notify, resume, field);
        }
        foreach (var child in section.GetChildren())
            if (!child.Key.Equals("daily", StringComparison.OrdinalIgnoreCase) && !child.Key.Equals("monthly", StringComparison.OrdinalIgnoreCase))
                throw new BudgetConfigException($"{section.Path}:{child.Key}", $"{section.Path}:{child.Key}: unknown setting; a budget has daily and monthly windows.");
        var budget = new Budget(Window(BudgetPeriod.Daily, "daily"), Window(BudgetPeriod.Monthly, "monthly"));
        return budget.Daily is null && budget.Monthly is null ? null : budget;
    }

    // Configuration keys are case-insensitive: "InputTokens" in an environment variable is the same setting.
    private static bool KnownKey(string key)
        => key.Equals("inputTokens", StringComparison.OrdinalIgnoreCase) || key.Equals("outputTokens", StringComparison.OrdinalIgnoreCase)
           || key.Equals("costUsd", StringComparison.OrdinalIgnoreCase) || key.Equals("alertThreshold", StringComparison.OrdinalIgnoreCase)
           || key.Equals("action", StringComparison.OrdinalIgnoreCase) || key.Equals("resumeAtPeriodEnd", StringComparison.OrdinalIgnoreCase);

    private static int CountProperties(JsonElement json)
    {
        var n = 0;
        foreach (var _ in json.EnumerateObject()) n++;
        return n;
    }

    public string ToJson() => DefinitionJson.Write(WriteTo);

    internal void WriteTo(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        if (Daily is not null) { w.WritePropertyName("daily"); Daily.WriteTo(w); }
        if (Monthly is not null) { w.WritePropertyName("monthly"); Monthly.WriteTo(w); }
        w.WriteEndObject();
    }
}
