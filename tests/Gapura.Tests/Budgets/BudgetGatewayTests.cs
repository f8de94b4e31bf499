using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Gapura.Budgets;
using Gapura.Budgets.Counters;
using Gapura.Simulators.Kiro;
using Gapura.Tests.Integration;
using Gapura.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Budgets;

/// <summary>
/// Budgets through a real gateway and the Kiro simulator: the header on every answer, notify's note at the end of a
/// turn (never after a tool call), restrict's fast profile, pause's 429 in each caller's format before the upstream is
/// called, and windows rolling over at midnight on a hand-moved clock. Each test starts its own gateway: budgets are
/// configuration.
/// </summary>
public sealed class BudgetGatewayTests
{
    private const string Admin = GatewayFixture.AdminEmail;

    internal static async Task<GatewayFixture> StartAsync(ManualTime? clock = null, params string[] settings)
    {
        var gateway = new GatewayFixture
        {
            ConfigureServices = clock is null ? null : services => services.AddSingleton(new BudgetWindows(TimeZoneInfo.Utc, clock)),
        };
        gateway.Settings.AddRange(settings);
        await gateway.InitializeAsync();
        return gateway;
    }

    internal static async Task<HttpResponseMessage> MessagesAsync(GatewayFixture gateway, string body)
    {
        using var http = gateway.Http();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");
        var response = await http.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    internal static async Task<HttpResponseMessage> ChatAsync(GatewayFixture gateway, string body)
    {
        using var http = gateway.Http();
        var response = await http.PostAsync("/v1/chat/completions", new StringContent(body, Encoding.UTF8, "application/json"));
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    internal static string Question(int maxTokens, string model = "claude-sonnet-4.5", string text = "What is a monad, in one paragraph?")
        => $$"""{"model":"{{model}}","max_tokens":{{maxTokens}},"messages":[{"role":"user","content":"{{text}}"}]}""";

    internal static string? BudgetHeader(HttpResponseMessage response)
        => response.Headers.TryGetValues(BudgetGate.Header, out var v) ? v.Single() : null;

    internal static async Task WaitForAsync(Func<bool> condition)
    {
        for (var until = DateTime.UtcNow.AddSeconds(10); !condition(); await Task.Delay(20))
            if (DateTime.UtcNow > until) throw new TimeoutException("The condition did not hold within 10 s.");
    }

    internal static Task SettledAsync(GatewayFixture gateway)
        => gateway.Services.GetRequiredService<BudgetSettlements>().WhenSettledAsync(TimeSpan.FromSeconds(10));

    private static string AnthropicText(JsonNode answer) => string.Concat(answer["content"]!.AsArray().Where(b => (string?)b!["type"] == "text").Select(b => (string?)b!["text"]));

    [Fact]
    public async Task Without_budgets_nothing_is_reserved_and_no_header_is_sent()
    {
        await using var gateway = await StartAsync();
        using var response = await MessagesAsync(gateway, Question(100));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Null(BudgetHeader(response));
        Assert.Equal(0, gateway.Services.GetRequiredService<BudgetSettlements>().Pending);
    }

    [Fact]
    public async Task Notify_states_the_share_on_every_answer_notes_the_end_of_a_turn_never_a_tool_call_and_alerts_once()
    {
        await using var gateway = await StartAsync(null,
            "--Budgets:User:Default:daily:outputTokens=1000000", "--Budgets:User:Default:daily:alertThreshold=0",
            "--Budgets:User:Default:daily:action=notify", "--Budgets:User:Default:monthly:inputTokens=50000000");

        using var first = await MessagesAsync(gateway, Question(200));
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("daily-output=0%; monthly-input=0%", BudgetHeader(first));
        var text = AnthropicText(JsonNode.Parse(await first.Content.ReadAsStringAsync())!);
        Assert.EndsWith("resets " + DateTime.UtcNow.Date.AddDays(1).ToString("yyyy-MM-dd") + " 00:00 UTC.", text);
        Assert.Contains("Gapura: you have used 0% of the daily output budget (", text);
        await SettledAsync(gateway);

        // Streamed, in the OpenAI dialect: the note is the last text before the finish.
        using var streamed = await ChatAsync(gateway, """{"model":"claude-sonnet-4.5","stream":true,"max_tokens":200,"messages":[{"role":"user","content":"Say hi"}]}""");
        Assert.Equal(HttpStatusCode.OK, streamed.StatusCode);
        var sse = await streamed.Content.ReadAsStringAsync();
        Assert.Contains("Gapura: you have used", sse);
        Assert.Matches(@"daily-output=\d+%; monthly-input=\d+%", BudgetHeader(streamed));

        // An answer that ends in a tool call gets no note: the client is about to run the tool.
        gateway.Kiro.Enqueue(KiroScenario.ToolCall("toolu_b1", "Bash", """{"command":"ls"}"""));
        using var tool = await MessagesAsync(gateway, """
            {"model":"claude-sonnet-4.5","max_tokens":300,
             "tools":[{"name":"Bash","description":"Run a shell command","input_schema":{"type":"object","properties":{"command":{"type":"string"}}}}],
             "messages":[{"role":"user","content":"List the files"}]}
            """);
        Assert.Equal(HttpStatusCode.OK, tool.StatusCode);
        var toolAnswer = await tool.Content.ReadAsStringAsync();
        Assert.Contains("\"stop_reason\":\"tool_use\"", toolAnswer);
        Assert.DoesNotContain("Gapura:", toolAnswer);
        Assert.NotNull(BudgetHeader(tool));

        await SettledAsync(gateway);
        // Past the threshold (0) from the first settlement on; alerted once for the window however many requests follow.
        static bool Alert(string l) => l.Contains("Budget threshold for user:" + Admin) && l.Contains("daily output");
        await WaitForAsync(() => gateway.Logs.Lines.Any(Alert));
        await Task.Delay(200);
        Assert.Single(gateway.Logs.Lines, Alert);
    }

    [Fact]
    public async Task Notify_in_chat_can_be_switched_off_and_the_header_stays()
    {
        await using var gateway = await StartAsync(null,
            "--Budgets:User:Default:daily:outputTokens=1000000", "--Budgets:User:Default:daily:alertThreshold=0", "--Budgets:NotifyInChat=false");
        using var response = await MessagesAsync(gateway, Question(200));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.DoesNotContain("Gapura:", await response.Content.ReadAsStringAsync());
        Assert.Equal("daily-output=0%", BudgetHeader(response));
    }

    [Fact]
    public async Task Restrict_serves_a_request_with_the_fast_profile_whatever_it_asked_for_and_says_so_in_the_route_header()
    {
        await using var gateway = await StartAsync(null,
            "--Budgets:User:Default:daily:inputTokens=10000000", "--Budgets:User:Default:daily:alertThreshold=0", "--Budgets:User:Default:daily:action=restrict");
        using var response = await MessagesAsync(gateway, Question(200, "claude-sonnet-4.5"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var route = response.Headers.GetValues("x-gapura-route").Single();
        Assert.Contains("profile=fast", route);
        Assert.Contains("via=budget", route);
        Assert.Contains("model=claude-haiku-4.5", route);
        var record = await gateway.UsageRecordOfAsync(response);
        Assert.Equal(("fast", "claude-haiku-4.5"), (record.Profile, record.UpstreamModel));
        Assert.Equal("daily-input=0%", BudgetHeader(response));
    }

    [Fact]
    public async Task Route_explains_what_the_budgets_would_do_without_reserving_anything()
    {
        await using var gateway = await StartAsync(null,
            "--Budgets:User:Default:daily:inputTokens=10000000", "--Budgets:User:Default:daily:alertThreshold=0", "--Budgets:User:Default:daily:action=restrict");
        using var http = gateway.Http();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/route/v1/messages") { Content = new StringContent(Question(200), Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var explained = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("budget", (string?)explained["via"]);
        Assert.Equal("fast", (string?)explained["profile"]!["name"]);
        var budget = explained["budget"]!;
        Assert.Equal("restricted", (string?)budget["outcome"]);
        Assert.Equal("daily-input=0%", (string?)budget["header"]);
        Assert.Equal(200, (int)budget["worst_case"]!["output_tokens"]!);
        var line = budget["lines"]!.AsArray().Single()!;
        Assert.Equal(("daily", "input", "restricted", 10_000_000L), ((string?)line["window"], (string?)line["quantity"], (string?)line["state"], (long)line["limit"]!));
        Assert.Equal(0, gateway.Kiro.ChatCalls);
        Assert.Equal(0, gateway.Services.GetRequiredService<BudgetSettlements>().Pending); // nothing reserved, nothing to settle
    }

    [Fact]
    public async Task Below_a_restrict_threshold_the_request_is_served_as_asked()
    {
        await using var gateway = await StartAsync(null,
            "--Budgets:User:Default:daily:inputTokens=10000000", "--Budgets:User:Default:daily:alertThreshold=0.9", "--Budgets:User:Default:daily:action=restrict");
        using var response = await MessagesAsync(gateway, Question(200, "claude-sonnet-4.5"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("claude-sonnet-4.5", (await gateway.UsageRecordOfAsync(response)).UpstreamModel);
    }

    /// <summary>Sends the same question until the budget refuses one; returns the refusal and how many were served.</summary>
    internal static async Task<(HttpResponseMessage Refusal, int Served, long OutputServed)> SpendUntilRefusedAsync(GatewayFixture gateway, int maxTokens, int atMost = 30)
    {
        var served = 0;
        long output = 0;
        for (var i = 0; i < atMost; i++)
        {
            var response = await MessagesAsync(gateway, Question(maxTokens));
            if (response.StatusCode != HttpStatusCode.OK) return (response, served, output);
            served++;
            output += (await gateway.UsageRecordOfAsync(response)).OutputTokens;
            response.Dispose();
            await SettledAsync(gateway);
        }
        throw new Xunit.Sdk.XunitException($"The budget never refused a request in {atMost}.");
    }

    [Fact]
    public async Task Pause_refuses_before_the_upstream_in_each_callers_format_says_how_to_lift_it_and_holds_until_reset()
    {
        await using var gateway = await StartAsync(null,
            "--Budgets:User:Default:daily:outputTokens=300", "--Budgets:User:Default:daily:action=pause");
        var (refusal, served, output) = await SpendUntilRefusedAsync(gateway, maxTokens: 100);
        Assert.True(served >= 2, $"served {served}");
        Assert.True(output <= 300, $"settled {output} output tokens against a limit of 300");
        Assert.Equal(served, gateway.Kiro.ChatCalls); // the refused request never reached the upstream

        Assert.Equal((HttpStatusCode)429, refusal.StatusCode);
        Assert.Equal("false", refusal.Headers.GetValues("x-should-retry").Single());
        var error = JsonNode.Parse(await refusal.Content.ReadAsStringAsync())!;
        Assert.Equal("error", (string?)error["type"]);
        Assert.Equal("rate_limit_error", (string?)error["error"]!["type"]);
        var message = (string)error["error"]!["message"]!;
        Assert.StartsWith("Budget paused: the daily output budget of user " + Admin + " has reached its limit", message);
        Assert.Contains("this request may use up to 100 tokens (its max_tokens)", message);
        Assert.Contains("gapura budgets reset --user " + Admin, message);
        Assert.NotNull(BudgetHeader(refusal));

        // Paused now: even the smallest request is refused, in the OpenAI dialect too.
        using var openAi = await ChatAsync(gateway, """{"model":"claude-sonnet-4.5","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}""");
        Assert.Equal((HttpStatusCode)429, openAi.StatusCode);
        var openAiError = JsonNode.Parse(await openAi.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal("insufficient_quota", (string?)openAiError["code"]);
        Assert.StartsWith("Budget paused: the daily budget of user " + Admin + " is paused since", (string)openAiError["message"]!);
        Assert.Equal(served, gateway.Kiro.ChatCalls);
        Assert.Equal(1, gateway.Logs.Lines.Count(l => l.Contains("Budget paused for user:" + Admin)));

        await ResetAsync(gateway);
        using var again = await MessagesAsync(gateway, Question(100));
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal("daily-output=0%", BudgetHeader(again));
    }

    /// <summary>What <c>gapura budgets reset</c> does for the bootstrap admin: lift the pauses, restart the current windows.</summary>
    internal static async Task ResetAsync(GatewayFixture gateway)
    {
        var store = gateway.Services.GetRequiredService<Gapura.Storage.IGapuraStore>();
        var admin = (await store.Users.ListAsync()).Single(u => u.Email == Admin);
        var windows = gateway.Services.GetRequiredService<BudgetWindows>();
        var scope = BudgetScope.User(admin.Id);
        await gateway.Services.GetRequiredService<IBudgetCounters>().ResetAsync(scope.Name,
            [windows.Meter(scope, BudgetPeriod.Daily, windows.Now), windows.Meter(scope, BudgetPeriod.Monthly, windows.Now)], default);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_pause_holds_past_midnight_until_reset_unless_it_resumes_at_the_end_of_its_window(bool resumeAtPeriodEnd)
    {
        var clock = new ManualTime(new DateTimeOffset(2026, 12, 31, 23, 50, 0, TimeSpan.Zero));
        await using var gateway = await StartAsync(clock,
            "--Budgets:User:Default:daily:outputTokens=150", "--Budgets:User:Default:daily:action=pause",
            $"--Budgets:User:Default:daily:resumeAtPeriodEnd={resumeAtPeriodEnd}",
            "--Budgets:User:Default:monthly:outputTokens=100000", "--Budgets:User:Default:monthly:action=notify", "--Budgets:User:Default:monthly:alertThreshold=0.99");
        var (refusal, _, _) = await SpendUntilRefusedAsync(gateway, maxTokens: 100);
        var message = await refusal.Content.ReadAsStringAsync();
        Assert.Contains("Budget paused", message);
        if (resumeAtPeriodEnd)
        {
            Assert.Contains("or it lifts by itself when the window ends (2027-01-01 00:00 UTC)", message);
            Assert.InRange(int.Parse(refusal.Headers.GetValues("Retry-After").Single()), 1, 600);
        }

        // Ten minutes later it is a new day — and a new month: new windows, counted from zero.
        clock.Advance(TimeSpan.FromMinutes(20));
        using var after = await MessagesAsync(gateway, Question(100));
        if (resumeAtPeriodEnd)
        {
            Assert.Equal(HttpStatusCode.OK, after.StatusCode);
            Assert.Equal("daily-output=0%; monthly-output=0%", BudgetHeader(after));
        }
        else
        {
            Assert.Equal((HttpStatusCode)429, after.StatusCode);
            Assert.Contains("is paused since 2026-12-31 23:5", await after.Content.ReadAsStringAsync());
            await ResetAsync(gateway);
            using var reset = await MessagesAsync(gateway, Question(100));
            Assert.Equal(HttpStatusCode.OK, reset.StatusCode);
            Assert.Equal("daily-output=0%; monthly-output=0%", BudgetHeader(reset));
        }
    }
}
