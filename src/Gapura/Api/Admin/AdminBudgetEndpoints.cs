using System.Globalization;
using System.Text.Json;
using Gapura.Budgets;
using Gapura.Budgets.Counters;
using Gapura.Storage;

namespace Gapura.Api.Admin;

/// <summary>
/// Budgets and rate limits over HTTP (admins): every definition with where it stands, and per scope — the gateway, the
/// default for all users (rate limits: also for all keys), one user, one key — read, replace (the seed's shape:
/// <c>{"budget": {"daily": {…}}}</c> or bare, <c>{"requests_per_minute": 60}</c>), remove, and reset. Every change is
/// validated (a 400 names the field), audited, and reaches every instance through the change feed.
/// </summary>
internal static class AdminBudgetEndpoints
{
    private const int MaxBodyBytes = 64 * 1024;

    public static void MapAdminBudgetEndpoints(this RouteGroupBuilder admin)
    {
        var group = admin.MapGroup("").AddEndpointFilter(TranslateAsync);
        group.MapGet("/budgets", ListAsync).Produces(StatusCodes.Status200OK, contentType: "application/json").ProducesAdminErrors(401, 403, 503)
            .WithSummary("Every budget and rate limit defined (gateway, defaults, users, keys, and users counted under the default who used some of it) with used / reserved / limit / share / window end / state per limited quantity (admins; "
                + "anyone else gets their own: their user scope and each of their keys with a budget of its own).");
        MapBudget(group, "/budgets/gateway", _ => BudgetTarget.Gateway, "the gateway");
        MapBudget(group, "/budgets/users/default", _ => BudgetTarget.DefaultUser, "the default for every user without a budget of their own");
        MapBudget(group, "/budgets/users/{id:long}", http => BudgetTarget.User(Id(http)), "one user");
        MapBudget(group, "/budgets/keys/{id:long}", http => BudgetTarget.Key(Id(http)), "one API key");

        group.MapGet("/rate-limits", ListRatesAsync).Produces(StatusCodes.Status200OK, contentType: "application/json").ProducesAdminErrors(401, 403)
            .WithSummary("Every rate limit defined: the defaults for users and keys, and each user's and key's own (admins).");
        MapRate(group, "/rate-limits/users/default", _ => BudgetTarget.DefaultUser, "every user without rate limits of their own");
        MapRate(group, "/rate-limits/keys/default", _ => BudgetTarget.DefaultKey, "every key without rate limits of its own");
        MapRate(group, "/rate-limits/users/{id:long}", http => BudgetTarget.User(Id(http)), "one user");
        MapRate(group, "/rate-limits/keys/{id:long}", http => BudgetTarget.Key(Id(http)), "one API key");
    }

    private static void MapBudget(RouteGroupBuilder group, string path, Func<HttpContext, BudgetTarget> target, string what)
    {
        group.MapGet(path, (HttpContext http, BudgetReports reports, IGapuraStore store, CancellationToken ct) => ShowAsync(http, target(http), reports, store, ct))
            .Produces(StatusCodes.Status200OK, contentType: "application/json").ProducesAdminErrors(401, 403, 404, 503)
            .WithSummary($"The budget of {what} (its own, or the default it falls back to), its rate limits and where it stands (admins; a user may read their own and their keys').");
        group.MapPut(path, (HttpContext http, BudgetReports reports, CancellationToken ct) => SetAsync(http, target(http), reports, ct))
            .Produces(StatusCodes.Status200OK, contentType: "application/json").ProducesAdminErrors(400, 401, 403, 404)
            .WithSummary($"Replace the budget of {what}: {{\"budget\": {{\"daily\": {{\"input_tokens\", \"output_tokens\", \"cost_usd\", \"alert_threshold\", \"action\", \"resume_at_period_end\"}}, \"monthly\": {{…}}}}}} or bare (admins).");
        group.MapDelete(path, (HttpContext http, CancellationToken ct) => ClearAsync(http, target(http), ct))
            .Produces(StatusCodes.Status204NoContent).ProducesAdminErrors(400, 401, 403, 404)
            .WithSummary($"Remove the admin-set budget of {what} (?window=daily|monthly: only that window); a user or key falls back to the default, the gateway to the configured one (admins).");
        group.MapPost(path + "/reset", (HttpContext http, BudgetReports reports, CancellationToken ct) => ResetAsync(http, target(http), reports, ct))
            .Produces(StatusCodes.Status200OK, contentType: "application/json").ProducesAdminErrors(400, 401, 403, 404, 503)
            .WithSummary($"Reset {what}: lift its pauses and start its current daily and monthly counts again from zero (admins).");
    }

    private static void MapRate(RouteGroupBuilder group, string path, Func<HttpContext, BudgetTarget> target, string what)
    {
        group.MapGet(path, (HttpContext http, BudgetReports reports, CancellationToken ct) => ShowRateAsync(http, target(http), reports, ct))
            .Produces(StatusCodes.Status200OK, contentType: "application/json").ProducesAdminErrors(401, 403, 404)
            .WithSummary($"The rate limits of {what} (its own, or the default it falls back to) (admins).");
        group.MapPut(path, (HttpContext http, BudgetReports reports, CancellationToken ct) => SetRateAsync(http, target(http), reports, ct))
            .Produces(StatusCodes.Status200OK, contentType: "application/json").ProducesAdminErrors(400, 401, 403, 404)
            .WithSummary($"Replace the rate limits of {what}: {{\"requests_per_minute\", \"tokens_per_minute\", \"concurrent_requests\"}}, each optional (admins).");
        group.MapDelete(path, (HttpContext http, CancellationToken ct) => ClearRateAsync(http, target(http), ct))
            .Produces(StatusCodes.Status204NoContent).ProducesAdminErrors(401, 403, 404)
            .WithSummary($"Remove the admin-set rate limits of {what}; the default (or the configured one) applies again (admins).");
    }

    /// <summary>Budget errors as the admin API reports them: bad input a 400 naming the field, unreachable counters a 503.</summary>
    private static async ValueTask<object?> TranslateAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (BudgetConfigException e)
        {
            throw AdminApiException.Invalid(e.Field, e.Message);
        }
        catch (BudgetCountersUnavailableException e)
        {
            throw new AdminApiException(StatusCodes.Status503ServiceUnavailable, ErrorTypes.Unavailable, e.Message);
        }
    }

    // The route's :long constraint lets a sign through ("-1"): parsed the same way here, so it is an unknown id, not a 500.
    private static long Id(HttpContext http) => long.Parse((string)http.Request.RouteValues["id"]!, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);

    private static async Task<IResult> ListAsync(HttpContext http, BudgetReports reports, BudgetConfigSource source, IGapuraStore store, CancellationToken ct)
    {
        var me = http.GetAdminPrincipal();
        var all = me.IsAdmin ? await reports.AllAsync(ct) : await OwnAsync(me.UserId, reports, source, store, ct);
        return Json(w => WriteAll(w, all, reports.Windows));
    }

    /// <summary>
    /// What a user who is not an admin may see of budgets: their own scope (their budget, or the default they fall back
    /// to) and each of their keys that has a budget of its own — never the gateway's or anyone else's counts.
    /// </summary>
    private static async Task<IReadOnlyList<TargetStatus>> OwnAsync(long userId, BudgetReports reports, BudgetConfigSource source, IGapuraStore store, CancellationToken ct)
    {
        var own = new List<TargetStatus> { await reports.ForTargetAsync(BudgetTarget.User(userId), ct) };
        var budgeted = source.Current.Keys;
        foreach (var key in await store.ApiKeys.ListAsync(userId, includeRevoked: false, ct))
            if (budgeted.ContainsKey(key.Id)) own.Add(await reports.ForTargetAsync(BudgetTarget.Key(key.Id), ct));
        return own;
    }

    private static async Task<IResult> ShowAsync(HttpContext http, BudgetTarget target, BudgetReports reports, IGapuraStore store, CancellationToken ct)
    {
        await RequireReaderAsync(http, target, store, ct);
        var status = await reports.ForTargetAsync(target, ct);
        return Json(w => WriteTarget(w, status));
    }

    /// <summary>Admins read every scope; a user reads their own user scope and their own keys' (read only: every change stays with admins).</summary>
    private static async Task RequireReaderAsync(HttpContext http, BudgetTarget target, IGapuraStore store, CancellationToken ct)
    {
        var me = http.GetAdminPrincipal();
        if (me.IsAdmin) return;
        var owner = target.Kind switch
        {
            BudgetTargetKind.User => target.Id,
            BudgetTargetKind.Key => (await store.ApiKeys.FindAsync(target.Id, ct))?.UserId,
            _ => null,
        };
        if (owner != me.UserId) throw AdminApiException.Forbidden("Only admins may read budgets other than your own and your keys'.");
    }

    private static async Task<IResult> SetAsync(HttpContext http, BudgetTarget target, BudgetReports reports, CancellationToken ct)
    {
        http.RequireAdmin("change budgets");
        using var doc = await ReadJsonAsync(http, ct);
        var budget = Budget.Parse(doc.RootElement, "budget");
        await Changes(http).SetBudgetAsync(target, budget, ct);
        var status = await reports.ForTargetAsync(target, ct);
        return Json(w => WriteTarget(w, status));
    }

    private static async Task<IResult> ClearAsync(HttpContext http, BudgetTarget target, CancellationToken ct)
    {
        http.RequireAdmin("change budgets");
        BudgetPeriod? window = http.Request.Query["window"].ToString() switch
        {
            "" => null,
            "daily" => BudgetPeriod.Daily,
            "monthly" => BudgetPeriod.Monthly,
            var other => throw AdminApiException.Invalid("window", $"'window' is daily or monthly (or absent for the whole budget), not '{other}'."),
        };
        return await Changes(http).ClearBudgetAsync(target, window, ct)
            ? Results.NoContent()
            : throw AdminApiException.NotFound($"No admin-set {(window is null ? "budget" : window == BudgetPeriod.Daily ? "daily budget window" : "monthly budget window")} for {target.Name}.");
    }

    private static async Task<IResult> ResetAsync(HttpContext http, BudgetTarget target, BudgetReports reports, CancellationToken ct)
    {
        http.RequireAdmin("reset budgets");
        await Changes(http).ResetAsync(target, ct);
        var status = await reports.ForTargetAsync(target, ct);
        return Json(w => WriteTarget(w, status));
    }

    private static async Task<IResult> ListRatesAsync(HttpContext http, BudgetReports reports, CancellationToken ct)
    {
        http.RequireAdmin("read rate limits");
        var all = await reports.AllAsync(ct);
        return Json(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("data");
            foreach (var s in all.Where(s => s.RateLimit is not null && s.RateLimitSource != "default")) WriteRate(w, s);
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    private static async Task<IResult> ShowRateAsync(HttpContext http, BudgetTarget target, BudgetReports reports, CancellationToken ct)
    {
        http.RequireAdmin("read rate limits");
        var status = await reports.ForTargetAsync(target, ct);
        return Json(w => WriteRate(w, status));
    }

    private static async Task<IResult> SetRateAsync(HttpContext http, BudgetTarget target, BudgetReports reports, CancellationToken ct)
    {
        http.RequireAdmin("change rate limits");
        using var doc = await ReadJsonAsync(http, ct);
        var limit = RateLimit.Parse(doc.RootElement, "rate_limit");
        await Changes(http).SetRateLimitAsync(target, limit, ct);
        var status = await reports.ForTargetAsync(target, ct);
        return Json(w => WriteRate(w, status));
    }

    private static async Task<IResult> ClearRateAsync(HttpContext http, BudgetTarget target, CancellationToken ct)
    {
        http.RequireAdmin("change rate limits");
        return await Changes(http).ClearRateLimitAsync(target, ct)
            ? Results.NoContent()
            : throw AdminApiException.NotFound($"No admin-set rate limits for {target.Name}.");
    }

    private static BudgetChanges Changes(HttpContext http)
    {
        var sp = http.RequestServices;
        return new BudgetChanges(sp.GetRequiredService<IGapuraStore>(), sp.GetRequiredService<BudgetConfigSource>(), sp.GetRequiredService<IBudgetCounters>(),
            sp.GetRequiredService<BudgetWindows>(), sp.GetRequiredService<TimeProvider>(), (action, target, detail) => http.Audit(action, target, detail));
    }

    /// <summary><c>{"time_zone": "UTC", "data": [target…]}</c>: the document of <c>GET /admin/api/budgets</c> and <c>gapura budgets show --json</c>.</summary>
    internal static void WriteAll(Utf8JsonWriter w, IReadOnlyList<TargetStatus> all, BudgetWindows windows)
    {
        w.WriteStartObject();
        w.WriteString("time_zone", windows.Zone.Id);
        w.WriteStartArray("data");
        foreach (var s in all) WriteTarget(w, s);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>One target: who it is, its budget and rate limits (the seed's shape) with their sources, and its status lines.</summary>
    internal static void WriteTarget(Utf8JsonWriter w, TargetStatus s)
    {
        w.WriteStartObject();
        WriteWho(w, s);
        if (s.Target.HasBudget)
        {
            w.WritePropertyName("budget");
            if (s.Budget is null) w.WriteNullValue(); else s.Budget.WriteTo(w);
            Nullable(w, "budget_source", s.BudgetSource);
        }
        if (s.Target.HasRateLimit)
        {
            w.WritePropertyName("rate_limit");
            if (s.RateLimit is null) w.WriteNullValue(); else s.RateLimit.WriteTo(w);
            Nullable(w, "rate_limit_source", s.RateLimitSource);
        }
        w.WriteStartArray("status");
        foreach (var l in s.Lines) WriteLine(w, l);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteRate(Utf8JsonWriter w, TargetStatus s)
    {
        w.WriteStartObject();
        WriteWho(w, s);
        w.WritePropertyName("rate_limit");
        if (s.RateLimit is null) w.WriteNullValue(); else s.RateLimit.WriteTo(w);
        Nullable(w, "source", s.RateLimitSource);
        w.WriteEndObject();
    }

    private static void WriteWho(Utf8JsonWriter w, TargetStatus s)
    {
        w.WriteString("scope", s.Target.Name);
        w.WriteString("kind", s.Target.KindName);
        w.WriteBoolean("default", s.Target.IsDefault);
        if (s.Target.Kind == BudgetTargetKind.User)
        {
            w.WriteNumber("user_id", s.Target.Id);
            Nullable(w, "email", s.Label);
        }
        else if (s.Target.Kind == BudgetTargetKind.Key)
        {
            w.WriteNumber("key_id", s.Target.Id);
            Nullable(w, "key_prefix", s.Label);
        }
    }

    /// <summary>One limited quantity of one window: the counts, the limit, the share used, when the window ends, the state.</summary>
    internal static void WriteLine(Utf8JsonWriter w, BudgetLine l)
    {
        w.WriteStartObject();
        w.WriteString("scope", l.Scope.Name);
        w.WriteString("source", l.Source);
        w.WriteString("window", l.Window.PeriodName);
        w.WriteString("quantity", l.Quantity.Name());
        w.WriteNumber("used", l.Used);
        w.WriteNumber("reserved", l.Reserved);
        w.WriteNumber("limit", l.Limit);
        if (double.IsFinite(l.Share)) w.WriteNumber("share", Math.Round(l.Share, 4)); else w.WriteNull("share");
        w.WriteString("percent", l.Percent);
        w.WriteString("window_end", l.WindowEnd);
        w.WriteString("state", l.State);
        w.WriteNumber("alert_threshold", l.Window.AlertThreshold);
        w.WriteString("action", l.Window.Action);
        if (l.Pause is { } p)
        {
            w.WriteString("paused_since", p.Since);
            if (p.Until is { } until) w.WriteString("paused_until", until); else w.WriteNull("paused_until");
        }
        w.WriteEndObject();
    }

    private static void Nullable(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null) w.WriteNull(name); else w.WriteString(name, value);
    }

    internal static string ToJson(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer)) write(w);
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static IResult Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer)) write(w);
        return Results.Bytes(buffer.ToArray(), "application/json");
    }

    private static async Task<JsonDocument> ReadJsonAsync(HttpContext http, CancellationToken ct)
    {
        if (http.Request.ContentLength > MaxBodyBytes) throw AdminApiException.Invalid("body", $"The body is larger than {MaxBodyBytes} bytes.");
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int n;
        while ((n = await http.Request.Body.ReadAsync(chunk, ct)) > 0)
        {
            buffer.Write(chunk, 0, n);
            if (buffer.Length > MaxBodyBytes) throw AdminApiException.Invalid("body", $"The body is larger than {MaxBodyBytes} bytes.");
        }
        if (buffer.Length == 0) throw AdminApiException.Invalid("body", "The body is empty.");
        var raw = buffer.ToArray();
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(raw, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw AdminApiException.Invalid("body", $"The body is not valid JSON: {e.Message}");
        }
        // Checked once here: a value quoted back in an error message would otherwise throw on bytes that are not text.
        if (!JsonText.IsAllText(raw))
        {
            doc.Dispose();
            var field = JsonText.FirstInvalidString(raw) ?? "body";
            throw AdminApiException.Invalid(field, $"{field}: {JsonText.NotText}");
        }
        return doc;
    }
}
