using System.Text.Json;
using Gapura.Budgets;
using Gapura.Conversations;
using Gapura.Formats;
using Gapura.Identity;
using Gapura.Ledger;
using Gapura.Routing;
using Microsoft.Extensions.Options;

namespace Gapura.Api;

/// <summary>
/// <c>POST /v1/route</c>: where a request would go and why, without calling any upstream. It takes the same body as a
/// front door; which door is the path's suffix (<c>/v1/route/v1/messages</c>, <c>/v1/route/chat/completions</c>,
/// <c>/v1/route/responses</c>) or <c>?door=anthropic|openai|responses</c> (default: Anthropic when
/// <c>anthropic-version</c> is sent, else OpenAI chat).
/// </summary>
internal static class RouteExplainEndpoint
{
    public static async Task HandleAsync(HttpContext http, string? suffix, TaskRouter router, BudgetGate budgets, CancellationToken ct)
    {
        var (name, door) = Door(http, suffix);
        if (door is null)
        {
            await DefaultDoor(http).WriteErrorAsync(http.Response, GatewayException.BadRequest(
                $"door: '{name}' is not a front door; use the path suffix (v1/messages, chat/completions, responses) or ?door=anthropic|openai|responses."));
            return;
        }
        try
        {
            var explained = await ExplainAsync(http, name!, door, http.FindCaller(), router, budgets, ct);
            http.Response.ContentType = "application/json";
            await http.Response.Body.WriteAsync(explained, ct);
        }
        catch (GatewayException e) when (!http.Response.HasStarted)
        {
            await door.WriteErrorAsync(http.Response, e);
        }
    }

    /// <summary>
    /// The explanation document of the request in <paramref name="http"/>'s body, as <paramref name="caller"/> would send
    /// it through <paramref name="door"/> (its headers count as on the real call): shared by <c>POST /v1/route</c> and the
    /// admin API's <c>POST /admin/api/route</c>, so both answer alike. Bad input and unreachable budget counters are a
    /// <see cref="GatewayException"/>, each caller reporting it in its own error shape.
    /// </summary>
    internal static async Task<byte[]> ExplainAsync(HttpContext http, string doorName, IFrontDoor door, Caller? caller, TaskRouter router, BudgetGate budgets, CancellationToken ct)
    {
        var limit = http.RequestServices.GetRequiredService<IOptions<GatewayOptions>>().Value.MaxRequestBodyBytes;
        using var body = await ChatPipeline.ReadJsonBodyAsync(http.Request, limit, ct);
        var sessionId = ClientApps.SessionId(http.Request.Headers, body.Json.RootElement);
        var request = body.Parse(door);
        var client = ClientApps.Recognize(http.Request.Headers);
        var estimated = RequestTokenCounter.Count(request);
        var explanation = await router.ExplainAsync(request, http.Request.Headers, client, caller, sessionId, estimated, ct);
        BudgetPreview? budget = null;
        if (explanation.Decision is { } decided)
        {
            try
            {
                budget = await budgets.PreviewAsync(caller, decided, estimated, ct);
            }
            catch (Exception e) when (BudgetGate.IsUnreachable(e))
            {
                throw new GatewayException(ErrorKind.UpstreamUnavailable, "The budget counters cannot be reached; try again shortly.", 503);
            }
            // Restricted by a budget: explain the request the fast profile would serve, as the gateway would.
            if (budget?.Outcome == "restricted")
                explanation = explanation with { Decision = await router.RestrictAsync(decided, request, http.Request.Headers, client, caller, estimated, ct) };
        }
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer)) Write(w, doorName, request, client, estimated, explanation, budget);
        return buffer.ToArray();
    }

    private static void Write(Utf8JsonWriter w, string door, ChatRequest request, ClientApp client, int estimated, RouteExplanation e, BudgetPreview? budget)
    {
        var d = e.Decision;
        w.WriteStartObject();
        w.WriteString("door", door);
        w.WriteString("requested_model", request.Model);
        w.WriteString("mode", e.Mode);
        w.WriteStartObject("client");
        w.WriteString("name", client.Name);
        if (client.Version is { } v) w.WriteString("version", v); else w.WriteNull("version");
        w.WriteEndObject();
        w.WriteNumber("estimated_input_tokens", estimated);
        w.WriteBoolean("routed", d?.Routed ?? false);
        if (d?.Classification is { } c) { w.WriteString("task", c.Task); w.WriteString("rule", c.Rule); }
        else { w.WriteNull("task"); w.WriteNull("rule"); }
        if (d?.Reason is { } via) w.WriteString("via", via); else w.WriteNull("via");
        if (d?.Profile is { } p)
        {
            w.WritePropertyName("profile");
            w.WriteStartObject();
            w.WriteString("name", p.Name);
            w.WritePropertyName("settings");
            p.WriteTo(w);
            w.WriteEndObject();
        }
        else w.WriteNull("profile");
        if (d?.Canary is { } canary)
        {
            w.WriteStartObject("canary");
            w.WriteString("model", canary.Choice);
            w.WriteNumber("percent", canary.Percent);
            w.WriteString("variant", d.Variant);
            w.WriteEndObject();
        }
        else w.WriteNull("canary");
        if (d is not null)
        {
            if (d.Request.MaxTokens is { } max) w.WriteNumber("max_tokens", max); else w.WriteNull("max_tokens");
            if (d.Request.Temperature is { } t) w.WriteNumber("temperature", t); else w.WriteNull("temperature");
            w.WriteString("header", d.Routed ? d.Header(null, null) : null);
        }
        w.WriteStartArray("candidates");
        foreach (var r in d?.Candidates ?? [])
        {
            w.WriteStartObject();
            w.WriteString("provider", r.Model.Provider);
            w.WriteString("model", r.Model.Id);
            w.WriteString("display_name", r.Model.DisplayName);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("rules");
        foreach (var r in e.Rules)
        {
            w.WriteStartObject();
            w.WriteString("rule", r.Rule);
            w.WriteString("task", r.Task);
            w.WriteBoolean("matched", r.Matched);
            w.WriteString("why", r.Why);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (e.Error is { } error)
        {
            w.WriteStartObject("error");
            w.WriteNumber("status", error.Status);
            w.WriteString("type", error.Kind.ToString());
            w.WriteString("message", error.Message);
            w.WriteEndObject();
        }
        else w.WriteNull("error");
        if (budget is not null)
        {
            w.WriteStartObject("budget");
            w.WriteString("outcome", budget.Outcome);
            w.WriteString("header", budget.Header);
            w.WriteStartObject("worst_case");
            w.WriteNumber("input_tokens", budget.WorstCase.InputTokens);
            w.WriteNumber("output_tokens", budget.WorstCase.OutputTokens);
            w.WriteNumber("cost_usd", budget.WorstCase.CostUsd);
            w.WriteEndObject();
            w.WriteStartArray("lines");
            foreach (var l in budget.Lines) Admin.AdminBudgetEndpoints.WriteLine(w, l);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        else w.WriteNull("budget");
        w.WriteEndObject();
    }

    /// <summary>The door asked for (<c>?door=</c>, else the path's <paramref name="suffix"/>), by its name; a null door when it names none.</summary>
    internal static (string? Name, IFrontDoor? Door) Door(HttpContext http, string? suffix)
    {
        var asked = (http.Request.Query["door"].ToString() is { Length: > 0 } q ? q : suffix ?? "").Trim('/').ToLowerInvariant();
        if (asked.StartsWith("v1/", StringComparison.Ordinal)) asked = asked[3..];
        var name = asked switch
        {
            "" => http.Request.Headers.ContainsKey("anthropic-version") ? FrontDoors.AnthropicMessages : FrontDoors.OpenAiChat,
            "messages" or "anthropic" or FrontDoors.AnthropicMessages => FrontDoors.AnthropicMessages,
            "chat/completions" or "openai" or "chat" or FrontDoors.OpenAiChat => FrontDoors.OpenAiChat,
            "responses" or FrontDoors.OpenAiResponses => FrontDoors.OpenAiResponses,
            _ => null,
        };
        return name is null ? (asked, null) : (name, http.RequestServices.GetRequiredKeyedService<IFrontDoor>(name));
    }

    private static IFrontDoor DefaultDoor(HttpContext http) => http.RequestServices.GetRequiredKeyedService<IFrontDoor>(
        http.Request.Headers.ContainsKey("anthropic-version") ? FrontDoors.AnthropicMessages : FrontDoors.OpenAiChat);
}
