using System.Globalization;

namespace Gapura.Budgets;

/// <summary>
/// One window of one scope's budget: the counter a request is charged to. <see cref="Window"/> is the window's first
/// day in the budget time zone (<c>2026-12-06</c> daily, <c>2026-12</c> monthly), so a new window is a new counter and
/// nothing needs resetting at midnight.
/// </summary>
internal readonly record struct MeterKey(string Scope, BudgetPeriod Period, string Window)
{
    public string PeriodName => Period == BudgetPeriod.Daily ? "daily" : "monthly";
}

/// <summary>
/// Where windows start and end: midnight and the 1st of the month in <c>Budgets:TimeZone</c>. Holds the budgets' clock
/// too, so a test can move budgets across midnight without moving every timer of the gateway.
/// </summary>
internal sealed class BudgetWindows(TimeZoneInfo zone, TimeProvider? clock = null)
{
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    public TimeZoneInfo Zone { get; } = zone;

    public DateTimeOffset Now => _clock.GetUtcNow();

    public static TimeZoneInfo ParseZone(string? name, string field = "Budgets:TimeZone")
    {
        if (string.IsNullOrWhiteSpace(name)) return TimeZoneInfo.Utc;
        try
        {
            return TimeZoneInfo.FindSystemTimeZoneById(name.Trim());
        }
        catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException)
        {
            throw new BudgetConfigException(field, $"{field}: '{name}' is not a time zone; use an IANA name such as UTC, Europe/Berlin or America/New_York.");
        }
    }

    /// <summary>The window containing <paramref name="now"/>: its counter id, start and end (as instants).</summary>
    public (string Id, DateTimeOffset Start, DateTimeOffset End) Of(BudgetPeriod period, DateTimeOffset now)
    {
        var local = TimeZoneInfo.ConvertTime(now, Zone);
        var startDate = period == BudgetPeriod.Daily ? DateOnly.FromDateTime(local.DateTime) : new DateOnly(local.Year, local.Month, 1);
        var endDate = period == BudgetPeriod.Daily ? startDate.AddDays(1) : startDate.AddMonths(1);
        var id = period == BudgetPeriod.Daily
            ? startDate.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)
            : startDate.ToString("yyyy-MM", CultureInfo.InvariantCulture);
        return (id, AtMidnight(startDate), AtMidnight(endDate));
    }

    public MeterKey Meter(BudgetScope scope, BudgetPeriod period, DateTimeOffset now) => new(scope.Name, period, Of(period, now).Id);

    /// <summary>Midnight of a date in the zone as an instant; a midnight skipped by a clock change is the first moment after it.</summary>
    private DateTimeOffset AtMidnight(DateOnly date)
    {
        var local = date.ToDateTime(TimeOnly.MinValue, DateTimeKind.Unspecified);
        while (Zone.IsInvalidTime(local)) local = local.AddMinutes(30);
        return new DateTimeOffset(local, Zone.GetUtcOffset(local));
    }
}
