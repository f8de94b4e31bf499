using System.Globalization;
using System.Text.RegularExpressions;
using Gapura.Storage;

namespace Gapura.Ledger;

/// <summary>A report parameter that cannot be used; <see cref="Param"/> names it as the caller wrote it.</summary>
internal sealed class UsageQueryException(string param, string message) : Exception(message)
{
    public string Param { get; } = param;
}

/// <summary>
/// The parts of a usage report request shared by the admin API and <c>gapura usage</c>: the grouping whitelist,
/// dates and the window's bounds. Both surfaces turn a <see cref="UsageQueryException"/> into their own refusal
/// (a 400 naming the parameter, exit code 2).
/// </summary>
internal static partial class UsageReportParameters
{
    /// <summary>The names callers use, in the order the help text lists them.</summary>
    public static readonly IReadOnlyDictionary<string, UsageDimension> Dimensions = new Dictionary<string, UsageDimension>(StringComparer.OrdinalIgnoreCase)
    {
        ["day"] = UsageDimension.Day,
        ["hour"] = UsageDimension.Hour,
        ["user"] = UsageDimension.User,
        ["key"] = UsageDimension.Key,
        ["client"] = UsageDimension.Client,
        ["model"] = UsageDimension.Model,
        ["provider"] = UsageDimension.Provider,
        ["task"] = UsageDimension.Task,
    };

    public static string NameOf(UsageDimension d) => d.ToString().ToLowerInvariant();

    /// <summary>Comma lists, repeated values or both (<c>day,model</c>, <c>day&amp;model</c>); each name must be one of <see cref="Dimensions"/>.</summary>
    public static IReadOnlyList<UsageDimension> ParseGroupBy(IEnumerable<string?> values, string param)
    {
        var result = new List<UsageDimension>();
        foreach (var part in values.SelectMany(v => (v ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
        {
            if (!Dimensions.TryGetValue(part, out var d))
                throw new UsageQueryException(param, $"'{param}' value '{Shorten(part)}' is not one of {string.Join(", ", Dimensions.Keys)}.");
            if (!result.Contains(d)) result.Add(d);
        }
        return result;
    }

    /// <summary>
    /// An ISO 8601 date (<c>2026-12-01</c>, UTC midnight) or instant (<c>2026-12-01T08:00:00Z</c>; without an offset, UTC).
    /// A date given as the window's end (<paramref name="endOfDay"/>) means the whole of that day: the window ends at
    /// the next midnight, so <c>from=2026-12-01&amp;to=2026-12-01</c> is that one day.
    /// </summary>
    public static DateTimeOffset ParseTime(string text, string param, bool endOfDay = false)
    {
        text = text.Trim();
        if (DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
        {
            var midnight = new DateTimeOffset(date.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
            return endOfDay ? midnight.AddDays(1) : midnight;
        }
        if (text.Contains('T', StringComparison.OrdinalIgnoreCase)
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
            return at;
        throw new UsageQueryException(param, $"'{param}' value '{Shorten(text)}' is not an ISO 8601 date (2026-12-01) or time (2026-12-01T08:00:00Z).");
    }

    /// <summary>The start of the UTC day after <paramref name="now"/>'s: the end of a window that includes today.</summary>
    public static DateTimeOffset EndOfToday(DateTimeOffset now) => UsageBuckets.StartOfDay(UsageBuckets.DayOf(now) + 1);

    /// <summary>
    /// The window of a report: both bounds given, one of them (the other 7 days away), or none — the last 7 whole
    /// UTC days, today included, which the daily rollup answers.
    /// </summary>
    /// <param name="toAsWritten">The end as the caller wrote it: a date there is its midnight for the order check, so
    /// <c>from=2026-12-02&amp;to=2026-12-01</c> is refused although the window would end at 12-02's midnight.</param>
    public static (DateTimeOffset From, DateTimeOffset To) Window(DateTimeOffset? from, DateTimeOffset? to, DateTimeOffset now, int maxDays,
        string fromParam = "from", string toParam = "to", string? toAsWritten = null)
    {
        var end = to ?? (from is { } f && f > EndOfToday(now) ? f.AddDays(7) : EndOfToday(now));
        var start = from ?? end.AddDays(-7);
        if (start > end || (toAsWritten is not null && from is not null && from > ParseTime(toAsWritten, toParam)))
            throw new UsageQueryException(fromParam, $"'{fromParam}' ({start:O}) is after '{toParam}' ({end:O}).");
        if (end - start > TimeSpan.FromDays(maxDays))
            throw new UsageQueryException(fromParam, $"The window from '{fromParam}' to '{toParam}' is {(end - start).TotalDays:0.#} days; at most {maxDays} (Usage:MaxReportDays).");
        return (start, end);
    }

    /// <summary><c>7d</c>, <c>12h</c>, <c>2w</c>: a window ending now. Whole days start at a UTC midnight (today counts as one).</summary>
    public static (DateTimeOffset From, DateTimeOffset To) Since(string text, DateTimeOffset now, int maxDays, string param)
    {
        var m = SpanPattern().Match(text.Trim());
        if (!m.Success || !int.TryParse(m.Groups[1].Value, CultureInfo.InvariantCulture, out var n) || n < 1)
            throw new UsageQueryException(param, $"'{param}' value '{Shorten(text)}' is not a span such as 7d, 12h or 2w.");
        var unit = char.ToLowerInvariant(m.Groups[2].Value[0]);
        if (unit == 'h')
        {
            if (n > maxDays * 24L) throw new UsageQueryException(param, $"'{param}' is wider than {maxDays} days (Usage:MaxReportDays).");
            var end = now;
            return (UsageBuckets.StartOfHour(UsageBuckets.HourOf(now) - n + 1), end);
        }
        var days = unit == 'w' ? n * 7L : n;
        if (days > maxDays) throw new UsageQueryException(param, $"'{param}' is wider than {maxDays} days (Usage:MaxReportDays).");
        var to = EndOfToday(now);
        return (to.AddDays(-days), to);
    }

    private static string Shorten(string text) => text.Length > 40 ? text[..40] + "…" : text;

    [GeneratedRegex(@"^(\d{1,6})([hdwHDW])$")]
    private static partial Regex SpanPattern();
}
