using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;
using Gapura.Budgets;
using Gapura.Conversations;
using Gapura.Formats;
using Gapura.Identity;
using Gapura.Ledger;
using Gapura.Storage;

namespace Gapura.Api;

/// <summary>
/// <c>GET /v1/usage</c>: the caller's own usage, the <c>/usage</c> of Kiro's model strategy for API clients — this
/// session (when the request names one), today and this month (UTC) per model, with cost. Always the whole user's
/// usage, whichever of their keys asks, and never anyone else's. JSON, or a short text report with
/// <c>Accept: text/plain</c> or <c>?format=text</c>.
/// </summary>
internal static class CallerUsageEndpoint
{
    private const int MaxSessionLength = 200;

    public static async Task HandleAsync(HttpContext http, IFrontDoor dialect, IGapuraStore store, TimeProvider time, CancellationToken ct)
    {
        var caller = http.GetCaller();
        try
        {
            var text = WantsText(http.Request);
            var session = http.Request.Query["session"].ToString() is { Length: > 0 } asked ? asked : ClientApps.SessionId(http.Request.Headers, default);
            if (session is { Length: > MaxSessionLength })
                throw GatewayException.BadRequest($"'session' is at most {MaxSessionLength} characters.");

            var now = time.GetUtcNow();
            var today = UsageBuckets.DayOf(now);
            var month = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero);
            // Whole UTC days both: the daily rollup answers, a handful of rows for the user.
            var todayView = await PeriodAsync(store, caller.UserId, UsageBuckets.StartOfDay(today), UsageBuckets.StartOfDay(today + 1), ct);
            var monthView = await PeriodAsync(store, caller.UserId, month, month.AddMonths(1), ct);
            UsageSessionView? sessionView = null;
            if (session is not null)
            {
                var rows = await store.UsageReports.SessionAsync(caller.UserId, session, ct);
                sessionView = new UsageSessionView(session, [.. rows.Select(ModelView)], Totals(UsageReportRow.Total(rows)));
            }
            var reports = http.RequestServices.GetRequiredService<BudgetReports>();
            var budgets = await reports.ForCallerAsync(caller, ct);
            var view = new CallerUsageView("usage", caller.UserId, caller.Email, sessionView, todayView, monthView, BudgetView(budgets, reports.Windows));
            if (text) await Results.Text(TextReport(view), "text/plain; charset=utf-8", Encoding.UTF8).ExecuteAsync(http);
            else await Results.Json(view, CallerUsageJson.Default.CallerUsageView).ExecuteAsync(http);
        }
        catch (GatewayException e) when (!http.Response.HasStarted)
        {
            await dialect.WriteErrorAsync(http.Response, e);
        }
        catch (BudgetCountersUnavailableException e) when (!http.Response.HasStarted)
        {
            await dialect.WriteErrorAsync(http.Response, new GatewayException(ErrorKind.Internal, e.Message, status: 503));
        }
        catch (Exception e) when (e is DatabaseUnavailableException or System.Data.Common.DbException && !http.Response.HasStarted)
        {
            await dialect.WriteErrorAsync(http.Response, new GatewayException(ErrorKind.Internal, "The usage database cannot be reached; try again shortly.", status: 503));
        }
    }

    /// <summary><c>?format=text|json</c> decides; else the Accept header's preferred of text/plain and JSON; else JSON.</summary>
    private static bool WantsText(HttpRequest request)
    {
        var format = request.Query["format"].ToString();
        if (format.Length > 0)
        {
            return format.ToLowerInvariant() switch
            {
                "text" => true,
                "json" => false,
                _ => throw GatewayException.BadRequest("'format' must be \"text\" or \"json\"."),
            };
        }
        var accepted = request.GetTypedHeaders().Accept
            .Where(a => a.MediaType.Equals("text/plain", StringComparison.OrdinalIgnoreCase) || a.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
            .OrderByDescending(a => a.Quality ?? 1)
            .FirstOrDefault();
        return accepted is not null && accepted.MediaType.Equals("text/plain", StringComparison.OrdinalIgnoreCase);
    }

    private static async Task<UsagePeriodView> PeriodAsync(IGapuraStore store, long userId, DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        var rows = await store.UsageReports.QueryAsync(new UsageQuery(from, to, [UsageDimension.Model], userId), ct);
        return new UsagePeriodView(from, to, [.. rows.Select(ModelView)], Totals(UsageReportRow.Total(rows)));
    }

    /// <summary>The budgets and rate limits counting the caller's requests, or null when none does.</summary>
    private static CallerBudgetView? BudgetView(CallerBudgets budgets, BudgetWindows windows)
    {
        if (budgets.IsEmpty) return null;
        var lines = budgets.Lines.Select(l => new CallerBudgetLineView(l.Scope.KindName, l.Source, l.Window.PeriodName, l.Quantity.Name(), l.Used, l.Reserved, l.Limit,
            double.IsFinite(l.Share) ? Math.Round(l.Share, 4) : null, l.Percent, l.WindowEnd, l.State, l.Window.AlertThreshold, l.Window.Action,
            // A window paused by a standing pause lifts at its end (or at a reset); one merely full, when the next window starts.
            l.State != BudgetStates.Paused ? null : l.Pause is { } pause ? pause.Until : l.WindowEnd)).ToList();
        var rates = budgets.RateLimits.Select(r => new CallerRateLimitView(r.Scope.KindName, r.Source, r.Limit.RequestsPerMinute, r.Limit.TokensPerMinute,
            r.Limit.ConcurrentRequests)).ToList();
        return new CallerBudgetView(windows.Zone.Id, BudgetStatus.Header(budgets.Lines), lines, rates);
    }

    private static UsageModelView ModelView(UsageReportRow r)
        => new(r.Model ?? "", r.Requests, r.InputTokens, r.OutputTokens, r.CacheReadTokens, r.CacheWriteTokens, r.CostUsd, r.UnpricedRequests);

    private static UsageTotalsView Totals(UsageReportRow r)
        => new(r.Requests, r.InputTokens, r.OutputTokens, r.CacheReadTokens, r.CacheWriteTokens, r.CostUsd, r.UnpricedRequests);

    /// <summary>
    /// Laid out like Kiro's <c>/usage</c>: token totals with the per-model split, the estimated cost, then the day's
    /// (and month's) input / output. Without a session the per-model block is today's.
    /// </summary>
    internal static string TextReport(CallerUsageView view)
    {
        var text = new StringBuilder();
        if (view.Session is { } session) Block(text, "Session token usage:", session.Models, session.Totals);
        else Block(text, "Today's token usage:", view.Today.Models, view.Today.Totals);
        text.Append(CultureInfo.InvariantCulture, $"Daily usage: {N(view.Today.Totals.InputTokens)} input / {N(view.Today.Totals.OutputTokens)} output tokens{CostNote(view.Today.Totals)}\n");
        text.Append(CultureInfo.InvariantCulture, $"Monthly usage: {N(view.ThisMonth.Totals.InputTokens)} input / {N(view.ThisMonth.Totals.OutputTokens)} output tokens{CostNote(view.ThisMonth.Totals)}\n");
        if (view.Budget is { } budget)
        {
            foreach (var l in budget.Lines) text.Append(BudgetLine(l, budget.TimeZone)).Append('\n');
            foreach (var r in budget.RateLimits) text.Append(RateLine(r)).Append('\n');
        }
        return text.ToString();
    }

    /// <summary><c>Daily budget (user): 182,341 / 500,000 input tokens (36%) — ok, resets 2026-12-07 00:00 UTC</c>.</summary>
    private static string BudgetLine(CallerBudgetLineView l, string zoneId)
    {
        var zone = BudgetWindows.ParseZone(zoneId);
        string When(DateTimeOffset t) => TimeZoneInfo.ConvertTime(t, zone).ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + " " + zoneId;
        var amounts = l.Quantity == "cost"
            ? $"{Usd(l.Used)} / {Usd(l.Limit)}"
            : $"{N((long)l.Used)} / {N((long)l.Limit)} {l.Quantity} tokens";
        var state = l.State == BudgetStates.Paused
            ? l.PausedUntil is { } until ? $"paused until {When(until)}" : "paused until an admin resets it"
            : $"{l.State}, resets {When(l.WindowEnd)}";
        var window = l.Window == "daily" ? "Daily" : "Monthly";
        return $"{window} budget ({l.Scope}): {amounts} ({l.Percent}) — {state}";
    }

    /// <summary><c>Rate limits (user): 60 requests/min, 200,000 tokens/min, 4 at a time</c>.</summary>
    private static string RateLine(CallerRateLimitView r)
    {
        var parts = new List<string>(3);
        if (r.RequestsPerMinute is { } rpm) parts.Add($"{N(rpm)} requests/min");
        if (r.TokensPerMinute is { } tpm) parts.Add($"{N(tpm)} tokens/min");
        if (r.ConcurrentRequests is { } c) parts.Add($"{N(c)} at a time");
        return $"Rate limits ({r.Scope}): {string.Join(", ", parts)}";
    }

    private static void Block(StringBuilder text, string title, IReadOnlyList<UsageModelView> models, UsageTotalsView totals)
    {
        text.Append(title).Append('\n');
        text.Append(CultureInfo.InvariantCulture, $"Input: {N(totals.InputTokens)} tokens{Split(models, m => m.InputTokens)}\n");
        text.Append(CultureInfo.InvariantCulture, $"Output: {N(totals.OutputTokens)} tokens{Split(models, m => m.OutputTokens)}\n");
        if (totals.CacheReadTokens + totals.CacheWriteTokens > 0)
            text.Append(CultureInfo.InvariantCulture, $"Cache: {N(totals.CacheReadTokens)} read / {N(totals.CacheWriteTokens)} written tokens\n");
        text.Append("Estimated cost: ").Append(Cost(totals)).Append('\n');
    }

    private static string Split(IReadOnlyList<UsageModelView> models, Func<UsageModelView, long> tokens)
        => models.Count == 0 ? "" : " (" + string.Join(" | ", models.Select(m => $"{m.Model}: {N(tokens(m))}")) + ")";

    private static string Cost(UsageTotalsView t) => t.CostUsd switch
    {
        null when t.Requests == 0 => "$0.00",
        null => "unknown (no price for these models)",
        { } usd when t.UnpricedRequests > 0 => $"{Usd(usd)} (+ {N(t.UnpricedRequests)} requests without a price)",
        { } usd => Usd(usd),
    };

    private static string CostNote(UsageTotalsView t) => t.CostUsd is { } usd ? $" ({Usd(usd)})" : "";

    private static string Usd(double usd) => "$" + usd.ToString(usd is > 0 and < 0.01 ? "0.0000" : "N2", CultureInfo.InvariantCulture);

    private static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
}

internal sealed record UsageModelView(string Model, long Requests, long InputTokens, long OutputTokens, long CacheReadTokens, long CacheWriteTokens,
    double? CostUsd, long UnpricedRequests);

internal sealed record UsageTotalsView(long Requests, long InputTokens, long OutputTokens, long CacheReadTokens, long CacheWriteTokens,
    double? CostUsd, long UnpricedRequests);

internal sealed record UsagePeriodView(DateTimeOffset From, DateTimeOffset To, IReadOnlyList<UsageModelView> Models, UsageTotalsView Totals);

internal sealed record UsageSessionView(string Id, IReadOnlyList<UsageModelView> Models, UsageTotalsView Totals);

/// <summary>The answer of <c>/v1/usage</c>. <see cref="Budget"/> is null when no budget or rate limit counts the caller's requests.</summary>
internal sealed record CallerUsageView(string Object, long UserId, string Email, UsageSessionView? Session, UsagePeriodView Today,
    UsagePeriodView ThisMonth, CallerBudgetView? Budget);

/// <summary>
/// The caller's budgets: a line per limited quantity of each budget counting their requests (the gateway's, their own or
/// the default for all users, their key's), the <c>x-gapura-budget</c> summary, and their rate limits. Windows end at
/// midnight (daily) or on the 1st (monthly) in <see cref="TimeZone"/>.
/// </summary>
internal sealed record CallerBudgetView(string TimeZone, string? Header, IReadOnlyList<CallerBudgetLineView> Lines, IReadOnlyList<CallerRateLimitView> RateLimits);

/// <param name="Scope"><c>gateway</c>, <c>user</c> or <c>key</c>: whose spending the line counts.</param>
/// <param name="Source"><c>gateway</c>, <c>user</c>, <c>user-default</c> (the default for all users) or <c>key</c>.</param>
/// <param name="Share">Used over the limit (null for a limit of 0 already used).</param>
/// <param name="State"><c>ok</c>, <c>alerted</c>, <c>restricted</c> or <c>paused</c>.</param>
/// <param name="PausedUntil">When a pause lifts by itself; null while paused means until an admin resets it.</param>
internal sealed record CallerBudgetLineView(string Scope, string Source, string Window, string Quantity, double Used, double Reserved, double Limit,
    double? Share, string Percent, DateTimeOffset WindowEnd, string State, double AlertThreshold, string Action, DateTimeOffset? PausedUntil);

internal sealed record CallerRateLimitView(string Scope, string Source, int? RequestsPerMinute, long? TokensPerMinute, int? ConcurrentRequests);

[JsonSerializable(typeof(CallerUsageView))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
internal sealed partial class CallerUsageJson : JsonSerializerContext;
