using Gapura.Conversations;
using Gapura.Formats;
using Gapura.Formats.Anthropic;
using Gapura.Formats.OpenAi;
using Gapura.Identity;
using Gapura.Routing;

namespace Gapura.Api;

/// <summary>The OpenAI- and Anthropic-compatible surface under <c>/v1</c>.</summary>
internal static class ApiEndpoints
{
    /// <summary>Reported as the models' creation time: the catalog has no release dates.</summary>
    private static readonly DateTimeOffset StartedAt = DateTimeOffset.UtcNow;

    public static void MapApiEndpoints(this WebApplication app)
    {
        var openAi = app.Services.GetRequiredKeyedService<IFrontDoor>(FrontDoors.OpenAiChat);
        var anthropic = app.Services.GetRequiredKeyedService<IFrontDoor>(FrontDoors.AnthropicMessages);
        var responses = app.Services.GetRequiredKeyedService<IFrontDoor>(FrontDoors.OpenAiResponses);

        var v1 = app.MapGroup("/v1");
        v1.MapPost("/chat/completions", (HttpContext http, ChatPipeline pipeline) => pipeline.HandleAsync(http, openAi, FrontDoors.OpenAiChat))
            .AddEndpointFilter(new RequireApiKey(_ => openAi));
        v1.MapPost("/responses", (HttpContext http, ChatPipeline pipeline) => pipeline.HandleAsync(http, responses, FrontDoors.OpenAiResponses))
            .AddEndpointFilter(new RequireApiKey(_ => responses));
        // Kept answers of the Responses door, the caller's own only.
        v1.MapGet("/responses/{id}", (HttpContext http, string id, Conversations.Stored.ResponseStore store, CancellationToken ct)
                => StoredResponsesEndpoint.GetAsync(http, id, responses, store, ct))
            .AddEndpointFilter(new RequireApiKey(_ => responses));
        v1.MapDelete("/responses/{id}", (HttpContext http, string id, Conversations.Stored.ResponseStore store, CancellationToken ct)
                => StoredResponsesEndpoint.DeleteAsync(http, id, responses, store, ct))
            .AddEndpointFilter(new RequireApiKey(_ => responses));
        v1.MapGet("/responses/{id}/input_items", (HttpContext http, string id, Conversations.Stored.ResponseStore store, CancellationToken ct)
                => StoredResponsesEndpoint.ListInputItemsAsync(http, id, responses, store, ct))
            .AddEndpointFilter(new RequireApiKey(_ => responses));
        v1.MapPost("/messages", (HttpContext http, ChatPipeline pipeline) => pipeline.HandleAsync(http, anthropic, FrontDoors.AnthropicMessages))
            .AddEndpointFilter(new RequireApiKey(_ => anthropic));
        v1.MapPost("/messages/count_tokens", (HttpContext http, CancellationToken ct) => CountTokensAsync(http, anthropic, ct))
            .AddEndpointFilter(new RequireApiKey(_ => anthropic));
        v1.MapGet("/models", (HttpContext http, RequestRouter router, CancellationToken ct) => ListModelsAsync(http, router, ct))
            .AddEndpointFilter(new RequireApiKey(DialectOf));
        v1.MapGet("/models/{**id}", (HttpContext http, string id, RequestRouter router, CancellationToken ct) => GetModelAsync(http, id, router, ct))
            .AddEndpointFilter(new RequireApiKey(DialectOf));
        v1.MapGet("/usage", (HttpContext http, Storage.IGapuraStore store, TimeProvider time, CancellationToken ct)
                => CallerUsageEndpoint.HandleAsync(http, DialectOf(http), store, time, ct))
            .AddEndpointFilter(new RequireApiKey(DialectOf));
        // Where a request would go and why, without calling an upstream; the door is the path's suffix or ?door=.
        v1.MapPost("/route", (HttpContext http, TaskRouter router, Gapura.Budgets.BudgetGate budgets, CancellationToken ct) => RouteExplainEndpoint.HandleAsync(http, null, router, budgets, ct))
            .AddEndpointFilter(new RequireApiKey(DialectOf));
        v1.MapPost("/route/{**door}", (HttpContext http, string door, TaskRouter router, Gapura.Budgets.BudgetGate budgets, CancellationToken ct) => RouteExplainEndpoint.HandleAsync(http, door, router, budgets, ct))
            .AddEndpointFilter(new RequireApiKey(DialectOf));
        // Anything else under /v1 is a 404 in the caller's dialect rather than an empty page.
        v1.Map("/{**rest}", (HttpContext http) => DialectOf(http).WriteErrorAsync(http.Response,
            new GatewayException(ErrorKind.NotFound, $"No endpoint {http.Request.Method} {http.Request.Path}.")));

        IFrontDoor DialectOf(HttpContext http) => http.Request.Headers.ContainsKey("anthropic-version") ? anthropic : openAi;
    }

    private static async Task CountTokensAsync(HttpContext http, IFrontDoor anthropic, CancellationToken ct)
    {
        try
        {
            var limit = http.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<GatewayOptions>>().Value.MaxRequestBodyBytes;
            using var body = await ChatPipeline.ReadJsonBodyAsync(http.Request, limit, ct);
            var request = body.Parse(anthropic);
            // The same model check as /v1/messages: a count for a model the caller cannot use would be a false promise.
            await http.RequestServices.GetRequiredService<TaskRouter>().EnsureServableAsync(request.Model, http.FindCaller(), ct);
            await AnthropicMessagesFrontDoor.WriteCountTokensAsync(http.Response, request, ct);
        }
        catch (GatewayException e) when (!http.Response.HasStarted)
        {
            await anthropic.WriteErrorAsync(http.Response, e);
        }
        catch (Exception e) when (e is not OperationCanceledException && !http.Response.HasStarted)
        {
            // Never an empty 500: the caller gets the error in its own format.
            http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Gapura.Api.CountTokens").LogError(e, "count_tokens: unexpected failure");
            await anthropic.WriteErrorAsync(http.Response, new GatewayException(ErrorKind.Internal, "The gateway failed to count the tokens."));
        }
    }

    private static async Task ListModelsAsync(HttpContext http, RequestRouter router, CancellationToken ct)
    {
        // Disabled providers and models are left out: a client should not be offered what it will be refused.
        var models = ListedModel.From(await router.ListAsync(http.FindCaller(), ct));
        if (http.Request.Headers.ContainsKey("anthropic-version")) await AnthropicModelList.WriteAsync(http.Response, models, StartedAt, ct);
        else await OpenAiModelList.WriteAsync(http.Response, models, StartedAt, ct);
    }

    private static async Task GetModelAsync(HttpContext http, string id, RequestRouter router, CancellationToken ct)
    {
        var anthropicDialect = http.Request.Headers.ContainsKey("anthropic-version");
        // Both SDKs percent-encode the id ("kiro%2Fclaude-sonnet-4.5"), and a catch-all route value keeps %2F encoded.
        id = Uri.UnescapeDataString(id);
        try
        {
            var resolved = await router.ResolveAsync(id, http.FindCaller(), ct);
            var model = new ListedModel(id, resolved.Model);
            if (anthropicDialect) await AnthropicModelList.WriteOneAsync(http.Response, model, StartedAt, ct);
            else await OpenAiModelList.WriteOneAsync(http.Response, model, StartedAt, ct);
        }
        catch (GatewayException e)
        {
            var door = http.RequestServices.GetRequiredKeyedService<IFrontDoor>(anthropicDialect ? FrontDoors.AnthropicMessages : FrontDoors.OpenAiChat);
            await door.WriteErrorAsync(http.Response, new GatewayException(ErrorKind.NotFound, e.Message));
        }
    }

    /// <summary>Refuses callers without a valid key, answering in the endpoint's own error format.</summary>
    private sealed class RequireApiKey(Func<HttpContext, IFrontDoor> dialect) : IEndpointFilter
    {
        public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
        {
            var http = context.HttpContext;
            var caller = http.RequestServices.GetRequiredService<ApiKeyAuthenticator>().Authenticate(http.Request);
            if (caller is not null)
            {
                http.SetCaller(caller);
                return await next(context);
            }
            var presented = ApiKeyAuthenticator.ReadKey(http.Request);
            var message = presented is null
                ? "Missing API key: send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'."
                : http.RequestServices.GetRequiredService<ApiKeyIndex>().IsOwnerlessBootstrapKey(presented)
                    ? "This is the bootstrap key, but Gapura has no admin yet to own it. Create one with `gapura users add <email> --admin` " +
                      "or POST /admin/api/setup with the set-up code printed at start; the key then works."
                    : "Invalid, expired or revoked API key.";
            await dialect(http).WriteErrorAsync(http.Response, new GatewayException(ErrorKind.Authentication, message));
            // Not null: minimal APIs serialise a null filter result as a JSON "null" body, which fails on the
            // already-started response and aborts the connection mid-401.
            return Results.Empty;
        }
    }
}
