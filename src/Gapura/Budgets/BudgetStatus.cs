using System.Globalization;
using System.Text;
using Gapura.Budgets.Counters;

namespace Gapura.Budgets;

/// <summary>Where a budget window stands: <c>ok</c>, <c>alerted</c> (past its threshold), <c>restricted</c>, <c>paused</c>.</summary>
internal static class BudgetStates
{
    public const string Ok = "ok";
    public const string Alerted = "alerted";
    public const string Restricted = "restricted";
    public const string Paused = "paused";
}

/// <summary>
/// One limited quantity of one budget window for one scope, with its counts: what <c>GET /v1/usage</c>,
/// <c>gapura budgets show</c>, the admin API and <c>x-gapura-budget</c> report, and what the budget stage acts on.
/// </summary>
internal sealed record BudgetLine(
    BudgetScope Scope, string Source, BudgetLimit Window, BudgetQuantity Quantity, MeterKey Meter,
    double Used, double Reserved, double Limit, DateTimeOffset WindowEnd, string State, BudgetPause? Pause)
{
    /// <summary>Used over the limit (settled use only: reservations are worst cases, not spending).</summary>
    public double Share => Limit > 0 ? Used / Limit : Used > 0 ? double.PositiveInfinity : 0;

    /// <summary><c>daily-input</c>, <c>monthly-cost</c>: the name in headers and messages.</summary>
    public string Label => $"{Window.PeriodName}-{Quantity.Name()}";

    public bool PastThreshold => Used >= Window.AlertThreshold * Limit;

    public string Percent => Share >= 10 ? ">999%" : ((int)Math.Floor(Share * 100)).ToString(CultureInfo.InvariantCulture) + "%";
}

/// <summary>The arithmetic of budgets, shared by the request path and the reports: no I/O here.</summary>
internal static class BudgetStatus
{
    /// <summary>The meters a request of a caller under these budgets is charged to, with the limits that may refuse it.</summary>
    public static IReadOnlyList<MeterCharge> Charges(IReadOnlyList<ApplicableBudget> budgets, BudgetWindows windows, DateTimeOffset now)
    {
        var charges = new List<MeterCharge>(budgets.Count * 2);
        foreach (var b in budgets)
            foreach (var w in b.Budget.Windows)
            {
                var key = windows.Meter(b.Scope, w.Period, now);
                charges.Add(w.IsPause ? new MeterCharge(key, w.InputTokens, w.OutputTokens, w.CostUsd) : new MeterCharge(key, null, null, null));
            }
        return charges;
    }

    /// <summary>Every limited quantity of these budgets in their current windows, with its state.</summary>
    public static IReadOnlyList<BudgetLine> Lines(IReadOnlyList<ApplicableBudget> budgets, IReadOnlyList<MeterState> meters,
        IReadOnlyList<BudgetPause> pauses, BudgetWindows windows, DateTimeOffset now)
    {
        var lines = new List<BudgetLine>(budgets.Count * 4);
        foreach (var b in budgets)
            foreach (var w in b.Budget.Windows)
            {
                var (id, _, end) = windows.Of(w.Period, now);
                var key = new MeterKey(b.Scope.Name, w.Period, id);
                var meter = meters.FirstOrDefault(m => m.Key == key);
                var pause = pauses.FirstOrDefault(p => p.Scope == key.Scope && p.Period == w.Period && (p.Until is null || p.Until > now));
                foreach (var q in BudgetQuantities.All)
                {
                    if (w.LimitOf(q) is not { } limit) continue;
                    var used = meter?.Used.Of(q) ?? 0;
                    var reserved = meter?.Reserved.Of(q) ?? 0;
                    var past = used >= w.AlertThreshold * limit;
                    var state = pause is not null || (w.IsPause && used >= limit) ? BudgetStates.Paused
                        : past && w.Action == BudgetActions.Restrict ? BudgetStates.Restricted
                        : past ? BudgetStates.Alerted
                        : BudgetStates.Ok;
                    lines.Add(new BudgetLine(b.Scope, b.Source, w, q, key, used, reserved, limit, end, state, pause));
                }
            }
        return lines;
    }

    /// <summary>
    /// <c>x-gapura-budget</c>: for each window length, the caller's most-used budget quantity —
    /// <c>daily-input=81%; monthly-output=40%</c> — or null when no budget applies.
    /// </summary>
    public static string? Header(IReadOnlyList<BudgetLine> lines)
    {
        if (lines.Count == 0) return null;
        BudgetLine? daily = null, monthly = null;
        foreach (var l in lines)
        {
            if (l.Window.Period == BudgetPeriod.Daily) { if (daily is null || l.Share > daily.Share) daily = l; }
            else if (monthly is null || l.Share > monthly.Share) monthly = l;
        }
        var b = new StringBuilder(48);
        foreach (var l in (ReadOnlySpan<BudgetLine?>)[daily, monthly])
        {
            if (l is null) continue;
            if (b.Length > 0) b.Append("; ");
            b.Append(l.Label).Append('=').Append(l.Percent);
        }
        return b.ToString();
    }

    /// <summary>A token count as people write it in budgets: 500k, 10M, 1.5M.</summary>
    public static string Tokens(double n) => n switch
    {
        >= 1_000_000 => (n / 1_000_000).ToString("0.##", CultureInfo.InvariantCulture) + "M",
        >= 10_000 => (n / 1_000).ToString("0.#", CultureInfo.InvariantCulture) + "k",
        _ => n.ToString("0", CultureInfo.InvariantCulture),
    };

    /// <summary>One quantity's amount in its unit: tokens, or dollars for cost.</summary>
    public static string Amount(BudgetQuantity q, double n) => q == BudgetQuantity.Cost ? "$" + n.ToString("0.00", CultureInfo.InvariantCulture) : Tokens(n) + " tokens";
}
