using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Gapura.Cli;
using Gapura.Routing.Profiles;
using Gapura.Simulators.Kiro;
using Gapura.Tests.Admin;
using Gapura.Tests.Integration;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Routing.Canary;

/// <summary>A gateway per test in front of the Kiro simulator, with helpers to run canaries on the built-in primary profile.</summary>
public abstract class CanaryTestBase : AdminTestBase
{
    private protected const string Baseline = "claude-sonnet-4.5";   // what the built-in primary profile (claude-sonnet) resolves to
    private protected const string Candidate = "claude-haiku-4.5";
    private protected const string Path = "/admin/api/routing/canaries";

    private protected RoutingConfig Routing => Gateway.Services.GetRequiredService<RoutingConfigSource>().Current;

    private protected async Task<AdminResponse> StartAsync(string profile, string model, int percent)
    {
        using var admin = AdminByKey();
        return await admin.PostAsync($"{Path}/{profile}", new JsonObject { ["model"] = model, ["percent"] = percent });
    }

    /// <summary>One Claude Code request to the primary profile in <paramref name="session"/>; a failed tool call in its latest turn when asked.</summary>
    private protected async Task<(HttpResponseMessage Response, Gapura.Ledger.UsageRecord Record)> AskAsync(string session, bool toolError = false)
    {
        var messages = toolError
            ? """[{"role":"user","content":"run it"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"bash","input":{"cmd":"ls"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"boom","is_error":true}]}]"""
            : """[{"role":"user","content":"hello"}]""";
        const string tools = """[{"name":"bash","description":"Run a command","input_schema":{"type":"object","properties":{"cmd":{"type":"string"}}}}]""";
        var body = $$$"""{"model":"primary","max_tokens":256,"messages":{{{messages}}},"tools":{{{tools}}}}""";
        using var http = Gateway.Http();
        using var request = Wire.Anthropic(body);
        request.Headers.TryAddWithoutValidation("User-Agent", "claude-cli/2.1.330 (external, cli)");
        request.Headers.TryAddWithoutValidation("x-claude-code-session-id", session);
        var response = await http.SendAsync(request);
        await response.Content.ReadAsStringAsync();
        return (response, await Gateway.UsageRecordOfAsync(response));
    }

    private protected static string? RouteHeader(HttpResponseMessage r) => r.Headers.TryGetValues("x-gapura-route", out var v) ? v.Single() : null;
}

/// <summary>Canaries through a real gateway and the Kiro simulator: the split, the ledger's marks, status, promote, rollback, the admin API and the CLI.</summary>
public sealed class CanaryGatewayTests : CanaryTestBase
{
    [Fact]
    public async Task A_canary_at_half_splits_sessions_stickily_and_the_candidate_serves_its_side()
    {
        Assert.Equal(HttpStatusCode.OK, (await StartAsync("primary", Candidate, 50)).Status);

        var variants = new Dictionary<string, string>();
        for (var i = 0; i < 16; i++)
        {
            var session = $"split-{i}";
            var (response, record) = await AskAsync(session);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("primary", record.Profile);
            Assert.NotNull(record.Variant);
            variants[session] = record.Variant!;
            Assert.Contains($"canary={record.Variant}", RouteHeader(response));
            Assert.Equal(record.Variant == CanaryDefinition.Candidate ? Candidate : Baseline, record.UpstreamModel);
        }
        Assert.Contains(CanaryDefinition.Candidate, variants.Values);
        Assert.Contains(CanaryDefinition.Baseline, variants.Values);

        // The same conversation never switches model.
        foreach (var (session, variant) in variants.Take(6))
            for (var n = 0; n < 2; n++)
            {
                var (response, record) = await AskAsync(session);
                Assert.Equal(variant, record.Variant);
                Assert.Contains($"canary={variant}", RouteHeader(response));
            }
    }

    [Fact]
    public async Task Status_counts_errors_and_tool_failures_per_variant_since_the_start()
    {
        Assert.Equal(HttpStatusCode.OK, (await StartAsync("primary", Candidate, 50)).Status);

        var expected = new Dictionary<string, (int Requests, int Errors, int ToolErrors)>
        {
            [CanaryDefinition.Baseline] = (0, 0, 0),
            [CanaryDefinition.Candidate] = (0, 0, 0),
        };
        for (var i = 0; i < 20; i++)
        {
            var fail = i % 4 == 0;
            var tool = i % 3 == 0;
            if (fail) Gateway.Kiro.Enqueue(KiroScenario.ImproperlyFormed());
            var (response, record) = await AskAsync($"mix-{i % 10}", toolError: tool);
            Assert.Equal(fail ? HttpStatusCode.BadRequest : HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(tool ? 1 : 0, record.ToolErrors);
            var e = expected[record.Variant!];
            expected[record.Variant!] = (e.Requests + 1, e.Errors + (fail ? 1 : 0), e.ToolErrors + (tool ? 1 : 0));
        }

        using var admin = AdminByKey();
        AdminResponse status = null!;
        await EventuallyAsync(async () =>
        {
            status = await admin.GetAsync($"{Path}/primary");
            return status.Json?["baseline"]?["requests"]?.GetValue<long>() + status.Json?["candidate"]?["requests"]?.GetValue<long>() == 20;
        }, TimeSpan.FromSeconds(15), "the ledger to hold the 20 requests");

        foreach (var (variant, (requests, errors, tools)) in expected)
        {
            var side = status.Json![variant]!;
            Assert.Equal(requests, side["requests"]!.GetValue<long>());
            Assert.Equal(errors, side["errors"]!.GetValue<long>());
            Assert.Equal(tools, side["tool_error_requests"]!.GetValue<long>());
            if (requests == 0) continue;
            Assert.Equal((double)errors / requests, side["error_rate"]!.GetValue<double>(), 9);
            Assert.Equal((double)tools / requests, side["tool_error_rate"]!.GetValue<double>(), 9);
            Assert.True(side["input_tokens_per_request"]!.GetValue<double>() > 0, status.ToString());
            if (requests > errors) Assert.NotNull(side["ttfb_p50_ms"]);
        }
        Assert.Equal(Candidate, status.Json!["candidate"]!["model"]!.GetValue<string>());
        Assert.Equal("claude-sonnet", status.Json!["baseline"]!["model"]!.GetValue<string>());
        Assert.Equal(50, status.Json!["automatic_rollback"]!["min_requests"]!.GetValue<int>());
        Assert.False(status.Json!["automatic_rollback"]!["would_roll_back"]!.GetValue<bool>());
    }

    [Fact]
    public async Task Promote_makes_the_candidate_the_profiles_model_and_ends_the_canary()
    {
        Assert.Equal(HttpStatusCode.OK, (await StartAsync("primary", Candidate, 10)).Status);
        using var admin = AdminByKey();

        var promoted = await admin.PostAsync($"{Path}/primary/promote");

        Assert.Equal(HttpStatusCode.OK, promoted.Status);
        Assert.Equal("promoted", promoted.Json!["outcome"]!.GetValue<string>());
        Assert.Equal(Candidate, promoted.Json!["profile_model"]!.GetValue<string>());
        Assert.Equal(Candidate, Routing.FindProfile("primary")!.Model);
        Assert.Empty(Routing.Canaries);
        Assert.Empty((await admin.GetAsync(Path)).Json!["data"]!.AsArray());
        var (response, record) = await AskAsync("after-promote");
        Assert.Equal(Candidate, record.UpstreamModel);
        Assert.Null(record.Variant);
        Assert.DoesNotContain("canary=", RouteHeader(response));
        Assert.Contains(await AuditAsync(), a => a.Action == "routing.canary.promote" && a.Actor == "key:bootstrap" && a.Target == "profile:primary");
    }

    [Fact]
    public async Task Rollback_ends_the_canary_and_keeps_the_profile()
    {
        Assert.Equal(HttpStatusCode.OK, (await StartAsync("primary", Candidate, 100)).Status);
        using var admin = AdminByKey();
        var listed = (await admin.GetAsync(Path)).Json!["data"]!.AsArray();
        Assert.Equal(Candidate, Assert.Single(listed)!["model"]!.GetValue<string>());
        Assert.Equal(Candidate, (await AskAsync("during")).Record.UpstreamModel);

        var rolledBack = await admin.PostAsync($"{Path}/primary/rollback");

        Assert.Equal(HttpStatusCode.OK, rolledBack.Status);
        Assert.Equal("rolled_back", rolledBack.Json!["outcome"]!.GetValue<string>());
        Assert.Equal("claude-sonnet", Routing.FindProfile("primary")!.Model);
        Assert.Empty(Routing.Canaries);
        Assert.Equal(Baseline, (await AskAsync("during")).Record.UpstreamModel);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.PostAsync($"{Path}/primary/rollback")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"{Path}/primary")).Status);
        Assert.Contains(await AuditAsync(), a => a.Action == "routing.canary.start" && a.Detail == $"{Candidate} at 100%");
        Assert.Contains(await AuditAsync(), a => a.Action == "routing.canary.rollback" && a.Actor == "key:bootstrap");
    }

    [Fact]
    public async Task The_admin_endpoints_refuse_non_admins_and_bad_input_naming_the_field()
    {
        await CreateUserAsync("user@gapura.test");
        using (var user = await SignedInAsync("user@gapura.test"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, (await user.GetAsync(Path)).Status);
            Assert.Equal(HttpStatusCode.Forbidden, (await user.PostAsync($"{Path}/primary", new JsonObject { ["model"] = Candidate, ["percent"] = 5 })).Status);
            Assert.Equal(HttpStatusCode.Forbidden, (await user.PostAsync($"{Path}/primary/rollback")).Status);
        }
        Assert.Empty(Routing.Canaries);

        using var admin = AdminByKey();
        foreach (var (profile, body, field) in new (string, JsonObject, string)[]
        {
            ("primary", new JsonObject { ["model"] = Candidate, ["percent"] = 0 }, "percent"),
            ("primary", new JsonObject { ["model"] = Candidate }, "percent"),
            ("primary", new JsonObject { ["percent"] = 5 }, "model"),
            ("primary", new JsonObject { ["model"] = "no-such-model-anywhere", ["percent"] = 5 }, "model"),
            ("primary", new JsonObject { ["model"] = Candidate, ["percent"] = "half" }, "percent"),
            ("primary", new JsonObject { ["model"] = Candidate, ["percent"] = 5, ["share"] = 5 }, "share"),
            ("nosuch", new JsonObject { ["model"] = Candidate, ["percent"] = 5 }, "profile"),
        })
        {
            var refused = await admin.PostAsync($"{Path}/{profile}", body);
            Assert.True(refused.Status == HttpStatusCode.BadRequest, $"{body.ToJsonString()}: {refused}");
            Assert.Equal(field, refused.ErrorParam);
        }
        Assert.Empty(Routing.Canaries);
    }

    [Fact]
    public async Task The_cli_verbs_work_on_the_database_the_gateway_follows()
    {
        async Task<(int Code, string Out, string Err)> Cli(params string[] args)
        {
            var output = new StringWriter();
            var error = new StringWriter();
            var code = await GapuraCli.RunAsync(
            [
                .. args, $"--Storage:Path={System.IO.Path.Combine(Gateway.DataDirectory, "gapura.db")}",
                $"--Kiro:Endpoint={Gateway.Kiro.BaseUrl}", $"--Kiro:AuthEndpoint={Gateway.Kiro.BaseUrl}", $"--Kiro:OidcEndpoint={Gateway.Kiro.BaseUrl}",
                $"--Kiro:CredentialsFile={Gateway.CredentialsFile}",
            ], output, error);
            return (code, output.ToString(), error.ToString());
        }

        var started = await Cli("routing", "canary", "start", "primary", "--model", Candidate, "--percent", "100");
        Assert.True(started.Code == 0, started.Err);
        // The gateway follows the database within Routing:SyncSeconds.
        await EventuallyAsync(() => Task.FromResult(Routing.CanaryOf("primary") is not null), TimeSpan.FromSeconds(10), "the gateway to see the canary");
        for (var i = 0; i < 3; i++) Assert.Equal(Candidate, (await AskAsync($"cli-{i}")).Record.UpstreamModel);

        await EventuallyAsync(async () => JsonNode.Parse((await Cli("routing", "canary", "status", "primary", "--json")).Out)?["candidate"]?["requests"]?.GetValue<long>() == 3,
            TimeSpan.FromSeconds(15), "the status to count the 3 requests");
        var status = await Cli("routing", "canary", "status", "primary");
        Assert.Equal(0, status.Code);
        Assert.Contains($"Candidate ({Candidate})", status.Out);
        Assert.Matches(@"Requests\s+│\s+0\s+│\s+3\s+│", status.Out);
        Assert.Contains("Automatic rollback: not judged yet: 3 of 50 candidate requests", status.Out);

        Assert.Equal(2, (await Cli("routing", "canary", "start", "primary", "--model", Candidate)).Code);
        Assert.Equal(2, (await Cli("routing", "canary", "start", "primary", "--model", Candidate, "--percent", "half")).Code);
        var unknownProfile = await Cli("routing", "canary", "start", "nosuch", "--model", Candidate, "--percent", "5");
        Assert.Equal((1, true), (unknownProfile.Code, unknownProfile.Err.Contains("profile:")));
        var unknownModel = await Cli("routing", "canary", "start", "primary", "--model", "no-such-model-anywhere", "--percent", "5");
        Assert.Equal((1, true), (unknownModel.Code, unknownModel.Err.Contains("model:")));

        var promoted = await Cli("routing", "canary", "promote", "primary");
        Assert.True(promoted.Code == 0, promoted.Err);
        Assert.Contains($"now uses {Candidate}", promoted.Err);
        var again = await Cli("routing", "canary", "rollback", "primary");
        Assert.Equal((1, true), (again.Code, again.Err.Contains("No canary is running")));
        Assert.Equal(1, (await Cli("routing", "canary", "status", "primary")).Code);
        await EventuallyAsync(() => Task.FromResult(Routing.CanaryOf("primary") is null && Routing.FindProfile("primary")!.Model == Candidate),
            TimeSpan.FromSeconds(10), "the gateway to see the promotion");
        Assert.Contains(await AuditAsync(), a => a.Action == "routing.canary.promote" && a.Actor.StartsWith("cli:", StringComparison.Ordinal));
    }
}

/// <summary>Two instances (or a check and a slower reload) ending the same canary.</summary>
public sealed class CanaryEndedTwiceTests : CanaryTestBase
{
    [Fact]
    public async Task A_canary_another_instance_already_ended_is_not_ended_or_audited_again()
    {
        Assert.Equal(HttpStatusCode.OK, (await StartAsync("primary", Candidate, 50)).Status);
        var here = Gateway.Services.GetRequiredService<RoutingConfigSource>();
        // Another instance on the same database, which read the settings while the canary ran and has not yet followed the change.
        var there = new RoutingConfigSource(Store, Gateway.Services.GetRequiredService<Microsoft.Extensions.Configuration.IConfiguration>(),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<RoutingConfigSource>.Instance);
        await there.ReloadAllAsync(CancellationToken.None);
        RoutingChanges On(RoutingConfigSource source, string actor)
            => new(Store, source, router: null, (action, target, detail) => new Gapura.Storage.NewAuditEntry(actor, action, target, detail, null));

        var first = await On(here, "here").EndCanaryAsync("primary", promote: false, "test", CancellationToken.None);
        Assert.NotNull(there.Current.CanaryOf("primary")); // still stale
        var second = await On(there, "there").EndCanaryAsync("primary", promote: true, "test", CancellationToken.None);

        Assert.NotNull(first);
        Assert.Null(second); // nothing left to end: no promotion over the rollback, no second audit entry
        Assert.Single(await AuditAsync(), a => a.Action.StartsWith("routing.canary.", StringComparison.Ordinal) && a.Action != "routing.canary.start");
        Assert.Equal("claude-sonnet", here.Current.FindProfile("primary")!.Model);
        Assert.Null(there.Current.CanaryOf("primary"));
    }
}

/// <summary>The automatic rollback, with a small judging window and a fast check.</summary>
public sealed class CanaryAutoRollbackTests : CanaryTestBase
{
    protected override IEnumerable<string> ExtraSettings => ["--Routing:Canary:MinRequests=4", "--Routing:Canary:CheckSeconds=0.2", "--Routing:Canary:MaxErrorRateIncrease=0.2"];

    [Fact]
    public async Task A_failing_candidate_is_rolled_back_by_itself_and_audited()
    {
        Assert.Equal(HttpStatusCode.OK, (await StartAsync("primary", Candidate, 100)).Status);
        for (var i = 0; i < 4; i++)
        {
            Gateway.Kiro.Enqueue(KiroScenario.ImproperlyFormed());
            var (response, record) = await AskAsync($"failing-{i}");
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal(CanaryDefinition.Candidate, record.Variant);
        }

        await EventuallyAsync(() => Task.FromResult(Routing.Canaries.Count == 0), TimeSpan.FromSeconds(15), "the canary to roll back");

        Assert.Equal("claude-sonnet", Routing.FindProfile("primary")!.Model);
        var entry = Assert.Single(await AuditAsync(), a => a.Action == "routing.canary.rollback");
        Assert.Equal("gapura (automatic)", entry.Actor);
        Assert.Equal($"{Candidate}: automatic rollback: candidate error rate 100% vs baseline 0% over 4 requests", entry.Detail);
        // The warning follows the change the gateway already serves (the monitor logs once the rollback is stored and reloaded).
        await EventuallyAsync(() => Task.FromResult(Gateway.Logs.Lines.Any(l => l.StartsWith("Warning", StringComparison.Ordinal) && l.Contains("rolled back: automatic rollback"))),
            TimeSpan.FromSeconds(5), "the rollback to be logged");
        Assert.Equal(Baseline, (await AskAsync("after")).Record.UpstreamModel);
    }

    [Fact]
    public async Task A_healthy_candidate_is_not_rolled_back()
    {
        Assert.Equal(HttpStatusCode.OK, (await StartAsync("primary", Candidate, 100)).Status);
        for (var i = 0; i < 5; i++) Assert.Equal(HttpStatusCode.OK, (await AskAsync($"healthy-{i}")).Response.StatusCode);

        using var admin = AdminByKey();
        await EventuallyAsync(async () => (await admin.GetAsync($"{Path}/primary")).Json?["candidate"]?["requests"]?.GetValue<long>() == 5,
            TimeSpan.FromSeconds(15), "the ledger to hold the 5 requests");
        await Task.Delay(600);   // three checks

        Assert.NotNull(Routing.CanaryOf("primary"));
    }
}
