using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Gapura.Budgets;
using Gapura.Tests.Budgets.Management;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Admin;

/// <summary>
/// <c>POST /admin/api/route</c> over real HTTP: the console's twin of <c>POST /v1/route</c> (a signed-in person has a
/// session, not an API key) — the same explanation, for the caller or, for admins, for another user or key.
/// </summary>
public sealed class AdminRouteExplainApiTests : AdminTestBase
{
    private const string Explain = """{"model":"auto","max_tokens":100,"messages":[{"role":"user","content":"Explain what src/main.rs does"}]}""";

    private static JsonNode Body(string json) => JsonNode.Parse(json)!;

    [Fact]
    public async Task A_signed_in_admin_gets_the_same_explanation_as_v1_route_and_can_ask_for_another_user()
    {
        var bob = await CreateUserAsync("bob@example.com");
        using var admin = await SignedInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword);

        var console = await admin.PostAsync("/admin/api/route?door=anthropic", Body(Explain));
        Assert.True(console.Status == HttpStatusCode.OK, console.ToString());
        using var http = Gateway.Http();
        using var v1 = await http.PostAsync("/v1/route/v1/messages", new StringContent(Explain, Encoding.UTF8, "application/json"));
        var byKey = JsonNode.Parse(await v1.Content.ReadAsStringAsync())!;
        Assert.Equal("anthropic-messages", console.Json!["door"]!.GetValue<string>());
        foreach (var field in new[] { "task", "rule", "via", "routed", "mode", "estimated_input_tokens" })
            Assert.Equal(byKey[field]!.ToJsonString(), console.Json[field]!.ToJsonString());
        Assert.Equal(byKey["profile"]!.ToJsonString(), console.Json["profile"]!.ToJsonString());
        Assert.Equal(byKey["candidates"]!.ToJsonString(), console.Json["candidates"]!.ToJsonString());
        Assert.Equal("codeExplanation", console.Json["task"]!.GetValue<string>());
        Assert.True(console.Json["budget"] is null, "no budget counts the admin's requests");

        // For bob: his budget's lines, not the admin's (none).
        var set = await admin.PutAsync($"/admin/api/budgets/users/{bob}", Body("""{"daily": {"outputTokens": 1000000, "action": "notify"}}"""));
        Assert.True(set.Status == HttpStatusCode.OK, set.ToString());
        var forBob = await admin.PostAsync($"/admin/api/route?door=anthropic&user_id={bob}", Body(Explain));
        Assert.True(forBob.Status == HttpStatusCode.OK, forBob.ToString());
        Assert.Equal("ok", forBob.Json!["budget"]!["outcome"]!.GetValue<string>());
        Assert.Contains(forBob.Json["budget"]!["lines"]!.AsArray(), l => l!["scope"]!.GetValue<string>() == $"user:{bob}" && l["quantity"]!.GetValue<string>() == "output");

        // The OpenAI door; refusals in the admin API's shape, naming the field.
        var openAi = await admin.PostAsync("/admin/api/route?door=openai", Body("""{"model":"auto","messages":[{"role":"user","content":"hi"}]}"""));
        Assert.Equal("openai-chat", openAi.Json!["door"]!.GetValue<string>());
        var badDoor = await admin.PostAsync("/admin/api/route?door=smtp", Body(Explain));
        Assert.Equal((HttpStatusCode.BadRequest, "door"), (badDoor.Status, badDoor.ErrorParam));
        var notARequest = await admin.PostAsync("/admin/api/route?door=anthropic", Body("""{"model":"auto"}"""));
        Assert.Equal((HttpStatusCode.BadRequest, "body"), (notARequest.Status, notARequest.ErrorParam));
        Assert.False(string.IsNullOrWhiteSpace(notARequest.ErrorMessage));
        var nobody = await admin.PostAsync("/admin/api/route?door=anthropic&user_id=9999", Body(Explain));
        Assert.Equal(HttpStatusCode.NotFound, nobody.Status);
        var withoutCsrf = await admin.SendAsync(HttpMethod.Post, "/admin/api/route", Body(Explain), sendCsrf: false);
        Assert.Equal(HttpStatusCode.Forbidden, withoutCsrf.Status);
    }

    [Fact]
    public async Task A_user_explains_their_own_requests_only()
    {
        var bob = await CreateUserAsync("bob@example.com");
        var carol = await CreateUserAsync("carol@example.com");
        using var admin = AdminByKey();
        await admin.PutAsync($"/admin/api/budgets/users/{bob}", Body("""{"daily": {"inputTokens": 1000000}}"""));

        using var session = await SignedInAsync("bob@example.com");
        var own = await session.PostAsync("/admin/api/route?door=anthropic", Body(Explain));
        Assert.True(own.Status == HttpStatusCode.OK, own.ToString());
        Assert.Contains(own.Json!["budget"]!["lines"]!.AsArray(), l => l!["scope"]!.GetValue<string>() == $"user:{bob}");
        var self = await session.PostAsync($"/admin/api/route?door=anthropic&user_id={bob}", Body(Explain));
        Assert.Equal(HttpStatusCode.OK, self.Status);
        var other = await session.PostAsync($"/admin/api/route?door=anthropic&user_id={carol}", Body(Explain));
        Assert.Equal((HttpStatusCode.Forbidden, "permission_error"), (other.Status, other.ErrorType));
        using var anonymous = Anonymous();
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync("/admin/api/route", Body(Explain))).Status);
    }
}

/// <summary>
/// A user who is not an admin reads their own budgets through the admin API (the console's Budgets page does):
/// their user scope and their keys', never the gateway's or anyone else's, and changes none.
/// </summary>
public sealed class AdminOwnBudgetApiTests : AdminTestBase
{
    private static JsonNode Body(string json) => JsonNode.Parse(json)!;

    private async Task<long> KeyOfAsync(long userId)
    {
        using var admin = AdminByKey();
        var created = await admin.PostAsync("/admin/api/keys", new JsonObject { ["user_id"] = userId, ["name"] = "laptop" });
        Assert.True(created.Status == HttpStatusCode.Created, created.ToString());
        return created.Json!["info"]!["id"]!.GetValue<long>();
    }

    [Fact]
    public async Task A_user_reads_their_own_budget_and_their_keys_but_nobody_elses_and_changes_nothing()
    {
        var bob = await CreateUserAsync("bob@example.com");
        var carol = await CreateUserAsync("carol@example.com");
        var bobKey = await KeyOfAsync(bob);
        var bobOtherKey = await KeyOfAsync(bob);
        var carolKey = await KeyOfAsync(carol);
        using var admin = AdminByKey();
        foreach (var (path, budget) in new[]
                 {
                     ("gateway", """{"monthly": {"costUsd": 100}}"""), ("users/default", """{"daily": {"outputTokens": 500000}}"""),
                     ($"users/{carol}", """{"daily": {"outputTokens": 9}}"""), ($"keys/{bobKey}", """{"daily": {"inputTokens": 700000, "action": "pause"}}"""),
                     ($"keys/{carolKey}", """{"daily": {"inputTokens": 8}}"""),
                 })
            Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync($"/admin/api/budgets/{path}", Body(budget))).Status);
        await BudgetMeters.ChargeAsync(Gateway.Services, BudgetScope.User(bob), input: 100, output: 4_000);

        using var session = await SignedInAsync("bob@example.com");
        var mine = await session.GetAsync("/admin/api/budgets");
        Assert.True(mine.Status == HttpStatusCode.OK, mine.ToString());
        var scopes = mine.Json!["data"]!.AsArray().Select(e => e!["scope"]!.GetValue<string>()).ToList();
        // His own (under the default budget) and the one key with a budget of its own; not his other key, the gateway or carol.
        Assert.Equal([$"user:{bob}", $"key:{bobKey}"], scopes);
        Assert.DoesNotContain($"key:{bobOtherKey}", scopes);
        var own = mine.Json["data"]![0]!;
        Assert.Equal("default", own["budget_source"]!.GetValue<string>());
        var output = own["status"]!.AsArray().Single(l => l!["quantity"]!.GetValue<string>() == "output")!;
        Assert.Equal((4_000d, 500_000d), (output["used"]!.GetValue<double>(), output["limit"]!.GetValue<double>()));

        Assert.Equal(HttpStatusCode.OK, (await session.GetAsync($"/admin/api/budgets/users/{bob}")).Status);
        Assert.Equal(HttpStatusCode.OK, (await session.GetAsync($"/admin/api/budgets/keys/{bobKey}")).Status);
        foreach (var path in new[] { "gateway", "users/default", $"users/{carol}", $"keys/{carolKey}", "keys/99999" })
        {
            var refused = await session.GetAsync($"/admin/api/budgets/{path}");
            Assert.True(refused.Status == HttpStatusCode.Forbidden, $"{path}: {refused}");
        }
        // Read only: his own budget cannot be changed, cleared or reset by him.
        Assert.Equal(HttpStatusCode.Forbidden, (await session.PutAsync($"/admin/api/budgets/users/{bob}", Body("""{"daily": {"outputTokens": 99999999}}"""))).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await session.DeleteAsync($"/admin/api/budgets/keys/{bobKey}")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await session.PostAsync($"/admin/api/budgets/users/{bob}/reset")).Status);
        var after = await admin.GetAsync($"/admin/api/budgets/keys/{bobKey}");
        Assert.Equal(700_000, after.Json!["budget"]!["daily"]!["input_tokens"]!.GetValue<long>());
    }
}
