using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Gapura.Simulators.Kiro;
using Gapura.Tests.Admin;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Routing;

/// <summary>
/// Routing by task through a real gateway and the Kiro simulator: the default profiles, <c>auto</c>, profile names,
/// modes, the task header, profiles changed through the admin API, fallbacks and the 503 that names the profile,
/// <c>POST /v1/route</c>, and the seed import. Each test leaves routing as it found it (the gateway is shared).
/// </summary>
public sealed class RoutingGatewayTests : IAsyncLifetime
{
    private readonly GatewayFixture _gateway = new();

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => _gateway.DisposeAsync();

    private const string Question = """{"model":"MODEL","max_tokens":200,"messages":[{"role":"user","content":"What is a monad, in one paragraph?"}]}""";

    private const string ToolLoop = """
        {"model":"MODEL","max_tokens":500,
         "tools":[{"name":"Bash","description":"Run a shell command","input_schema":{"type":"object","properties":{"command":{"type":"string"}}}}],
         "messages":[
           {"role":"user","content":"Fix the failing build in src/"},
           {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"make"}}]},
           {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"error: missing semicolon"}]}]}
        """;

    private AdminClient Admin() => new(_gateway.BaseUrl, GatewayFixture.ApiKey);

    private async Task<HttpResponseMessage> MessagesAsync(string body, string model, params (string Name, string Value)[] headers)
    {
        using var http = _gateway.Http();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(body.Replace("MODEL", model), Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");
        foreach (var (name, value) in headers) request.Headers.TryAddWithoutValidation(name, value);
        var response = await http.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private static string Route(HttpResponseMessage response)
        => response.Headers.TryGetValues("x-gapura-route", out var v) ? v.Single() : "";

    [Fact]
    public async Task Auto_sends_a_plain_question_to_the_fast_profile_the_newest_haiku_and_says_why()
    {
        using var response = await MessagesAsync(Question, "auto");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var route = Route(response);
        Assert.Contains("task=interactiveChat", route);
        Assert.Contains("profile=fast", route);
        Assert.Contains("via=auto", route);
        Assert.Contains("model=claude-haiku-4.5", route);
        Assert.Contains("provider=kiro", route);
        var record = await _gateway.UsageRecordOfAsync(response);
        Assert.Equal(("interactiveChat", "fast", "claude-haiku-4.5"), (record.Task, record.Profile, record.UpstreamModel));
        // The answer names the model the client asked for.
        Assert.Contains("\"model\":\"auto\"", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_tool_loop_asking_for_auto_goes_to_primary_the_newest_sonnet()
    {
        using var response = await MessagesAsync(ToolLoop, "auto");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("task=taskExecution", Route(response));
        Assert.Contains("profile=primary", Route(response));
        var record = await _gateway.UsageRecordOfAsync(response);
        Assert.Equal(("primary", "claude-sonnet-4.5"), (record.Profile, record.UpstreamModel));
    }

    [Fact]
    public async Task In_virtual_mode_a_named_model_is_served_as_named_and_only_its_task_is_recorded()
    {
        using var response = await MessagesAsync(ToolLoop, "claude-opus-4-6");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("", Route(response));
        var record = await _gateway.UsageRecordOfAsync(response);
        Assert.Equal(("taskExecution", null, "claude-opus-4.6"), (record.Task, record.Profile, record.UpstreamModel));
    }

    [Fact]
    public async Task A_profile_name_as_the_model_picks_that_profile_whatever_the_task()
    {
        using var response = await MessagesAsync(Question, "primary");
        Assert.Contains("profile=primary", Route(response));
        Assert.Contains("via=model", Route(response));
        Assert.Contains("task=interactiveChat", Route(response));
        Assert.Equal("claude-sonnet-4.5", (await _gateway.UsageRecordOfAsync(response)).UpstreamModel);
    }

    [Fact]
    public async Task The_task_header_decides_the_task_and_an_unknown_one_is_a_400_naming_it()
    {
        using var review = await MessagesAsync(Question, "auto", ("x-gapura-task", "codeReview"));
        Assert.Contains("task=codeReview; rule=header; profile=primary", Route(review));

        using var bad = await MessagesAsync(Question, "auto", ("x-gapura-task", "gossip"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        var error = JsonNode.Parse(await bad.Content.ReadAsStringAsync())!;
        Assert.Equal("invalid_request_error", error["error"]!["type"]!.GetValue<string>());
        Assert.Contains("x-gapura-task", error["error"]!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Override_mode_routes_every_request_whatever_model_it_names()
    {
        using var admin = Admin();
        var set = await admin.PutAsync("/admin/api/routing/mode", new JsonObject { ["mode"] = "override" });
        Assert.Equal(HttpStatusCode.OK, set.Status);
        try
        {
            using var chat = await MessagesAsync(Question, "claude-opus-4-6");
            Assert.Contains("profile=fast; via=override", Route(chat));
            Assert.Equal("claude-haiku-4.5", (await _gateway.UsageRecordOfAsync(chat)).UpstreamModel);
            using var loop = await MessagesAsync(ToolLoop, "claude-haiku-4-5");
            Assert.Equal("claude-sonnet-4.5", (await _gateway.UsageRecordOfAsync(loop)).UpstreamModel);
            // Kiro's own auto stays reachable by its provider name... when routing does not override it.
            Assert.Equal("override", (await admin.GetAsync("/admin/api/routing")).Json!["modes"]!["gateway"]!.GetValue<string>());
        }
        finally
        {
            await admin.PutAsync("/admin/api/routing/mode", new JsonObject { ["mode"] = "virtual" });
        }
        using var after = await MessagesAsync(Question, "kiro/auto");
        Assert.Equal("", Route(after));
        Assert.Equal("auto", (await _gateway.UsageRecordOfAsync(after)).UpstreamModel);
    }

    [Fact]
    public async Task Mode_off_classifies_nothing_and_auto_is_kiros_own()
    {
        using var admin = Admin();
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync("/admin/api/routing/mode", new JsonObject { ["mode"] = "off" })).Status);
        try
        {
            using var response = await MessagesAsync(Question, "auto");
            Assert.Equal("", Route(response));
            var record = await _gateway.UsageRecordOfAsync(response);
            Assert.Equal(("unknown", "auto"), (record.Task, record.UpstreamModel));
        }
        finally
        {
            await admin.PutAsync("/admin/api/routing/mode", new JsonObject { ["mode"] = "virtual" });
        }
    }

    [Fact]
    public async Task An_admin_profile_sets_the_model_and_its_parameters_and_bad_ones_are_refused_naming_the_field()
    {
        using var admin = Admin();
        var saved = await admin.PutAsync("/admin/api/routing/profiles/fast",
            JsonNode.Parse("""{"model":"claude-sonnet-4","maxTokens":100,"temperature":0.3,"fallbacks":["claude-haiku-4.5"]}"""));
        Assert.Equal(HttpStatusCode.OK, saved.Status);
        try
        {
            var explained = await ExplainAsync(Question.Replace("\"max_tokens\":200,", ""), "auto");
            Assert.Equal(100, explained["max_tokens"]!.GetValue<int>());
            Assert.Equal(0.3, explained["temperature"]!.GetValue<double>());
            Assert.Equal(["claude-sonnet-4", "claude-haiku-4.5"], explained["candidates"]!.AsArray().Select(c => c!["model"]!.GetValue<string>()));
            using var response = await MessagesAsync(Question, "fast");
            Assert.Equal("claude-sonnet-4", (await _gateway.UsageRecordOfAsync(response)).UpstreamModel);
        }
        finally
        {
            Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/admin/api/routing/profiles/fast")).Status);
        }

        var unknownModel = await admin.PutAsync("/admin/api/routing/profiles/fast", JsonNode.Parse("""{"model":"gpt-9-ultra"}"""));
        Assert.Equal(HttpStatusCode.BadRequest, unknownModel.Status);
        Assert.Equal("profiles.fast.model", unknownModel.ErrorParam);
        var unknownField = await admin.PutAsync("/admin/api/routing/profiles/fast", JsonNode.Parse("""{"model":"claude-sonnet-4","max_tokenz":5}"""));
        Assert.Equal("profiles.fast.max_tokenz", unknownField.ErrorParam);
        var badFallback = await admin.PutAsync("/admin/api/routing/profiles/fast", JsonNode.Parse("""{"model":"claude-sonnet-4","fallbacks":["claude-sonnet-4", "nope-1"]}"""));
        Assert.Equal("profiles.fast.fallbacks[1]", badFallback.ErrorParam);
        var auto = await admin.PutAsync("/admin/api/routing/profiles/auto", JsonNode.Parse("""{"model":"claude-sonnet-4"}"""));
        Assert.Equal(HttpStatusCode.BadRequest, auto.Status);
        var unknownTask = await admin.PutAsync("/admin/api/routing/tasks/gossip", new JsonObject { ["profile"] = "fast" });
        Assert.Equal("task", unknownTask.ErrorParam);
        var unknownProfile = await admin.PutAsync("/admin/api/routing/tasks/codeReview", new JsonObject { ["profile"] = "cheapest" });
        Assert.Equal("tasks.codeReview", unknownProfile.ErrorParam);
        var badMode = await admin.PutAsync("/admin/api/routing/mode", new JsonObject { ["mode"] = "sometimes" });
        Assert.Equal("mode", badMode.ErrorParam);
    }

    [Fact]
    public async Task A_profile_falls_back_along_its_models_then_answers_503_naming_the_profile()
    {
        using var admin = Admin();
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync("/admin/api/routing/profiles/flaky",
            JsonNode.Parse("""{"model":"claude-sonnet-4.5","fallbacks":["claude-haiku-4.5"]}"""))).Status);
        try
        {
            _gateway.Kiro.Enqueue(KiroScenario.MonthlyQuota());
            using var fellBack = await MessagesAsync(Question, "flaky");
            Assert.Equal(HttpStatusCode.OK, fellBack.StatusCode);
            Assert.Contains("model=claude-haiku-4.5", Route(fellBack));
            var record = await _gateway.UsageRecordOfAsync(fellBack);
            Assert.Equal((1, "claude-haiku-4.5"), (record.Fallbacks, record.UpstreamModel));

            for (var i = 0; i < 2; i++) _gateway.Kiro.Enqueue(KiroScenario.MonthlyQuota());
            using var failed = await MessagesAsync(Question, "flaky");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, failed.StatusCode);
            Assert.Contains("Routing profile 'flaky'", await failed.Content.ReadAsStringAsync());
        }
        finally
        {
            _gateway.Kiro.ClearScenarios();
            await admin.DeleteAsync("/admin/api/routing/profiles/flaky");
        }
    }

    private async Task<JsonNode> ExplainAsync(string body, string model, string path = "/v1/route/v1/messages")
    {
        using var http = _gateway.Http();
        using var response = await http.PostAsync(path, new StringContent(body.Replace("MODEL", model), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!;
    }

    [Fact]
    public async Task Route_explains_every_rule_and_the_candidates_without_calling_an_upstream()
    {
        var calls = _gateway.Kiro.ChatCalls;
        var explained = await ExplainAsync(ToolLoop, "auto");
        Assert.Equal(calls, _gateway.Kiro.ChatCalls);
        Assert.Equal("anthropic-messages", explained["door"]!.GetValue<string>());
        Assert.Equal("taskExecution", explained["task"]!.GetValue<string>());
        Assert.Equal("primary", explained["profile"]!["name"]!.GetValue<string>());
        Assert.Equal("claude-sonnet-4.5", explained["candidates"]![0]!["model"]!.GetValue<string>());
        var rules = explained["rules"]!.AsArray();
        Assert.True(rules.Count > 5);
        // The rule named in the decision is the first that matched; every rule says why.
        var first = rules.First(r => r!["matched"]!.GetValue<bool>())!;
        Assert.Equal(explained["rule"]!.GetValue<string>(), first["rule"]!.GetValue<string>());
        Assert.All(rules, r => Assert.False(string.IsNullOrWhiteSpace(r!["why"]!.GetValue<string>())));
        Assert.StartsWith("task=taskExecution", explained["header"]!.GetValue<string>());

        // The OpenAI door by query parameter; a model no upstream offers is explained, not thrown.
        var openAi = await ExplainAsync("""{"model":"gpt-9-ultra","messages":[{"role":"user","content":"hi"}]}""", "", "/v1/route?door=openai");
        Assert.Equal("openai-chat", openAi["door"]!.GetValue<string>());
        Assert.Equal(400, openAi["error"]!["status"]!.GetValue<int>());
        Assert.Empty(openAi["candidates"]!.AsArray());

        using var http = _gateway.Http();
        using var badDoor = await http.PostAsync("/v1/route/v2/whatever", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, badDoor.StatusCode);
        using var anonymous = _gateway.Http(null);
        using var refused = await anonymous.PostAsync("/v1/route", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    internal const string SeedSettings = """
        {
        "models": {
        "primary": {
        "provider": "anthropic",
        "model": "claude-sonnet-4-0",
        "maxTokens": 8192,
        "temperature": 0.1
        },
        "fast": {
        "provider": "anthropic",
        "model": "claude-sonnet-3-7",
        "maxTokens": 4096,
        "temperature": 0.2
        },
        "routing": {
        "specGeneration": "primary", // requirements → design → tasks: quality matters most
        "taskExecution": "primary", // autonomous agent: complex multi-step reasoning
        "codeReview": "primary", // security and correctness review: quality matters
        "interactiveChat": "fast", // quick Q&A and exploration: speed matters
        "hookActions": "fast", // frequent event-driven actions: cost matters
        "codeExplanation": "fast", // explaining existing code: speed and cost
        "documentationUpdate": "fast" // doc updates: lower complexity
        }
        },
        "budget": { "daily": { "inputTokens": 500000, "outputTokens": 200000, "alertThreshold": 0.8, "action": "notify" } }
        }
        """;

    [Fact]
    public async Task The_seed_settings_import_as_they_are_and_their_models_resolve_on_kiro()
    {
        using var admin = Admin();
        using var http = _gateway.Http();
        using var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/admin/api/routing/import")
        {
            Content = new StringContent(SeedSettings, Encoding.UTF8, "application/json"),
        });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var imported = JsonNode.Parse(text)!;
        Assert.Equal(["primary", "fast"], imported["profiles"]!.AsArray().Select(p => p!.GetValue<string>()));
        Assert.Equal(["budget"], imported["not_imported"]!.AsArray().Select(p => p!.GetValue<string>()));
        try
        {
            // No Anthropic upstream here: the pinned provider is a preference, and Kiro serves the same models.
            var loop = await ExplainAsync(ToolLoop, "auto");
            Assert.Equal("claude-sonnet-4", loop["candidates"]![0]!["model"]!.GetValue<string>());
            Assert.Equal(500, loop["max_tokens"]!.GetValue<int>());
            var chat = await ExplainAsync(Question.Replace("\"max_tokens\":200,", ""), "auto");
            Assert.Equal("claude-3.7-sonnet", chat["candidates"]![0]!["model"]!.GetValue<string>());
            Assert.Equal(4096, chat["max_tokens"]!.GetValue<int>());
            Assert.Equal(0.2, chat["temperature"]!.GetValue<double>());
            var config = (await admin.GetAsync("/admin/api/routing")).Json!;
            Assert.Contains(config["profiles"]!.AsArray(), p => p!["name"]!.GetValue<string>() == "primary" && p["source"]!.GetValue<string>() == "admin");
        }
        finally
        {
            await admin.DeleteAsync("/admin/api/routing/profiles/primary");
            await admin.DeleteAsync("/admin/api/routing/profiles/fast");
        }

        using var bad = await http.PostAsync("/admin/api/routing/import", new StringContent("""{"models":{"routing":{"gossip":"fast"}}}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("models.routing.gossip", await bad.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Only_admins_change_routing()
    {
        using var admin = Admin();
        var user = await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = "dev@routing.test", ["password"] = "a-long-enough-password-42" });
        Assert.True(user.Status is HttpStatusCode.Created or HttpStatusCode.OK, user.ToString());
        var key = await admin.PostAsync("/admin/api/keys", new JsonObject { ["user_id"] = user.Json!["id"]!.GetValue<long>(), ["name"] = "laptop" });
        using var dev = new AdminClient(_gateway.BaseUrl, key.Json!["key"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Forbidden, (await dev.GetAsync("/admin/api/routing")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await dev.PutAsync("/admin/api/routing/mode", new JsonObject { ["mode"] = "off" })).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await dev.PutAsync("/admin/api/routing/profiles/fast", JsonNode.Parse("""{"model":"claude-sonnet-4"}"""))).Status);
    }
}
