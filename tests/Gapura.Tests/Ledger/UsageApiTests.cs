using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Gapura.Identity;
using Gapura.Storage;
using Gapura.Tests.Integration;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Ledger;

/// <summary>
/// The usage reports through a real gateway in front of the Kiro simulator: a chat request is recorded by the
/// ledger's background writer, then read back through <c>/v1/usage</c> (JSON and text) and <c>/admin/api/usage</c>
/// (JSON and CSV), each caller seeing only what they may.
/// </summary>
public sealed class UsageApiTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    private async Task<(string Key, string Email)> NewUserWithKeyAsync(string name)
    {
        var store = gateway.Services.GetRequiredService<IGapuraStore>();
        var email = $"{name}{Guid.NewGuid().ToString("N")[..8]}@gapura.test";
        var user = await store.Users.CreateAsync(new NewUser(email, name));
        var key = ApiKeys.Generate();
        await store.ApiKeys.CreateAsync(new NewApiKey(user.Id, "laptop", key.Prefix, key.Hash));
        // New keys reach the in-memory index through the change feed: wait (bounded) until this one is accepted.
        using var http = gateway.Http(key.Key);
        await EventuallyAsync(async () => (await http.GetAsync("/v1/models")).StatusCode == HttpStatusCode.OK, "the new key to be accepted");
        return (key.Key, email);
    }

    private static async Task ChatAsync(HttpClient http, string? session = null)
    {
        var request = Wire.OpenAi(Wire.OpenAiBody("hello there"));
        if (session is not null) request.Headers.TryAddWithoutValidation("x-claude-code-session-id", session);
        var (response, body) = await Wire.SendAsync(http, request);
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        Assert.True(response.Headers.Contains("x-gapura-request-id"));
    }

    private static async Task<JsonNode> UsageAsync(HttpClient http, string query = "")
    {
        using var response = await http.GetAsync("/v1/usage" + query);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(body)!;
    }

    private static long Requests(JsonNode period) => period["totals"]!["requests"]!.GetValue<long>();

    /// <summary>Polls until <paramref name="condition"/> holds; the writer flushes within Usage:FlushMilliseconds, so seconds are plenty.</summary>
    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"Timed out after {Patience.TotalSeconds} s waiting for {what}.");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_chat_request_shows_in_the_callers_session_today_and_this_month()
    {
        using var http = gateway.Http();
        var session = "sess-" + Guid.NewGuid().ToString("N")[..8];
        var before = await UsageAsync(http);

        await ChatAsync(http, session);
        await EventuallyAsync(async () => Requests((await UsageAsync(http, "?session=" + session))["session"]!) == 1, "the ledger to record the request");

        var usage = await UsageAsync(http, "?session=" + session);
        Assert.Equal("usage", usage["object"]!.GetValue<string>());
        Assert.Equal(GatewayFixture.AdminEmail, usage["email"]!.GetValue<string>());
        Assert.Null(usage["budget"]);
        Assert.True(usage.AsObject().ContainsKey("budget"));
        var sessionView = usage["session"]!;
        Assert.Equal(session, sessionView["id"]!.GetValue<string>());
        var model = Assert.Single(sessionView["models"]!.AsArray())!;
        Assert.StartsWith("claude-sonnet-4", model["model"]!.GetValue<string>());
        Assert.True(model["input_tokens"]!.GetValue<long>() > 0, model.ToJsonString());
        Assert.True(model["output_tokens"]!.GetValue<long>() > 0, model.ToJsonString());
        Assert.True(model["cost_usd"]!.GetValue<double>() > 0, model.ToJsonString()); // Sonnet has a list price
        foreach (var field in new[] { "cache_read_tokens", "cache_write_tokens", "requests" }) Assert.NotNull(model[field]);
        Assert.Equal(Requests(before["today"]!) + 1, Requests(usage["today"]!));
        Assert.Equal(Requests(before["this_month"]!) + 1, Requests(usage["this_month"]!));
        Assert.Contains(usage["today"]!["models"]!.AsArray(), m => m!["model"]!.GetValue<string>() == model["model"]!.GetValue<string>());

        // The session may also be named by the same header the pipeline reads.
        using var byHeader = new HttpRequestMessage(HttpMethod.Get, "/v1/usage");
        byHeader.Headers.TryAddWithoutValidation("x-claude-code-session-id", session);
        using var headerResponse = await http.SendAsync(byHeader);
        var viaHeader = JsonNode.Parse(await headerResponse.Content.ReadAsStringAsync())!;
        Assert.Equal(1, Requests(viaHeader["session"]!));

        // No session named: null, not an empty one.
        Assert.Null((await UsageAsync(http))["session"]);
    }

    [Fact]
    public async Task The_text_report_is_laid_out_like_kiros_usage()
    {
        using var http = gateway.Http();
        var session = "text-" + Guid.NewGuid().ToString("N")[..8];
        await ChatAsync(http, session);
        await EventuallyAsync(async () => Requests((await UsageAsync(http, "?session=" + session))["session"]!) == 1, "the ledger to record the request");

        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/usage?session=" + session);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/plain"));
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("Session token usage:", lines[0]);
        Assert.Matches(@"^Input: [\d,]+ tokens \(claude-sonnet-4[^:]*: [\d,]+\)$", lines[1]);
        Assert.Matches(@"^Output: [\d,]+ tokens \(claude-sonnet-4[^:]*: [\d,]+\)$", lines[2]);
        Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^Estimated cost: \$\d"));
        Assert.Contains(lines, l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^Daily usage: [\d,]+ input / [\d,]+ output tokens"));
        Assert.Contains(lines, l => l.StartsWith("Monthly usage: ", StringComparison.Ordinal));

        var viaQuery = await http.GetStringAsync("/v1/usage?format=text");
        Assert.StartsWith("Today's token usage:\nInput: ", viaQuery);
    }

    [Fact]
    public async Task A_users_key_sees_only_that_users_usage()
    {
        using var admin = gateway.Http();
        var (bobKey, bobEmail) = await NewUserWithKeyAsync("bob");
        using var bob = gateway.Http(bobKey);
        var shared = "shared-" + Guid.NewGuid().ToString("N")[..8];
        await ChatAsync(admin, shared);
        await EventuallyAsync(async () => Requests((await UsageAsync(admin, "?session=" + shared))["session"]!) == 1, "the admin's request");
        var adminToday = Requests((await UsageAsync(admin))["today"]!);

        var fresh = await UsageAsync(bob, "?session=" + shared);
        Assert.Equal(bobEmail, fresh["email"]!.GetValue<string>());
        Assert.Equal(0, Requests(fresh["today"]!));
        Assert.Equal(0, Requests(fresh["session"]!)); // someone else's session id shows nothing

        await ChatAsync(bob, shared);
        await ChatAsync(bob);
        await EventuallyAsync(async () => Requests((await UsageAsync(bob))["today"]!) == 2, "bob's requests");
        Assert.Equal(1, Requests((await UsageAsync(bob, "?session=" + shared))["session"]!));
        Assert.Equal(adminToday, Requests((await UsageAsync(admin))["today"]!));
        Assert.Equal(1, Requests((await UsageAsync(admin, "?session=" + shared))["session"]!));

        // The admin report sees both, by user.
        using var report = await admin.GetAsync("/admin/api/usage?groupBy=user,model");
        var json = JsonNode.Parse(await report.Content.ReadAsStringAsync())!;
        Assert.Equal(HttpStatusCode.OK, report.StatusCode);
        var bobRow = Assert.Single(json["data"]!.AsArray(), r => r!["user_email"]?.GetValue<string>() == bobEmail)!;
        Assert.Equal(2, bobRow["requests"]!.GetValue<long>());
        Assert.Contains(json["data"]!.AsArray(), r => r!["user_email"]?.GetValue<string>() == GatewayFixture.AdminEmail);

        // Bob's key reads the same report narrowed to his own rows, and is refused anyone else's.
        using var own = await bob.GetAsync("/admin/api/usage?groupBy=user,model");
        var ownJson = JsonNode.Parse(await own.Content.ReadAsStringAsync())!;
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
        Assert.All(ownJson["data"]!.AsArray(), r => Assert.Equal(bobEmail, r!["user_email"]!.GetValue<string>()));
        Assert.Equal(2, ownJson["totals"]!["requests"]!.GetValue<long>());
        using var denied = await bob.GetAsync("/admin/api/usage?user=" + Uri.EscapeDataString(GatewayFixture.AdminEmail));
        var error = JsonNode.Parse(await denied.Content.ReadAsStringAsync())!;
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal("permission_error", error["error"]!["type"]!.GetValue<string>());
        using var deniedCsv = await bob.GetAsync("/admin/api/usage.csv?user=" + Uri.EscapeDataString(GatewayFixture.AdminEmail));
        Assert.Equal(HttpStatusCode.Forbidden, deniedCsv.StatusCode);
    }

    [Fact]
    public async Task The_admin_report_groups_filters_and_exports_csv()
    {
        using var admin = gateway.Http();
        var session = "adm-" + Guid.NewGuid().ToString("N")[..8];
        await ChatAsync(admin, session);
        await EventuallyAsync(async () => Requests((await UsageAsync(admin, "?session=" + session))["session"]!) == 1, "the request");

        using var response = await admin.GetAsync("/admin/api/usage?groupBy=day&groupBy=model,provider");
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(["day", "model", "provider"], json["group_by"]!.AsArray().Select(g => g!.GetValue<string>()));
        Assert.Equal("daily", json["source"]!.GetValue<string>());
        var today = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd");
        var row = Assert.Single(json["data"]!.AsArray(), r => r!["day"]!.GetValue<string>().StartsWith(today, StringComparison.Ordinal)
                                                              && r["model"]!.GetValue<string>().StartsWith("claude-sonnet-4", StringComparison.Ordinal))!;
        Assert.Equal("kiro", row["provider"]!.GetValue<string>());
        Assert.True(row["requests"]!.GetValue<long>() >= 1);
        Assert.False(row.AsObject().ContainsKey("user_id")); // not grouped by user
        Assert.True(json["totals"]!["requests"]!.GetValue<long>() >= row["requests"]!.GetValue<long>());
        var to = DateTimeOffset.Parse(json["to"]!.GetValue<string>());
        Assert.Equal(TimeSpan.FromDays(7), to - DateTimeOffset.Parse(json["from"]!.GetValue<string>()));

        using var byHour = await admin.GetAsync($"/admin/api/usage?groupBy=hour&user={Uri.EscapeDataString(GatewayFixture.AdminEmail)}&from={today}&to={today}");
        var hourly = JsonNode.Parse(await byHour.Content.ReadAsStringAsync())!;
        Assert.Equal(HttpStatusCode.OK, byHour.StatusCode);
        Assert.Equal("hourly", hourly["source"]!.GetValue<string>());
        Assert.NotEmpty(hourly["data"]!.AsArray());

        using var byModel = await admin.GetAsync("/admin/api/usage?model=no-such-model");
        Assert.Empty(JsonNode.Parse(await byModel.Content.ReadAsStringAsync())!["data"]!.AsArray());

        foreach (var path in new[] { "/admin/api/usage.csv?groupBy=day,model", "/admin/api/usage?groupBy=day,model&format=csv" })
        {
            using var csv = await admin.GetAsync(path);
            var text = await csv.Content.ReadAsStringAsync();
            Assert.Equal(HttpStatusCode.OK, csv.StatusCode);
            Assert.Equal("text/csv", csv.Content.Headers.ContentType?.MediaType);
            var lines = text.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("day,model,requests,errors,client_closed,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens," +
                         "credits,cost_usd,unpriced_requests,avg_duration_ms,avg_ttfb_ms", lines[0]);
            Assert.Contains(lines.Skip(1), l => l.StartsWith(today + ",claude-sonnet-4", StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData("from=2026-12-02&to=2026-12-01", "from")]
    [InlineData("from=yesterday", "from")]
    [InlineData("to=2026-13-45", "to")]
    [InlineData("groupBy=day,weekday", "groupBy")]
    [InlineData("group_by=colour", "group_by")]
    [InlineData("from=2024-01-01&to=2026-01-01", "from")]
    [InlineData("user=nobody@gapura.test", "user")]
    [InlineData("user=987654", "user")]
    [InlineData("key=abc", "key")]
    [InlineData("format=xml", "format")]
    [InlineData("from=2026-01-01&from=2026-01-02", "from")]
    public async Task Bad_admin_report_input_is_a_400_naming_the_parameter(string query, string param)
    {
        using var admin = gateway.Http();
        using var response = await admin.GetAsync("/admin/api/usage?" + query);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, json.ToJsonString());
        Assert.Equal("invalid_request_error", json["error"]!["type"]!.GetValue<string>());
        Assert.Equal(param, json["error"]!["param"]!.GetValue<string>());
        Assert.Contains(param, json["error"]!["message"]!.GetValue<string>(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Usage_without_a_key_is_401_and_bad_format_is_400_in_the_openai_shape()
    {
        using var anonymous = gateway.Http(apiKey: null);
        var (response, body) = await Wire.SendAsync(anonymous, new HttpRequestMessage(HttpMethod.Get, "/v1/usage"));
        Wire.AssertOpenAiError(response, body, HttpStatusCode.Unauthorized, "missing");

        using var http = gateway.Http();
        (response, body) = await Wire.SendAsync(http, new HttpRequestMessage(HttpMethod.Get, "/v1/usage?format=xml"));
        Wire.AssertOpenAiError(response, body, HttpStatusCode.BadRequest, "format");
    }

    [Fact]
    public async Task The_openapi_document_describes_the_usage_report()
    {
        using var http = gateway.Http(apiKey: null);
        var doc = JsonNode.Parse(await http.GetStringAsync("/openapi/v1.json"))!;
        var paths = doc["paths"]!.AsObject();
        Assert.True(paths.ContainsKey("/admin/api/usage"), string.Join(", ", paths.Select(p => p.Key)));
        Assert.True(paths.ContainsKey("/admin/api/usage.csv"));
        var schemas = doc["components"]!["schemas"]!.AsObject();
        var row = schemas["UsageRowView"]!["properties"]!.AsObject();
        Assert.True(row.ContainsKey("cost_usd"), row.ToJsonString());
        Assert.True(row.ContainsKey("cache_read_tokens"));
    }
}
