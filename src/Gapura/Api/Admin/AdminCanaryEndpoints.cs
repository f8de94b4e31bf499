using Gapura.Routing;
using Gapura.Routing.Canary;
using Gapura.Routing.Profiles;
using Gapura.Storage;
using Microsoft.Extensions.Options;

namespace Gapura.Api.Admin;

/// <summary>
/// Canaries on routing profiles: start one (a share of the profile's conversations served by a candidate model), compare
/// it with the baseline since it started, promote or roll it back. Every change goes through <see cref="RoutingChanges"/>,
/// audited as the admin, and reaches every instance through the change feed.
/// </summary>
internal static class AdminCanaryEndpoints
{
    public static void MapAdminCanaryEndpoints(this RouteGroupBuilder admin)
    {
        admin.MapGet("/routing/canaries", List).Produces<CanaryList>().ProducesAdminErrors(401, 403)
            .WithSummary("The running canaries: profile, candidate model, share and start (admins).");
        admin.MapPost("/routing/canaries/{profile}", StartAsync).AcceptsJson<StartCanaryRequest>().Produces<CanaryView>().ProducesAdminErrors(400, 401, 403)
            .WithSummary("Start (or replace) a canary: percent of the profile's conversations, sticky per user and session, go to the candidate model (admins).");
        admin.MapGet("/routing/canaries/{profile}", StatusAsync).Produces<CanaryStatusView>().ProducesAdminErrors(401, 403, 404)
            .WithSummary("A canary against its baseline since it started: error rate, tool-call failures, time to first byte, tokens and cost per request (admins).");
        admin.MapPost("/routing/canaries/{profile}/promote", (string profile, HttpContext http, IGapuraStore store, CancellationToken ct) => EndAsync(profile, true, http, store, ct))
            .Produces<CanaryEndedView>().ProducesAdminErrors(401, 403, 404)
            .WithSummary("End the canary by making its candidate the profile's model, for every instance (admins).");
        admin.MapPost("/routing/canaries/{profile}/rollback", (string profile, HttpContext http, IGapuraStore store, CancellationToken ct) => EndAsync(profile, false, http, store, ct))
            .Produces<CanaryEndedView>().ProducesAdminErrors(401, 403, 404)
            .WithSummary("End the canary: the profile's own model serves all its requests again, on every instance (admins).");
    }

    private static IResult List(HttpContext http, RoutingConfigSource source)
    {
        http.RequireAdmin("read canaries");
        var config = source.Current;
        return Results.Json(new CanaryList([.. config.Canaries.Values.OrderBy(c => c.Profile, StringComparer.Ordinal).Select(c => CanaryView.From(c, config))]),
            AdminJsonContext.Default.CanaryList);
    }

    private static async Task<IResult> StartAsync(string profile, HttpContext http, IGapuraStore store, TimeProvider time, CancellationToken ct)
    {
        var me = http.RequireAdmin("start canaries");
        var body = await AdminBody.ReadAsync(http.Request, AdminJsonContext.Default.StartCanaryRequest, ct);
        var model = AdminBody.Required(body.Model, "model");
        var percent = body.Percent ?? throw AdminApiException.Invalid("percent", "'percent' is required: the share of the profile's conversations, 1 to 100.");
        var changes = Changes(http, store);
        var canary = await Refusing(() => changes.StartCanaryAsync(profile, model, body.Provider, percent, time.NowMs(), me.Actor, ct));
        return Results.Json(CanaryView.From(canary, changes.Current), AdminJsonContext.Default.CanaryView);
    }

    private static async Task<IResult> StatusAsync(string profile, HttpContext http, IGapuraStore store, RoutingConfigSource source, IOptions<CanaryOptions> options, CancellationToken ct)
    {
        http.RequireAdmin("read canaries");
        var config = source.Current;
        var canary = config.CanaryOf(profile) ?? throw NoCanary(profile, config);
        var status = await CanaryStatus.ReadAsync(store, canary, options.Value, ct);
        return Results.Json(CanaryStatusView.From(status, config), AdminJsonContext.Default.CanaryStatusView);
    }

    private static async Task<IResult> EndAsync(string profile, bool promote, HttpContext http, IGapuraStore store, CancellationToken ct)
    {
        http.RequireAdmin(promote ? "promote canaries" : "roll canaries back");
        var changes = Changes(http, store);
        var before = changes.Current;
        var ended = await Refusing(() => changes.EndCanaryAsync(profile, promote, null, ct)) ?? throw NoCanary(profile, before);
        var now = changes.Current.FindProfile(ended.Profile);
        return Results.Json(new CanaryEndedView(promote ? "promoted" : "rolled_back", CanaryView.From(ended, before), now?.FirstChoice ?? ended.Choice),
            AdminJsonContext.Default.CanaryEndedView);
    }

    /// <summary>The changes as this admin, model names checked against what this instance's upstreams offer.</summary>
    private static RoutingChanges Changes(HttpContext http, IGapuraStore store)
    {
        var sp = http.RequestServices;
        return new RoutingChanges(store, sp.GetRequiredService<RoutingConfigSource>(), sp.GetRequiredService<TaskRouter>(), (a, t, d) => http.Audit(a, t, d));
    }

    private static async Task<T> Refusing<T>(Func<Task<T>> change)
    {
        try
        {
            return await change();
        }
        catch (RoutingConfigException e)
        {
            throw AdminApiException.Invalid(e.Field, e.Message);
        }
    }

    private static AdminApiException NoCanary(string profile, RoutingConfig config)
        => AdminApiException.NotFound(config.FindProfile(profile) is null
            ? $"No profile is named '{profile}' (profiles: {string.Join(", ", config.Profiles.Keys.Order(StringComparer.Ordinal))})."
            : $"No canary is running on profile '{profile}'.");
}

/// <summary>A canary to start: the candidate model (optionally pinned to a provider) and the share of conversations, 1 to 100.</summary>
internal sealed record StartCanaryRequest(string? Model, string? Provider = null, int? Percent = null);

/// <summary>A running (or just ended) canary; <paramref name="BaselineModel"/> is the profile's own model.</summary>
internal sealed record CanaryView(string Profile, string Model, string? Provider, int Percent, DateTimeOffset StartedAt, string StartedBy, string? BaselineModel)
{
    public static CanaryView From(CanaryDefinition c, RoutingConfig config)
        => new(c.Profile, c.Model, c.Provider, c.Percent, c.StartedAt, c.StartedBy, config.FindProfile(c.Profile)?.FirstChoice);
}

internal sealed record CanaryList(IReadOnlyList<CanaryView> Data);

/// <summary>
/// One side of a canary. Rates are 0–1 and null with no requests; <paramref name="CostUsdPerRequest"/> covers the priced
/// requests only (null when none had a price), <paramref name="UnpricedRequests"/> says how many were left out.
/// </summary>
internal sealed record CanaryVariantView(
    string Model, long Requests, long Errors, double? ErrorRate, long ClientClosed, long ToolErrorRequests, double? ToolErrorRate, long ToolErrors,
    double? TtfbMeanMs, double? TtfbP50Ms, double? InputTokensPerRequest, double? OutputTokensPerRequest, double? CostUsdPerRequest, long UnpricedRequests)
{
    public static CanaryVariantView From(string model, CanaryVariantStatus s) => new(model, s.Requests, s.Figures.Errors, s.ErrorRate, s.Figures.ClientClosed,
        s.Figures.ToolErrorRequests, s.ToolErrorRate, s.Figures.ToolErrors, s.Figures.TtfbMeanMs, s.Figures.TtfbP50Ms, s.InputTokensPerRequest,
        s.OutputTokensPerRequest, s.CostUsdPerRequest, s.Figures.UnpricedRequests);
}

/// <summary>Candidate minus baseline; null when either side has nothing to compare.</summary>
internal sealed record CanaryDifferenceView(
    double? ErrorRate, double? ToolErrorRate, double? TtfbMeanMs, double? TtfbP50Ms, double? InputTokensPerRequest, double? OutputTokensPerRequest, double? CostUsdPerRequest);

/// <summary>Where the canary stands against <c>Routing:Canary:MaxErrorRateIncrease</c> and <c>MinRequests</c>.</summary>
internal sealed record CanaryRollbackView(double MaxErrorRateIncrease, int MinRequests, bool WouldRollBack, string Note);

internal sealed record CanaryStatusView(CanaryView Canary, CanaryVariantView Baseline, CanaryVariantView Candidate, CanaryDifferenceView Difference, CanaryRollbackView AutomaticRollback)
{
    public static CanaryStatusView From(CanaryStatus s, RoutingConfig config)
    {
        var canary = CanaryView.From(s.Canary, config);
        return new CanaryStatusView(canary,
            CanaryVariantView.From(canary.BaselineModel ?? "?", s.Baseline),
            CanaryVariantView.From(s.Canary.Choice, s.Candidate),
            new CanaryDifferenceView(s.ErrorRateIncrease, s.ToolErrorRateIncrease, s.TtfbMeanMsDifference, s.TtfbP50MsDifference,
                s.InputTokensPerRequestDifference, s.OutputTokensPerRequestDifference, s.CostUsdPerRequestDifference),
            new CanaryRollbackView(s.MaxErrorRateIncrease, s.MinRequests, s.ShouldRollBack, s.RollbackNote));
    }
}

/// <summary><paramref name="Outcome"/>: promoted or rolled_back; <paramref name="ProfileModel"/> is the profile's model from now on.</summary>
internal sealed record CanaryEndedView(string Outcome, CanaryView Canary, string ProfileModel);
