using System.Text.Json;

namespace Gapura.Api.Admin;

/// <summary>
/// The admin HTTP API under <c>/admin/api</c> and the OpenAPI document describing it at
/// <c>/openapi/v1.json</c>. Every endpoint answers JSON; every failure is <c>{"error":{"message","type"}}</c>.
/// </summary>
internal static class AdminEndpoints
{
    public const string Prefix = "/admin/api";

    public static IServiceCollection AddGapuraAdmin(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<AdminOptions>(configuration.GetSection(AdminOptions.Section));
        services.AddSingleton<AdminSettings>();
        services.AddSingleton<AdminSessions>();
        services.AddSingleton<SignIn>();
        services.AddSingleton<Gapura.Storage.SignInFailures>();
        services.AddSingleton<SignInThrottle>();
        // The admin records resolve through the source-generated context — for the handlers and for the
        // OpenAPI schemas, which then show the same snake_case names the wire carries.
        services.ConfigureHttpJsonOptions(o => o.SerializerOptions.TypeInfoResolverChain.Insert(0, AdminJsonContext.Default));
        services.AddOpenApi(o => o.AddSchemaTransformer((schema, context, _) =>
        {
            // The document builder names properties by the host's (camelCase) policy; the admin records go
            // over the wire in snake_case, so the document says so too.
            if (schema.Properties is { Count: > 0 } properties && AdminJsonContext.Default.GetTypeInfo(context.JsonTypeInfo.Type) is not null)
            {
                var renamed = properties.ToDictionary(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Key), p => p.Value);
                properties.Clear();
                foreach (var (name, value) in renamed) properties[name] = value;
                if (schema.Required is { Count: > 0 } required)
                {
                    var names = required.Select(JsonNamingPolicy.SnakeCaseLower.ConvertName).ToList();
                    required.Clear();
                    foreach (var n in names) required.Add(n);
                }
            }
            return Task.CompletedTask;
        }));
        return services;
    }

    public static void MapAdminApi(this WebApplication app)
    {
        app.MapOpenApi();

        var api = app.MapGroup(Prefix).AddEndpointFilter<AdminErrorFilter>().WithTags("admin");
        api.MapGroup("").MapAdminPublicEndpoints();

        var admin = api.MapGroup("").AddEndpointFilter<AdminAuthFilter>();
        admin.MapAdminSessionEndpoints();
        admin.MapAdminUserEndpoints();
        admin.MapAdminKeyEndpoints();
        admin.MapAdminSettingsEndpoints();
        admin.MapAdminPricingEndpoints();
        admin.MapAdminUpstreamEndpoints();
        admin.MapAdminUsageEndpoints();
        admin.MapAdminRoutingEndpoints();
        admin.MapAdminCanaryEndpoints();
        admin.MapAdminBudgetEndpoints();

        // What routing answers by itself under the prefix — no such endpoint (404), wrong method (405), a body
        // that is not JSON (415) — gets the admin API's error body too, rather than an empty page. Route
        // endpoints write their own answers; only these bodiless ones are filled in.
        app.Use(async (http, next) =>
        {
            await next(http);
            var status = http.Response.StatusCode;
            if (http.Response.HasStarted || status is not (404 or 405 or 415) || http.GetEndpoint() is RouteEndpoint
                || !http.Request.Path.StartsWithSegments(Prefix, StringComparison.OrdinalIgnoreCase)) return;
            var message = status switch
            {
                404 => $"No admin endpoint {http.Request.Method} {http.Request.Path}.",
                405 => $"{http.Request.Method} is not allowed on {http.Request.Path}.",
                _ => "Send the body as JSON, with 'Content-Type: application/json'.",
            };
            var type = status == 404 ? ErrorTypes.NotFound : ErrorTypes.InvalidRequest;
            await AdminErrorFilter.Result(new AdminApiException(status, type, message)).ExecuteAsync(http);
        });
    }

    /// <summary>Declares the JSON body (for routing, which answers 415 without it, and for the OpenAPI document).</summary>
    public static RouteHandlerBuilder AcceptsJson<T>(this RouteHandlerBuilder builder) where T : notnull
        => builder.Accepts<T>("application/json");

    /// <summary>Declares the error answers an endpoint can give, for the OpenAPI document.</summary>
    public static RouteHandlerBuilder ProducesAdminErrors(this RouteHandlerBuilder builder, params int[] statuses)
    {
        foreach (var status in statuses) builder.Produces<ErrorBody>(status);
        return builder;
    }
}
