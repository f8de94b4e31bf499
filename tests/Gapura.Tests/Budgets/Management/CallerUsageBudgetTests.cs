using System.Net;
using System.Text.Json.Nodes;
using Gapura.Budgets;
using Gapura.Tests.Admin;
using Gapura.Tests.Storage;

namespace Gapura.Tests.Budgets.Management;

/// <summary>
/// <c>GET /v1/usage</c>'s budget section: every budget counting the caller's requests (the gateway's, the default for all
/// users, their key's) with its counts and state, and their rate limits — JSON and the text report, on both back ends.
/// </summary>
public abstract class CallerUsageBudgetTests : AdminTestBase
{
    private static JsonObject Body(string json) => JsonNode.Parse(json)!.AsObject();

    private async Task<(long UserId, string Key, long KeyId)> UserWithKeyAsync(string email)
    {
        var id = await CreateUserAsync(email);
        using var admin = AdminByKey();
        var created = await admin.PostAsync("/admin/api/keys", new JsonObject { ["user_id"] = id });
        Assert.True(created.Status == HttpStatusCode.Created, created.ToString());
        var key = created.Json!["key"]!.GetValue<string>();
        // New keys reach the request path's index through the change feed.
        await EventuallyAsync(async () => await ModelsStatusAsync(key) == HttpStatusCode.OK, TimeSpan.FromSeconds(10), "the new key to be accepted");
        return (id, key, created.Json["info"]!["id"]!.GetValue<long>());
    }

    private async Task<string> UsageAsync(string key, string query = "")
    {
        using var http = Gateway.Http(key);
        using var response = await http.GetAsync("/v1/usage" + query);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        return body;
    }

    private static JsonNode Line(JsonNode budget, string scope, string window, string quantity)
        => budget["lines"]!.AsArray().Single(l => l!["scope"]!.GetValue<string>() == scope && l["window"]!.GetValue<string>() == window
                                                 && l["quantity"]!.GetValue<string>() == quantity)!;

    [Fact]
    public async Task The_usage_answer_shows_each_budget_line_and_rate_limit_that_counts_the_caller()
    {
        var (erin, key, keyId) = await UserWithKeyAsync("erin@example.com");
        var before = JsonNode.Parse(await UsageAsync(key))!;
        Assert.True(before.AsObject().ContainsKey("budget"));
        Assert.Null(before["budget"]);

        using var admin = AdminByKey();
        foreach (var (path, body) in new[]
        {
            ("/admin/api/budgets/gateway", """{"monthly": {"costUsd": 100}}"""),
            ("/admin/api/budgets/users/default", """{"budget": {"daily": {"inputTokens": 500000, "outputTokens": 200000, "alertThreshold": 0.8, "action": "notify"}}}"""),
            ($"/admin/api/budgets/keys/{keyId}", """{"daily": {"inputTokens": 1000000, "action": "pause"}}"""),
            ($"/admin/api/rate-limits/users/{erin}", """{"requestsPerMinute": 60, "tokensPerMinute": 200000}"""),
        })
            Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync(path, Body(body))).Status);

        await BudgetMeters.ChargeAsync(Gateway.Services, BudgetScope.User(erin), input: 182_341, output: 170_000);
        await BudgetMeters.ChargeAsync(Gateway.Services, BudgetScope.Gateway, input: 0, cost: 1.92);
        await BudgetMeters.ChargeAsync(Gateway.Services, BudgetScope.Key(keyId), input: 182_341);

        var usage = JsonNode.Parse(await UsageAsync(key))!;
        var budget = usage["budget"]!;
        Assert.Equal("UTC", budget["time_zone"]!.GetValue<string>());
        Assert.Equal(4, budget["lines"]!.AsArray().Count);
        var input = Line(budget, "user", "daily", "input");
        Assert.Equal("user-default", input["source"]!.GetValue<string>());
        Assert.Equal(182_341, input["used"]!.GetValue<double>());
        Assert.Equal(0, input["reserved"]!.GetValue<double>());
        Assert.Equal(500_000, input["limit"]!.GetValue<double>());
        Assert.Equal(0.3647, input["share"]!.GetValue<double>());
        Assert.Equal("ok", input["state"]!.GetValue<string>());
        Assert.Equal(DateTimeOffset.UtcNow.UtcDateTime.Date.AddDays(1), input["window_end"]!.GetValue<DateTimeOffset>().UtcDateTime);
        Assert.Equal("alerted", Line(budget, "user", "daily", "output")["state"]!.GetValue<string>()); // 85% of a notify budget
        var cost = Line(budget, "gateway", "monthly", "cost");
        Assert.Equal(1.92, cost["used"]!.GetValue<double>(), 6);
        var now = DateTime.UtcNow;
        Assert.Equal(new DateTime(now.Year, now.Month, 1, 0, 0, 0, DateTimeKind.Utc).AddMonths(1), cost["window_end"]!.GetValue<DateTimeOffset>().UtcDateTime);
        Assert.Equal("key", Line(budget, "key", "daily", "input")["source"]!.GetValue<string>());
        Assert.Equal("daily-output=85%; monthly-cost=1%", budget["header"]!.GetValue<string>());
        var rate = Assert.Single(budget["rate_limits"]!.AsArray())!;
        Assert.Equal("user", rate["scope"]!.GetValue<string>());
        Assert.Equal(60, rate["requests_per_minute"]!.GetValue<int>());
        Assert.Equal(200_000, rate["tokens_per_minute"]!.GetValue<long>());
        Assert.Null(rate["concurrent_requests"]);

        var text = await UsageAsync(key, "?format=text");
        var midnight = BudgetMeters.TomorrowMidnight;
        Assert.Contains($"Daily budget (user): 182,341 / 500,000 input tokens (36%) — ok, resets {midnight} UTC\n", text);
        Assert.Contains($"Daily budget (user): 170,000 / 200,000 output tokens (85%) — alerted, resets {midnight} UTC\n", text);
        Assert.Contains($"Daily budget (key): 182,341 / 1,000,000 input tokens (18%) — ok, resets {midnight} UTC\n", text);
        Assert.Matches(@"Monthly budget \(gateway\): \$1\.92 / \$100\.00 \(1%\) — ok, resets \d{4}-\d\d-01 00:00 UTC\n", text);
        Assert.Contains("Rate limits (user): 60 requests/min, 200,000 tokens/min\n", text);

        // A standing pause of the key's daily window, until an admin resets it.
        await BudgetMeters.PauseDailyAsync(Gateway.Services, BudgetScope.Key(keyId));
        var paused = JsonNode.Parse(await UsageAsync(key))!["budget"]!;
        Assert.Equal("paused", Line(paused, "key", "daily", "input")["state"]!.GetValue<string>());
        Assert.Null(Line(paused, "key", "daily", "input")["paused_until"]);
        Assert.Contains("Daily budget (key): 182,341 / 1,000,000 input tokens (18%) — paused until an admin resets it\n", await UsageAsync(key, "?format=text"));
        Assert.Equal(HttpStatusCode.OK, (await admin.PostAsync($"/admin/api/budgets/keys/{keyId}/reset")).Status);
        var lifted = Line(JsonNode.Parse(await UsageAsync(key))!["budget"]!, "key", "daily", "input");
        Assert.Equal("ok", lifted["state"]!.GetValue<string>());
        Assert.Equal(0, lifted["used"]!.GetValue<double>());
    }

    [Fact]
    public async Task Another_users_budget_and_key_never_show()
    {
        var (frank, frankKey, _) = await UserWithKeyAsync("frank@example.com");
        var (_, _, otherKeyId) = await UserWithKeyAsync("gina@example.com");
        using var admin = AdminByKey();
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync($"/admin/api/budgets/keys/{otherKeyId}", Body("""{"daily": {"inputTokens": 5}}"""))).Status);
        Assert.Null(JsonNode.Parse(await UsageAsync(frankKey))!["budget"]);

        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync($"/admin/api/budgets/users/{frank}", Body("""{"monthly": {"outputTokens": 1000000}}"""))).Status);
        var budget = JsonNode.Parse(await UsageAsync(frankKey))!["budget"]!;
        var line = Assert.Single(budget["lines"]!.AsArray())!;
        Assert.Equal("user", line["source"]!.GetValue<string>());
        Assert.Empty(budget["rate_limits"]!.AsArray());
        Assert.DoesNotContain("Rate limits", await UsageAsync(frankKey, "?format=text"));
    }
}

public sealed class SqliteCallerUsageBudgetTests : CallerUsageBudgetTests;

[Collection(PostgresCollection.Name)]
public sealed class PostgresCallerUsageBudgetTests(PostgresCluster cluster) : CallerUsageBudgetTests
{
    protected override Task<IEnumerable<string>> StorageSettingsAsync() => PostgresGateway.SettingsAsync(cluster, GetType().Name);
}
