using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
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
            var view = new CallerUsageView("usage", caller.UserId, caller.Email, sessionView, todayView, monthView, Budget: null);
            if (text) await Results.Text(TextReport(view), "text/plain; charset=utf-8", Encoding.UTF8).ExecuteAsync(http);
            else await Results.Json(view, CallerUsageJson.Default.CallerUsageView).ExecuteAsync(http);
        }
        catch (GatewayException e) when (!http.Response.HasStarted)
        {
            await dialect.WriteErrorAsync(http.Response, e);
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
        return text.ToString();
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

/// <summary>The answer of <c>/v1/usage</c>. <see cref="Budget"/> stays null until budgets exist.</summary>
internal sealed record CallerUsageView(string Object, long UserId, string Email, UsageSessionView? Session, UsagePeriodView Today,
    UsagePeriodView ThisMonth, JsonNode? Budget);

[JsonSerializable(typeof(CallerUsageView))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
internal sealed partial class CallerUsageJson : JsonSerializerContext;
