using System.Net;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using CsCheck;
using Gapura.Tests.Admin;
using Gapura.Tests.Integration;
using Xunit.Abstractions;

namespace Gapura.Tests.Fuzz;

/// <summary>
/// Generated bad and borderline requests to every admin API route the app maps (read from its endpoint data, so a new
/// route is fuzzed without being listed here), as an admin, as a user who is not one, and with no or a wrong key:
/// path values that are garbage, bodies mutated one field at a time from a valid one (synthesised from the type the
/// route declares, or written here for the routes that read their body by hand). Every answer is below 500 (a 502/503/504
/// only from an upstream sign-in), every error is the admin API's <c>{"error":{"message","type"}}</c>, and the gateway
/// still answers afterwards.
/// </summary>
public sealed class AdminFuzzTests(FuzzGateway fuzzGateway, ITestOutputHelper output) : IClassFixture<FuzzGateway>
{
    private const uint SuiteId = 2;
    public const int CiCases = 4_000;
    private const string UserEmail = "fuzz-user@gapura.test";
    private const string UserPassword = "Sturdy-password-2026";

    private readonly GatewayFixture gateway = fuzzGateway.Gateway;
    private static readonly Gen<int> BodyKind = Gen.Frequency<int>((80, Gen.Const(0)), (12, Gen.Const(1)), (8, Gen.Const(2)));

    [Fact]
    public async Task Every_admin_route_answers_bad_input_in_the_admin_error_shape_and_never_fails()
    {
        using var admin = new AdminClient(gateway.BaseUrl, GatewayFixture.ApiKey);
        var created = await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = UserEmail, ["display_name"] = "Fuzz", ["role"] = "user", ["password"] = UserPassword });
        Assert.True(created.Status == HttpStatusCode.Created, created.ToString());
        var userId = created.Json!["id"]!.GetValue<long>();
        var userKey = (await admin.PostAsync("/admin/api/keys", new JsonObject { ["name"] = "fuzz", ["user_id"] = userId })).Json!["key"]!.GetValue<string>();
        var settingKeys = (await admin.GetAsync("/admin/api/settings")).Json!["data"]!.AsArray().Select(s => s!["key"]!.GetValue<string>()).ToArray();
        var modelIds = (await admin.GetAsync("/admin/api/models")).Json!["models"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()).Take(6).ToArray();

        var routes = FuzzRoute.Of(gateway.Services, "/admin/api");
        Assert.Contains(routes, r => r.ToString() == "GET /admin/api/users/{id:long}");
        output.WriteLine($"{routes.Count} routes: {string.Join(", ", routes)}");

        var context = new AdminContext(userId, userKey, settingKeys, modelIds);
        var runner = new FuzzRunner(gateway.BaseUrl, output) { UpstreamInvolved = (c, _) => c.Route.Contains("/logins/", StringComparison.Ordinal) };
        var report = await runner.RunAsync("admin API", SuiteId, FuzzSettings.Cases(CiCases), (pcg, index) => Generate(pcg, index, routes, context));

        await AssertStillServesAsync(admin);
        report.AssertClean();
    }

    private sealed record AdminContext(long UserId, string UserKey, string[] SettingKeys, string[] ModelIds);

    private static FuzzCase Generate(PCG pcg, int index, IReadOnlyList<FuzzRoute> routes, AdminContext ctx)
    {
        var route = routes[(int)pcg.Next((uint)routes.Count)];
        var (credential, headers) = pcg.Next(4) == 0
            ? pcg.Draw(FuzzInputs.Credential(ctx.UserKey, "user key"))
            : pcg.Draw(FuzzInputs.Credential(GatewayFixture.ApiKey, "admin key"));
        var allHeaders = new List<KeyValuePair<string, string>>(headers);
        allHeaders.AddRange(pcg.Draw(FuzzInputs.OddHeaders));

        var userId = ctx.UserId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var path = route.Fill(p => SafeId(pcg.Draw(FuzzInputs.PathValue(p.Name switch
        {
            // The fuzz user's own id, never the admin's: deleting or demoting the admin would only turn the rest of the run into 401s.
            "id" when p.ParameterPolicies.Any(pp => pp.Content == "long") && !route.Template.Contains("/models/", StringComparison.Ordinal)
                => route.Method == "DELETE" && route.Template.EndsWith("/users/{id:long}", StringComparison.Ordinal) ? [] : [userId],
            "key" => ctx.SettingKeys,
            "provider" => ["kiro", "anthropic", "openai", "copilot", "bedrock", "KIRO "],
            "name" or "profile" => ["fast", "default", "smart", "cheap"],
            "task" => ["chat", "coding", "plan", "summarize", "title"],
            "id" or "model" => ctx.ModelIds,
            _ => [],
        })), ctx.UserId));
        var query = route.Method is "GET" or "DELETE" || pcg.Next(4) == 0 ? pcg.Draw(FuzzInputs.Query) : "";

        FuzzBody? body = null;
        string? contentType = null;
        var valid = ValidBody(route, ctx);
        if (valid is not null)
        {
            body = pcg.Draw(BodyKind) switch
            {
                0 => JsonMutator.Mutate(pcg, valid),
                1 => new FuzzBody(pcg.Draw(Garbage.Body), "garbage body"),
                _ => new FuzzBody(System.Text.Encoding.UTF8.GetBytes(valid), "valid body"),
            };
            contentType = pcg.Draw(FuzzInputs.JsonContentType);
        }
        else if (pcg.Next(8) == 0)
        {
            body = new FuzzBody(pcg.Draw(Garbage.Body), "garbage body on a bodiless route");
            contentType = pcg.Draw(FuzzInputs.JsonContentType);
        }
        return new FuzzCase(index, new HttpMethod(route.Method), path + query, body, contentType, allHeaders, ErrorShape.Admin, credential, route.ToString());
    }

    /// <summary>A small positive number could name the admin or the admin's key: only the fuzz user's id passes as one.</summary>
    private static string SafeId(string value, long userId)
        => long.TryParse(value, out var n) && n > 0 && n < 10_000 && n != userId ? "0" : value;

    /// <summary>A valid body for the route (null for one that takes none): from the type it declares, else written here.</summary>
    private static string? ValidBody(FuzzRoute route, AdminContext ctx)
    {
        if (route.BodyType is { } type) return Synthesise(type, ctx, 0)?.ToJsonString();
        var t = route.Template;
        return (route.Method, t) switch
        {
            ("PUT", "/admin/api/routing/profiles/{name}") => """{"provider":"kiro","model":"claude-sonnet-4.5","max_tokens":1000,"temperature":0.5,"fallbacks":[]}""",
            ("PUT", "/admin/api/routing/tasks/{task}") => """{"profile":"fast"}""",
            ("PUT", "/admin/api/routing/rules") => """[{"task":"chat","when":{"system_contains":"x"}}]""",
            ("PUT", "/admin/api/routing/mode") => $$"""{"mode":"override","user_id":{{ctx.UserId}}}""",
            ("POST", "/admin/api/routing/import") => """{"profiles":{"fast":{"provider":"kiro","model":"claude-haiku-4.5"}}}""",
            ("POST", "/admin/api/route") => FuzzInputs.AnthropicMessages[0],
            ("PUT", _) when t.Contains("/budgets/", StringComparison.Ordinal) => """{"budget":{"daily":{"input_tokens":1000000,"alert_threshold":0.8},"monthly":{"cost_usd":100}}}""",
            ("PUT", _) when t.Contains("/rate-limits/", StringComparison.Ordinal) => """{"requests_per_minute":600,"tokens_per_minute":2000000,"concurrent_requests":40}""",
            ("POST" or "PUT" or "PATCH", _) => "{}",
            _ => null,
        };
    }

    /// <summary>A JSON object with a plausible value for every field of a request record, named as the wire names them.</summary>
    private static JsonNode? Synthesise(Type type, AdminContext ctx, int depth)
    {
        var ctor = type.GetConstructors().OrderByDescending(c => c.GetParameters().Length).First();
        var obj = new JsonObject();
        foreach (var p in ctor.GetParameters())
        {
            var name = type.GetProperty(p.Name!)?.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name!);
            obj[name] = Value(Nullable.GetUnderlyingType(p.ParameterType) ?? p.ParameterType, name, ctx, depth);
        }
        return obj;
    }

    private static JsonNode? Value(Type type, string name, AdminContext ctx, int depth)
    {
        if (type == typeof(string)) return name switch
        {
            "email" => UserEmail,
            "password" or "current_password" => UserPassword,
            "role" => "user",
            "code" or "totp" => "123456",
            "model" => "claude-sonnet-4.5",
            "provider" => "kiro",
            "region" => "us-east-1",
            _ => "fuzz",
        };
        if (type == typeof(bool)) return name != "disabled";
        if (type == typeof(long) && name == "user_id") return ctx.UserId;
        if (type == typeof(int) || type == typeof(long)) return name == "percent" ? 10 : 30;
        if (type == typeof(double)) return 1.5;
        if (type == typeof(DateTimeOffset)) return DateTimeOffset.UtcNow.AddDays(30).ToString("O");
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
        {
            var element = Nullable.GetUnderlyingType(type.GetGenericArguments()[0]) ?? type.GetGenericArguments()[0];
            return new JsonArray(element == typeof(string) ? "kiro" : depth < 3 ? Synthesise(element, ctx, depth + 1) : null);
        }
        return depth < 3 && type.IsClass ? Synthesise(type, ctx, depth + 1) : null;
    }

    private async Task AssertStillServesAsync(AdminClient admin)
    {
        using var http = gateway.Http();
        using (var health = await http.GetAsync("/health")) Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        var me = await admin.GetAsync("/admin/api/me");
        Assert.True(me.Status == HttpStatusCode.OK, $"after the fuzz run, GET /admin/api/me got {me}");
        // The run may have switched providers off or set budgets: a valid request must still get an answer, in its shape.
        var (response, text) = await Wire.SendAsync(http, Wire.OpenAi(FuzzInputs.OpenAiChat[0]));
        Assert.True((int)response.StatusCode is 200 or (>= 400 and < 500), $"after the fuzz run, a valid chat request got {(int)response.StatusCode}: {text}");
        if (response.StatusCode != HttpStatusCode.OK) Assert.Null(FuzzChecks.ShapeProblem(text, ErrorShape.OpenAi));
    }
}
