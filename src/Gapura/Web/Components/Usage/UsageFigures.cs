using System.Globalization;
using Gapura.Api.Admin;
using MudBlazor;

namespace Gapura.Web.Components.Usage;

/// <summary>What a usage chart plots per bar: the measures the overview and the usage explorer offer.</summary>
public enum UsageMeasure
{
    Tokens,
    Cost,
    Requests,
}

/// <summary>
/// How the console shows usage report rows (<see cref="UsageRowView"/>, as <c>GET /admin/api/usage</c> answers):
/// the label of each grouped value, the figures, and stacked-bar series over days or hours. One place, so the
/// overview and the usage explorer name and count things the same way.
/// </summary>
internal static class UsageFigures
{
    /// <summary>The groupings the report offers, in the order the API lists them.</summary>
    public static readonly string[] Dimensions = ["day", "hour", "user", "key", "client", "model", "provider", "task"];

    /// <summary>Series beyond this many are summed into one "others" series: a chart of 100 colours says nothing.</summary>
    public const int MaxSeries = 8;

    public static string DimensionTitle(string dimension) => dimension switch
    {
        "day" => "Day",
        "hour" => "Hour (UTC)",
        "user" => "User",
        "key" => "Key",
        "client" => "Client application",
        "model" => "Model",
        "provider" => "Provider",
        "task" => "Task",
        _ => dimension,
    };

    public static string MeasureTitle(UsageMeasure measure) => measure switch
    {
        UsageMeasure.Tokens => "Tokens (input + output)",
        UsageMeasure.Cost => "Cost (USD)",
        _ => "Requests",
    };

    /// <summary>A row's value of one grouping, as a person reads it; ids without a name say what they are.</summary>
    public static string Label(UsageRowView r, string dimension) => dimension switch
    {
        "day" => r.Day?.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) ?? "",
        "hour" => r.Hour?.UtcDateTime.ToString("yyyy-MM-dd HH:00", CultureInfo.InvariantCulture) ?? "",
        "user" => r.UserEmail ?? (r.UserId is null or 0 ? "(no user)" : $"user {r.UserId}"),
        "key" => r.KeyPrefix is { } p ? p + "…" : r.KeyId is null or 0 ? "(no key)" : $"key {r.KeyId}",
        "client" => Named(r.Client),
        "model" => Named(r.Model),
        "provider" => Named(r.Provider),
        "task" => Named(r.Task),
        _ => "",
    };

    private static string Named(string? value) => string.IsNullOrEmpty(value) ? "(none)" : value;

    public static long Tokens(UsageRowView r) => r.InputTokens + r.OutputTokens;

    public static double Value(UsageRowView r, UsageMeasure measure) => measure switch
    {
        UsageMeasure.Tokens => Tokens(r),
        UsageMeasure.Cost => r.CostUsd ?? 0,
        _ => r.Requests,
    };

    public static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>Dollars; null (nothing priced) is "—", never a made-up $0.</summary>
    public static string Cost(double? usd) => usd switch
    {
        null => "—",
        >= 1 => usd.Value.ToString("$#,##0.00", CultureInfo.InvariantCulture),
        _ => usd.Value.ToString("$0.00##", CultureInfo.InvariantCulture),
    };

    public static string Milliseconds(double? ms) => ms is { } v ? v.ToString("N0", CultureInfo.InvariantCulture) + " ms" : "—";

    public static string Percent(long part, long whole) => whole == 0 ? "—" : (100.0 * part / whole).ToString("0.0", CultureInfo.InvariantCulture) + " %";

    /// <summary>The priced cost of some rows, null when none of them had a price.</summary>
    public static double? CostOf(IEnumerable<UsageRowView> rows)
    {
        double? sum = null;
        foreach (var r in rows)
            if (r.CostUsd is { } c) sum = (sum ?? 0) + c;
        return sum;
    }

    /// <summary>
    /// Stacked bars: one bar per time bucket (<paramref name="buckets"/>, labelled by <paramref name="time"/>), one
    /// series per value of <paramref name="group"/> — the largest <see cref="MaxSeries"/> by the measure's total,
    /// the rest added up as "others".
    /// </summary>
    public static (string[] Labels, List<ChartSeries<double>> Series) Stacked(IReadOnlyList<UsageRowView> rows, IReadOnlyList<string> buckets,
        Func<UsageRowView, string> time, Func<UsageRowView, string> group, UsageMeasure measure)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < buckets.Count; i++) index[buckets[i]] = i;
        var totals = rows.GroupBy(group).Select(g => (Name: g.Key, Total: g.Sum(r => Value(r, measure)))).OrderByDescending(g => g.Total).ThenBy(g => g.Name, StringComparer.Ordinal).ToList();
        var shown = totals.Count <= MaxSeries ? totals : totals.Take(MaxSeries - 1).ToList();
        var slots = shown.Select((g, i) => (g.Name, i)).ToDictionary(x => x.Name, x => x.i, StringComparer.Ordinal);
        var values = new double[shown.Count + (shown.Count < totals.Count ? 1 : 0)][];
        for (var s = 0; s < values.Length; s++) values[s] = new double[buckets.Count];
        foreach (var r in rows)
        {
            if (!index.TryGetValue(time(r), out var bucket)) continue;
            var slot = slots.TryGetValue(group(r), out var s) ? s : values.Length - 1;
            values[slot][bucket] += Value(r, measure);
        }
        var series = new List<ChartSeries<double>>(values.Length);
        for (var s = 0; s < values.Length; s++)
        {
            var name = s < shown.Count ? shown[s].Name : $"{totals.Count - shown.Count} others";
            series.Add(new ChartSeries<double> { Name = name, Data = new ChartData<double>(values[s]) });
        }
        return ([.. buckets], series);
    }

    /// <summary>Every UTC day from <paramref name="first"/> to <paramref name="last"/>, as <see cref="Label"/> writes days.</summary>
    public static List<string> Days(DateOnly first, DateOnly last)
    {
        var days = new List<string>();
        for (var d = first; d <= last; d = d.AddDays(1)) days.Add(d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
        return days;
    }

    /// <summary>The query string of a report (values escaped); empty values are left out.</summary>
    public static string Query(params (string Name, string? Value)[] parameters)
        => string.Join('&', parameters.Where(p => !string.IsNullOrEmpty(p.Value)).Select(p => p.Name + "=" + Uri.EscapeDataString(p.Value!)));
}
