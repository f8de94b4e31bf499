using System.Net;
using System.Text.Json.Nodes;
using Gapura.Budgets;
using Gapura.Tests.Admin;

namespace Gapura.Tests.Budgets.Management;

/// <summary><c>/admin/api/budgets</c> and <c>/admin/api/rate-limits</c> over real HTTP: who may, what is stored, what is audited, what is refused.</summary>
public sealed class AdminBudgetApiTests : AdminTestBase
{
    private static JsonObject Body(string json) => JsonNode.Parse(json)!.AsObject();

    /// <summary>A user with a key of their own (made by the bootstrap admin); returns the user's id, the key and its id.</summary>
    private async Task<(long UserId, string Key, long KeyId)> UserWithKeyAsync(string email, string role = "user")
    {
        var id = await CreateUserAsync(email, role);
        using var admin = AdminByKey();
        var created = await admin.PostAsync("/admin/api/keys", new JsonObject { ["user_id"] = id, ["name"] = "laptop" });
        Assert.True(created.Status == HttpStatusCode.Created, created.ToString());
        return (id, created.Json!["key"]!.GetValue<string>(), created.Json["info"]!["id"]!.GetValue<long>());
    }

    [Fact]
    public async Task A_non_admin_gets_403_on_every_route_but_reading_their_own_and_changes_nothing()
    {
        var (bob, key, keyId) = await UserWithKeyAsync("bob@example.com");
        using var script = new AdminClient(Gateway.BaseUrl, key);
        var budget = Body("""{"daily": {"inputTokens": 1}}""");
        var rate = Body("""{"requestsPerMinute": 1}""");
        var routes = new List<(HttpMethod Method, string Path, JsonNode? Body)>
        {
            (HttpMethod.Get, "/admin/api/budgets", null),
            (HttpMethod.Get, "/admin/api/rate-limits", null),
        };
        foreach (var scope in new[] { "gateway", "users/default", $"users/{bob}", $"keys/{keyId}" })
        {
            routes.Add((HttpMethod.Get, $"/admin/api/budgets/{scope}", null));
            routes.Add((HttpMethod.Put, $"/admin/api/budgets/{scope}", budget));
            routes.Add((HttpMethod.Delete, $"/admin/api/budgets/{scope}", null));
            routes.Add((HttpMethod.Post, $"/admin/api/budgets/{scope}/reset", null));
        }
        foreach (var scope in new[] { "users/default", "keys/default", $"users/{bob}", $"keys/{keyId}" })
        {
            routes.Add((HttpMethod.Get, $"/admin/api/rate-limits/{scope}", null));
            routes.Add((HttpMethod.Put, $"/admin/api/rate-limits/{scope}", rate));
            routes.Add((HttpMethod.Delete, $"/admin/api/rate-limits/{scope}", null));
        }
        // Every route the group maps is in the list (so a new one cannot be added without this check).
        Assert.Equal(2 + 4 * 4 + 4 * 3, routes.Count);
        // Reading their own budgets is theirs (AdminOwnBudgetApiTests); everything else is refused.
        string[] ownReads = ["/admin/api/budgets", $"/admin/api/budgets/users/{bob}", $"/admin/api/budgets/keys/{keyId}"];
        foreach (var (method, path, body) in routes)
        {
            var response = await script.SendAsync(method, path, body?.DeepClone());
            var expected = method == HttpMethod.Get && ownReads.Contains(path) ? HttpStatusCode.OK : HttpStatusCode.Forbidden;
            Assert.True(response.Status == expected, $"{method} {path}: {response}");
            if (expected == HttpStatusCode.Forbidden) Assert.Equal("permission_error", response.ErrorType);
        }
        using var anonymous = Anonymous();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/admin/api/budgets")).Status);

        using var admin = AdminByKey();
        var all = await admin.GetAsync("/admin/api/budgets");
        Assert.Equal(HttpStatusCode.OK, all.Status);
        Assert.Empty(all.Json!["data"]!.AsArray());
        Assert.DoesNotContain(await AuditAsync(), e => e.Action.StartsWith("budget.", StringComparison.Ordinal) || e.Action.StartsWith("ratelimit.", StringComparison.Ordinal));
        Assert.Contains(await AuditAsync(), e => e.Action == "denied" && e.Target == $"PUT /admin/api/budgets/users/{bob}");
    }

    [Fact]
    public async Task A_browser_session_needs_the_csrf_token_to_change_a_budget()
    {
        await CreateUserAsync("hana@example.com", role: "admin");
        using var hana = await SignedInAsync("hana@example.com");
        var without = await hana.SendAsync(HttpMethod.Put, "/admin/api/budgets/gateway", Body("""{"daily": {"inputTokens": 5}}"""), sendCsrf: false);
        Assert.Equal(HttpStatusCode.Forbidden, without.Status);
        var with = await hana.PutAsync("/admin/api/budgets/gateway", Body("""{"daily": {"inputTokens": 5}}"""));
        Assert.Equal(HttpStatusCode.OK, with.Status);
        Assert.Contains(await AuditAsync(), e => e.Action == "budget.set" && e.Target == "gateway" && e.Actor == "hana@example.com");
    }

    [Fact]
    public async Task Put_get_reset_and_delete_a_users_budget_each_audited()
    {
        var (carol, _, _) = await UserWithKeyAsync("carol@example.com");
        using var admin = AdminByKey();
        var put = await admin.PutAsync($"/admin/api/budgets/users/{carol}",
            Body("""{"budget": {"daily": {"inputTokens": 500000, "outputTokens": 200000, "alertThreshold": 0.8, "action": "restrict"}}}"""));
        Assert.True(put.Status == HttpStatusCode.OK, put.ToString());
        Assert.Equal($"user:{carol}", put.Json!["scope"]!.GetValue<string>());
        Assert.Equal("carol@example.com", put.Json["email"]!.GetValue<string>());
        Assert.Equal("admin", put.Json["budget_source"]!.GetValue<string>());
        Assert.Equal(500_000, put.Json["budget"]!["daily"]!["input_tokens"]!.GetValue<long>());
        Assert.Equal(2, put.Json["status"]!.AsArray().Count);

        await BudgetMeters.ChargeAsync(Gateway.Services, BudgetScope.User(carol), input: 450_000, output: 10_000);
        var got = await admin.GetAsync($"/admin/api/budgets/users/{carol}");
        var input = got.Json!["status"]!.AsArray().Single(l => l!["quantity"]!.GetValue<string>() == "input")!;
        Assert.Equal(450_000, input["used"]!.GetValue<double>());
        Assert.Equal(500_000, input["limit"]!.GetValue<double>());
        Assert.Equal(0.9, input["share"]!.GetValue<double>());
        Assert.Equal("90%", input["percent"]!.GetValue<string>());
        Assert.Equal("restricted", input["state"]!.GetValue<string>());
        Assert.Equal("daily", input["window"]!.GetValue<string>());
        Assert.Equal(DateTimeOffset.UtcNow.UtcDateTime.Date.AddDays(1), input["window_end"]!.GetValue<DateTimeOffset>().UtcDateTime);

        await BudgetMeters.PauseDailyAsync(Gateway.Services, BudgetScope.User(carol));
        var paused = await admin.GetAsync("/admin/api/budgets");
        var entry = paused.Json!["data"]!.AsArray().Single(e => e!["scope"]!.GetValue<string>() == $"user:{carol}")!;
        Assert.All(entry["status"]!.AsArray(), l => Assert.Equal("paused", l!["state"]!.GetValue<string>()));
        Assert.Equal("UTC", paused.Json["time_zone"]!.GetValue<string>());

        var reset = await admin.PostAsync($"/admin/api/budgets/users/{carol}/reset");
        Assert.True(reset.Status == HttpStatusCode.OK, reset.ToString());
        Assert.All(reset.Json!["status"]!.AsArray(), l =>
        {
            Assert.Equal(0, l!["used"]!.GetValue<double>());
            Assert.Equal("ok", l["state"]!.GetValue<string>());
        });

        // Removing one window, then the budget: the default for all users applies again.
        await admin.PutAsync($"/admin/api/budgets/users/{carol}", Body("""{"daily": {"inputTokens": 5}, "monthly": {"costUsd": 10}}"""));
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/admin/api/budgets/users/{carol}?window=daily")).Status);
        Assert.Null((await admin.GetAsync($"/admin/api/budgets/users/{carol}")).Json!["budget"]!["daily"]);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/admin/api/budgets/users/{carol}")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.DeleteAsync($"/admin/api/budgets/users/{carol}")).Status);
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync("/admin/api/budgets/users/default", Body("""{"monthly": {"outputTokens": 1000000}}"""))).Status);
        var fallback = (await admin.GetAsync($"/admin/api/budgets/users/{carol}")).Json!;
        Assert.Equal("default", fallback["budget_source"]!.GetValue<string>());
        Assert.Equal("user-default", fallback["status"]![0]!["source"]!.GetValue<string>());

        var audit = await AuditAsync();
        foreach (var action in new[] { "budget.set", "budget.reset", "budget.clear" })
            Assert.Contains(audit, e => e.Action == action && e.Target == $"user:{carol}" && e.Actor == "key:bootstrap");
        Assert.Contains(audit, e => e.Action == "budget.clear" && e.Target == $"user:{carol}" && e.Detail == "daily");
        Assert.Contains(audit, e => e.Action == "budget.set" && e.Target == "user:default" && e.Detail == """{"monthly":{"output_tokens":1000000,"alert_threshold":0.8,"action":"notify"}}""");
    }

    [Fact]
    public async Task Bad_input_is_a_400_naming_the_field_and_unknown_scopes_are_404()
    {
        using var admin = AdminByKey();
        foreach (var (body, field) in new[]
        {
            ("""{"daily": {"inputTokens": -5}}""", "budget.daily.inputTokens"),
            ("""{"daily": {"inputTokens": "lots"}}""", "budget.daily.inputTokens"),
            ("""{"daily": {"inputTokens": 5, "alertThreshold": 1.5}}""", "budget.daily.alertThreshold"),
            ("""{"daily": {"inputTokens": 5, "action": "stop"}}""", "budget.daily.action"),
            ("""{"monthly": {"costUsd": -1}}""", "budget.monthly.costUsd"),
            ("""{"weekly": {"inputTokens": 5}}""", "budget.weekly"),
            ("""{"daily": {}}""", "budget.daily"),
        })
        {
            var response = await admin.PutAsync("/admin/api/budgets/gateway", Body(body));
            Assert.True(response.Status == HttpStatusCode.BadRequest, $"{body}: {response}");
            Assert.Equal(field, response.ErrorParam);
            Assert.Contains(field, response.ErrorMessage);
        }
        var notJson = await admin.SendAsync(HttpMethod.Put, "/admin/api/budgets/gateway", JsonValue.Create("not an object"));
        Assert.Equal(HttpStatusCode.BadRequest, notJson.Status);

        var rate = await admin.PutAsync("/admin/api/rate-limits/users/default", Body("""{"requests_per_minute": 0}"""));
        Assert.Equal(HttpStatusCode.BadRequest, rate.Status);
        Assert.Equal("rate_limit.requests_per_minute", rate.ErrorParam);

        var resetDefault = await admin.PostAsync("/admin/api/budgets/users/default/reset");
        Assert.Equal(HttpStatusCode.BadRequest, resetDefault.Status);
        Assert.Equal("scope", resetDefault.ErrorParam);
        Assert.Equal("window", (await admin.DeleteAsync("/admin/api/budgets/gateway?window=weekly")).ErrorParam);

        Assert.Equal(HttpStatusCode.NotFound, (await admin.PutAsync("/admin/api/budgets/users/987654", Body("""{"daily": {"inputTokens": 5}}"""))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync("/admin/api/budgets/keys/987654")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.PostAsync("/admin/api/budgets/keys/987654/reset")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.PutAsync("/admin/api/rate-limits/users/987654", Body("""{"requestsPerMinute": 5}"""))).Status);
        Assert.Empty((await admin.GetAsync("/admin/api/budgets")).Json!["data"]!.AsArray());
    }

    [Fact]
    public async Task Rate_limits_are_put_listed_inherited_and_deleted()
    {
        var (dan, _, keyId) = await UserWithKeyAsync("dan@example.com");
        using var admin = AdminByKey();
        var defaults = await admin.PutAsync("/admin/api/rate-limits/users/default", Body("""{"requestsPerMinute": 60, "tokensPerMinute": 200000, "concurrentRequests": 4}"""));
        Assert.True(defaults.Status == HttpStatusCode.OK, defaults.ToString());
        Assert.Equal(60, defaults.Json!["rate_limit"]!["requests_per_minute"]!.GetValue<int>());
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync($"/admin/api/rate-limits/keys/{keyId}", Body("""{"rateLimit": {"concurrentRequests": 2}}"""))).Status);

        var inherited = (await admin.GetAsync($"/admin/api/rate-limits/users/{dan}")).Json!;
        Assert.Equal("default", inherited["source"]!.GetValue<string>());
        Assert.Equal(200_000, inherited["rate_limit"]!["tokens_per_minute"]!.GetValue<long>());

        var list = (await admin.GetAsync("/admin/api/rate-limits")).Json!["data"]!.AsArray();
        Assert.Equal(["user:default", $"key:{keyId}"], list.Select(e => e!["scope"]!.GetValue<string>()));
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/admin/api/rate-limits/keys/{keyId}")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.DeleteAsync($"/admin/api/rate-limits/keys/{keyId}")).Status);
        Assert.Null((await admin.GetAsync($"/admin/api/rate-limits/keys/{keyId}")).Json!["rate_limit"]);

        var audit = await AuditAsync();
        Assert.Contains(audit, e => e.Action == "ratelimit.set" && e.Target == "user:default" && e.Detail == """{"requests_per_minute":60,"tokens_per_minute":200000,"concurrent_requests":4}""");
        Assert.Contains(audit, e => e.Action == "ratelimit.clear" && e.Target == $"key:{keyId}");
    }
}
