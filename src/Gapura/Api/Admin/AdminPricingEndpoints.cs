using Gapura.Ledger;
using Gapura.Storage;

namespace Gapura.Api.Admin;

/// <summary>
/// The price table the ledger costs requests with (USD per million tokens): built-in list prices, <c>Pricing:Models</c>
/// from the configuration, and admins' own prices, which win and reach every instance through the change feed.
/// </summary>
internal static class AdminPricingEndpoints
{
    public static void MapAdminPricingEndpoints(this RouteGroupBuilder admin)
    {
        admin.MapGet("/pricing", List).Produces<PriceList>().ProducesAdminErrors(401, 403)
            .WithSummary("Every model price in force (USD per million tokens) and where it comes from: builtin, config or admin (admins).");
        admin.MapPut("/pricing/{**model}", SetAsync).AcceptsJson<SetPriceRequest>().Produces<PriceView>().ProducesAdminErrors(400, 401, 403)
            .WithSummary("Set a model's price for every instance; it wins over the built-in and configured ones (admins).");
        admin.MapDelete("/pricing/{**model}", ResetAsync).Produces<PriceView>().ProducesAdminErrors(401, 403, 404)
            .WithSummary("Forget an admin-set price: the configured or built-in one applies again (admins).");
    }

    private static IResult List(HttpContext http, PriceTable prices)
    {
        http.RequireAdmin("read prices");
        return Results.Json(new PriceList([.. prices.List().Select(p => View(p.Model, p.Price, p.Source))], prices.UsdPerKiroCredit), AdminJsonContext.Default.PriceList);
    }

    private static async Task<IResult> SetAsync(string model, HttpContext http, IGapuraStore store, PriceTable prices, CancellationToken ct)
    {
        http.RequireAdmin("change prices");
        var name = ModelName(model);
        var body = await AdminBody.ReadAsync(http.Request, AdminJsonContext.Default.SetPriceRequest, ct);
        var price = new ModelPrice(Bucket(body.Input, "input"), Bucket(body.Output, "output"), Bucket(body.CacheRead, "cache_read"), Bucket(body.CacheWrite, "cache_write"));
        var key = PriceTable.SettingKey(name);
        await store.InTransactionAsync(async s =>
        {
            await s.Settings.SetAsync(key, price.ToSetting(), ct);
            await s.Audit.WriteAsync(http.Audit("pricing.set", "model:" + PriceTable.Normalize(name), price.ToSetting()), ct);
        }, ct);
        // This instance applies it at once; the others within a second, from the change feed.
        await prices.ReloadAllAsync(ct);
        return Results.Json(View(PriceTable.Normalize(name), price, "admin"), AdminJsonContext.Default.PriceView);
    }

    private static async Task<IResult> ResetAsync(string model, HttpContext http, IGapuraStore store, PriceTable prices, CancellationToken ct)
    {
        http.RequireAdmin("change prices");
        var name = ModelName(model);
        var deleted = await store.InTransactionAsync(async s =>
        {
            var gone = await s.Settings.DeleteAsync(PriceTable.SettingKey(name), ct);
            if (gone) await s.Audit.WriteAsync(http.Audit("pricing.reset", "model:" + PriceTable.Normalize(name)), ct);
            return gone;
        }, ct);
        if (!deleted) throw AdminApiException.NotFound($"No admin-set price for '{name}'.");
        await prices.ReloadAllAsync(ct);
        var now = prices.List().FirstOrDefault(p => p.Model == PriceTable.Normalize(name));
        return now.Price is null
            ? Results.Json(new PriceView(PriceTable.Normalize(name), null, null, null, null, "none"), AdminJsonContext.Default.PriceView)
            : Results.Json(View(now.Model, now.Price, now.Source), AdminJsonContext.Default.PriceView);
    }

    private static string ModelName(string model)
        => string.IsNullOrWhiteSpace(model) || model.Length > 200 ? throw AdminApiException.Invalid("model", "Name a model, e.g. /admin/api/pricing/claude-sonnet-4-5.") : model.Trim();

    private static double Bucket(double? value, string field) => value switch
    {
        null => throw AdminApiException.Invalid(field, $"'{field}' is required: USD per million tokens, 0 or more."),
        < 0 or > 1_000_000 => throw AdminApiException.Invalid(field, $"'{field}' must be from 0 to 1,000,000 USD per million tokens."),
        var v when !double.IsFinite(v.Value) => throw AdminApiException.Invalid(field, $"'{field}' must be a number."),
        var v => v.Value,
    };

    private static PriceView View(string model, ModelPrice price, string source)
        => new(model, price.Input, price.Output, price.CacheRead, price.CacheWrite, source);
}
