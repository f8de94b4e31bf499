using System.Text.Json;
using Gapura.Budgets;
using Gapura.Conversations;
using Gapura.Identity;
using Gapura.Routing;
using Gapura.Routing.Profiles;
using Gapura.Routing.Tasks;
using Gapura.Storage;

namespace Gapura.Api.Admin;

/// <summary>
/// Routing by task over HTTP (admins): the configuration in force, profiles, the task table, classification rules,
/// modes and the seed import. Profiles and rules answer in snake_case like the rest of the admin API (<c>max_tokens</c>,
/// <c>last_user_text</c>); a body may also use the camelCase of <c>.kiro/settings.json</c> and older definitions
/// (<see cref="Hosting.FieldNames"/>), so the seed's documents still import. Every change is
/// validated (a 400 names the field), audited, and reaches every instance through the change feed. <c>POST /route</c>, the
/// twin of <c>POST /v1/route</c> for people signed in (the console), is open to every user for their own requests.
/// </summary>
internal static class AdminRoutingEndpoints
{
    private const int MaxBodyBytes = 1024 * 1024;

    public static void MapAdminRoutingEndpoints(this RouteGroupBuilder admin)
    {
        admin.MapGet("/routing", Show).Produces(StatusCodes.Status200OK, contentType: "application/json").ProducesAdminErrors(401, 403)
            .WithSummary("Routing in force: mode (gateway, per user, per key), profiles, task table, rules and canaries, each with where it comes from (admins).");
        admin.MapPut("/routing/profiles/{name}", SetProfileAsync).Produces(StatusCodes.Status200OK, contentType: "application/json").ProducesAdminErrors(400, 401, 403)
            .WithSummary("Create or replace a profile: {\"provider\", \"model\", \"max_tokens\", \"temperature\", \"fallbacks\"}; every model must be offered by an upstream (admins).");
        admin.MapDelete("/routing/profiles/{name}", DeleteProfileAsync).Produces(StatusCodes.Status204NoContent).ProducesAdminErrors(400, 401, 403, 404)
            .WithSummary("Delete an admin-set profile; a configured or built-in one of that name applies again (admins).");
        admin.MapPut("/routing/tasks/{task}", SetTaskAsync).Produces(StatusCodes.Status200OK, contentType: "application/json").ProducesAdminErrors(400, 401, 403)
            .WithSummary("Route a task type to a profile: {\"profile\": \"fast\"} (admins).");
        admin.MapDelete("/routing/tasks/{task}", ResetTaskAsync).Produces(StatusCodes.Status204NoContent).ProducesAdminErrors(400, 401, 403, 404)
            .WithSummary("Forget an admin-set task route: the configured or default profile applies again (admins).");
        admin.MapPut("/routing/rules", SetRulesAsync).Produces(StatusCodes.Status200OK, contentType: "application/json").ProducesAdminErrors(400, 401, 403)
            .WithSummary("Replace the configured classification rules (a JSON array, evaluated in order before the built-in rules) (admins).");
        admin.MapDelete("/routing/rules", ResetRulesAsync).Produces(StatusCodes.Status204NoContent).ProducesAdminErrors(401, 403, 404)
            .WithSummary("Forget the admin-set rules: the configured ones apply again (admins).");
        admin.MapPut("/routing/mode", SetModeAsync).Produces(StatusCodes.Status200OK, contentType: "application/json").ProducesAdminErrors(400, 401, 403, 404)
            .WithSummary("Set when routing applies: {\"mode\": \"virtual|override|off\"} for the gateway, with \"user_id\" or \"key_id\" for one user or key (mode null removes theirs) (admins).");
        admin.MapPost("/routing/import", ImportAsync).Produces(StatusCodes.Status200OK, contentType: "application/json").ProducesAdminErrors(400, 401, 403)
            .WithSummary("Import a .kiro/settings.json-style document ({\"models\": {\"primary\": {…}, \"fast\": {…}, \"routing\": {…}}}, comments allowed) (admins).");
        admin.MapPost("/route", ExplainAsync).Produces(StatusCodes.Status200OK, contentType: "application/json").ProducesAdminErrors(400, 401, 403, 404, 503)
            .WithSummary("Where a request would go and why, as POST /v1/route answers it, without calling any upstream: the body is a front door's (?door=anthropic|openai|responses; "
                + "default anthropic when anthropic-version is sent, else openai), explained for the signed-in caller; admins may name another with ?user_id= or ?key_id=.");
    }

    private static IResult Show(HttpContext http, RoutingConfigSource source)
    {
        http.RequireAdmin("read the routing configuration");
        return Json(w => WriteConfig(w, source.Current));
    }

    private static async Task<IResult> SetProfileAsync(string name, HttpContext http, CancellationToken ct)
    {
        http.RequireAdmin("change routing");
        using var doc = await ReadJsonAsync(http, ct);
        var profile = RoutingProfile.Parse(name, doc.RootElement, $"profiles.{name}");
        await Changes(http).SaveProfileAsync(profile, ct);
        return Json(w => WriteProfile(w, profile, "admin"));
    }

    private static async Task<IResult> DeleteProfileAsync(string name, HttpContext http, CancellationToken ct)
    {
        http.RequireAdmin("change routing");
        return await Changes(http).DeleteProfileAsync(name, ct) ? Results.NoContent() : throw AdminApiException.NotFound($"No admin-set profile is named '{name}'.");
    }

    private static async Task<IResult> SetTaskAsync(string task, HttpContext http, CancellationToken ct)
    {
        http.RequireAdmin("change routing");
        using var doc = await ReadJsonAsync(http, ct);
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("profile", out var p) || p.ValueKind != JsonValueKind.String)
            throw AdminApiException.Invalid("profile", "The body is {\"profile\": \"<profile name>\"}.");
        foreach (var field in doc.RootElement.EnumerateObject())
            if (field.Name != "profile") throw AdminApiException.Invalid(field.Name, $"'{field.Name}' is not a field here; the body is {{\"profile\": \"…\"}}.");
        var changes = Changes(http);
        await changes.SetTaskAsync(task, p.GetString()!, ct);
        var known = TaskTypes.Find(task)!;
        return Json(w => { w.WriteStartObject(); w.WriteString("task", known); w.WriteString("profile", changes.Current.Tasks[known]); w.WriteEndObject(); });
    }

    private static async Task<IResult> ResetTaskAsync(string task, HttpContext http, CancellationToken ct)
    {
        http.RequireAdmin("change routing");
        return await Changes(http).ResetTaskAsync(task, ct) ? Results.NoContent() : throw AdminApiException.NotFound($"No admin-set route for the task '{task}'.");
    }

    private static async Task<IResult> SetRulesAsync(HttpContext http, CancellationToken ct)
    {
        http.RequireAdmin("change routing");
        using var doc = await ReadJsonAsync(http, ct);
        var rules = TaskRule.ParseList(doc.RootElement, "rules");
        var changes = Changes(http);
        await changes.SetRulesAsync(rules, ct);
        return Json(w => WriteRules(w, changes.Current));
    }

    private static async Task<IResult> ResetRulesAsync(HttpContext http, CancellationToken ct)
    {
        http.RequireAdmin("change routing");
        return await Changes(http).ResetRulesAsync(ct) ? Results.NoContent() : throw AdminApiException.NotFound("No admin-set rules.");
    }

    private static async Task<IResult> SetModeAsync(HttpContext http, IGapuraStore store, CancellationToken ct)
    {
        http.RequireAdmin("change routing");
        using var doc = await ReadJsonAsync(http, ct);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw AdminApiException.Invalid("body", "The body is {\"mode\": \"virtual|override|off\", \"user_id\"?, \"key_id\"?}.");
        string? mode = null;
        long? userId = null, keyId = null;
        foreach (var p in root.EnumerateObject())
        {
            switch (p.Name)
            {
                case "mode":
                    mode = p.Value.ValueKind switch
                    {
                        JsonValueKind.Null => null,
                        JsonValueKind.String => RoutingModes.Valid(p.Value.GetString(), "mode"),
                        _ => throw AdminApiException.Invalid("mode", "'mode' is virtual, override or off."),
                    };
                    break;
                case "user_id":
                    userId = p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt64(out var u) ? u : throw AdminApiException.Invalid("user_id", "'user_id' is a user's id.");
                    break;
                case "key_id":
                    keyId = p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt64(out var k) ? k : throw AdminApiException.Invalid("key_id", "'key_id' is an API key's id.");
                    break;
                default:
                    throw AdminApiException.Invalid(p.Name, $"'{p.Name}' is not a field here; the body is {{\"mode\", \"user_id\", \"key_id\"}}.");
            }
        }
        if (userId is not null && keyId is not null) throw AdminApiException.Invalid("key_id", "Give user_id or key_id, not both.");
        if (mode is null && userId is null && keyId is null) throw AdminApiException.Invalid("mode", "'mode' is required for the gateway (null only removes a user's or key's own mode).");
        if (userId is { } uid && await store.Users.GetAsync(uid, ct) is null) throw AdminApiException.NotFound($"There is no user {uid}.");
        if (keyId is { } kid && await store.ApiKeys.FindAsync(kid, ct) is null) throw AdminApiException.NotFound($"There is no API key {kid}.");
        var changes = Changes(http);
        await changes.SetModeAsync(mode, userId, keyId, ct);
        return Json(w => WriteModes(w, changes.Current));
    }

    private static async Task<IResult> ImportAsync(HttpContext http, CancellationToken ct)
    {
        http.RequireAdmin("change routing");
        var text = await ReadTextAsync(http, ct);
        var changes = Changes(http);
        var result = await changes.ImportAsync(text, ct);
        return Json(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("profiles");
            foreach (var p in result.Profiles) w.WriteStringValue(p.Name);
            w.WriteEndArray();
            w.WriteStartObject("tasks");
            foreach (var (task, profile) in result.Tasks) w.WriteString(task, profile);
            w.WriteEndObject();
            w.WriteNumber("rules", result.Rules?.Count ?? 0);
            if (result.Mode is { } m) w.WriteString("mode", m); else w.WriteNull("mode");
            w.WriteStartArray("not_imported");
            foreach (var s in result.Skipped) w.WriteStringValue(s);
            w.WriteEndArray();
            w.WritePropertyName("routing");
            WriteConfig(w, changes.Current);
            w.WriteEndObject();
        });
    }

    /// <summary>
    /// <c>POST /v1/route</c> for a signed-in person (the console has a session, not an API key): the same explanation,
    /// with the admin API's errors.
    /// </summary>
    private static async Task<IResult> ExplainAsync(HttpContext http, TaskRouter router, BudgetGate budgets, IGapuraStore store, CancellationToken ct)
    {
        var caller = await ExplainedCallerAsync(http, store, ct);
        var (name, door) = RouteExplainEndpoint.Door(http, null);
        if (door is null) throw AdminApiException.Invalid("door", $"'{name}' is not a front door; use ?door=anthropic, openai or responses.");
        try
        {
            return Results.Bytes(await RouteExplainEndpoint.ExplainAsync(http, name!, door, caller, router, budgets, ct), "application/json");
        }
        catch (GatewayException e)
        {
            throw e.Status == StatusCodes.Status503ServiceUnavailable
                ? new AdminApiException(e.Status, ErrorTypes.Unavailable, e.Message)
                : AdminApiException.Invalid("body", e.Message);
        }
    }

    /// <summary>Whose request is explained: the caller's own, or (admins only) the user of <c>?user_id=</c> or the key of <c>?key_id=</c>.</summary>
    private static async Task<Caller> ExplainedCallerAsync(HttpContext http, IGapuraStore store, CancellationToken ct)
    {
        var query = http.Request.Query;
        var userText = query["user_id"].ToString();
        var keyText = query["key_id"].ToString();
        if (userText.Length == 0 && keyText.Length == 0) return http.GetCaller();
        if (userText.Length > 0 && keyText.Length > 0) throw AdminApiException.Invalid("key_id", "Give user_id or key_id, not both.");
        if (keyText.Length > 0)
        {
            if (!long.TryParse(keyText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var keyId))
                throw AdminApiException.Invalid("key_id", "'key_id' is an API key's id.");
            var key = await store.ApiKeys.FindAsync(keyId, ct) ?? throw AdminApiException.NotFound($"There is no API key {keyId}.");
            http.RequireSelfOrAdmin(key.UserId, "explain routing");
            var owner = await store.Users.FindAsync(key.UserId, ct) ?? throw AdminApiException.NotFound($"There is no API key {keyId}.");
            return new Caller(owner.Id, owner.Email, owner.Role, key.Id, key.Prefix);
        }
        if (!long.TryParse(userText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var userId))
            throw AdminApiException.Invalid("user_id", "'user_id' is a user's id.");
        http.RequireSelfOrAdmin(userId, "explain routing");
        var user = await store.Users.FindAsync(userId, ct) ?? throw AdminApiException.NotFound($"There is no user {userId}.");
        return new Caller(user.Id, user.Email, user.Role, null);
    }

    private static RoutingChanges Changes(HttpContext http)
    {
        var sp = http.RequestServices;
        return new RoutingChanges(sp.GetRequiredService<IGapuraStore>(), sp.GetRequiredService<RoutingConfigSource>(), sp.GetRequiredService<TaskRouter>(),
            (action, target, detail) => http.Audit(action, target, detail));
    }

    internal static void WriteConfig(Utf8JsonWriter w, RoutingConfig c)
    {
        w.WriteStartObject();
        w.WritePropertyName("modes");
        WriteModes(w, c);
        w.WriteStartArray("profiles");
        foreach (var p in c.Profiles.Values.OrderBy(p => p.Name, StringComparer.Ordinal)) WriteProfile(w, p, c.ProfileSources[p.Name]);
        w.WriteEndArray();
        w.WriteStartArray("tasks");
        foreach (var task in TaskTypes.All)
        {
            w.WriteStartObject();
            w.WriteString("task", task);
            w.WriteString("profile", c.Tasks[task]);
            w.WriteString("source", c.TaskSources[task]);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WritePropertyName("rules");
        WriteRules(w, c);
        w.WriteStartArray("canaries");
        foreach (var k in c.Canaries.Values)
        {
            w.WriteStartObject();
            w.WriteString("profile", k.Profile);
            w.WriteString("model", k.Choice);
            w.WriteNumber("percent", k.Percent);
            w.WriteString("started_at", k.StartedAt);
            w.WriteString("started_by", k.StartedBy);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteModes(Utf8JsonWriter w, RoutingConfig c)
    {
        w.WriteStartObject();
        w.WriteString("gateway", c.Mode);
        w.WriteStartArray("users");
        foreach (var (user, mode) in c.UserModes) { w.WriteStartObject(); w.WriteNumber("user_id", user); w.WriteString("mode", mode); w.WriteEndObject(); }
        w.WriteEndArray();
        w.WriteStartArray("keys");
        foreach (var (key, mode) in c.KeyModes) { w.WriteStartObject(); w.WriteNumber("key_id", key); w.WriteString("mode", mode); w.WriteEndObject(); }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteProfile(Utf8JsonWriter w, RoutingProfile p, string source)
    {
        w.WriteStartObject();
        w.WriteString("name", p.Name);
        w.WriteString("source", source);
        w.WritePropertyName("settings");
        p.WriteTo(w);
        w.WriteEndObject();
    }

    private static void WriteRules(Utf8JsonWriter w, RoutingConfig c)
    {
        w.WriteStartObject();
        w.WriteString("source", c.RulesSource);
        w.WriteBoolean("built_in_rules", c.BuiltInRules);
        w.WriteNumber("long_context_tokens", c.LongContextTokens);
        w.WriteStartArray("configured");
        foreach (var r in c.Rules.Configured) r.WriteTo(w);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static IResult Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer)) write(w);
        return Results.Bytes(buffer.ToArray(), "application/json");
    }

    private static async Task<JsonDocument> ReadJsonAsync(HttpContext http, CancellationToken ct)
    {
        var text = await ReadTextAsync(http, ct);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw AdminApiException.Invalid("body", $"The body is not valid JSON: {e.Message}");
        }
        // An escaped lone surrogate ("\ud800") parses, then throws wherever a handler reads it as a string: checked once here.
        var raw = System.Text.Encoding.UTF8.GetBytes(text);
        if (!JsonText.IsAllText(raw))
        {
            doc.Dispose();
            var field = JsonText.FirstInvalidString(raw) ?? "body";
            throw AdminApiException.Invalid(field, $"{field}: {JsonText.NotText}");
        }
        return doc;
    }

    private static async Task<string> ReadTextAsync(HttpContext http, CancellationToken ct)
    {
        if (http.Request.ContentLength > MaxBodyBytes) throw AdminApiException.Invalid("body", $"The body is larger than {MaxBodyBytes} bytes.");
        using var reader = new StreamReader(http.Request.Body);
        var buffer = new char[MaxBodyBytes + 1];
        var read = 0;
        int n;
        while (read <= MaxBodyBytes && (n = await reader.ReadAsync(buffer.AsMemory(read), ct)) > 0) read += n;
        if (read > MaxBodyBytes) throw AdminApiException.Invalid("body", $"The body is larger than {MaxBodyBytes} bytes.");
        return read == 0 ? throw AdminApiException.Invalid("body", "The body is empty.") : new string(buffer, 0, read);
    }
}
