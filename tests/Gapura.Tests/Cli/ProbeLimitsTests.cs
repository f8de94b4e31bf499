using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Api;
using Gapura.Cli;
using Gapura.Conversations;
using Gapura.Providers.Limits;
using Gapura.Simulators;
using Gapura.Simulators.Anthropic;
using Gapura.Simulators.Kiro;
using Gapura.Simulators.OpenAi;
using Gapura.Tests.Integration;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;

namespace Gapura.Tests.Cli;

/// <summary>
/// <c>gapura probe-limits</c> against simulators with known limits (tokens counted as words — not the gateway's estimate),
/// then a real gateway on the same database, to show the stored limits change what it does.
/// </summary>
public sealed class ProbeLimitsTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gapura-probe-").FullName;
    private KiroSimulator _kiro = null!;
    private AnthropicSimulator _anthropic = null!;
    private OpenAiSimulator _openAi = null!;

    private string Db => Path.Combine(_dir, "gapura.db");
    private string KiroLogin => Path.Combine(_dir, "kiro-auth-token.json");

    public async Task InitializeAsync()
    {
        _kiro = await KiroSimulator.StartAsync(new KiroSimulatorOptions
        {
            Split = KiroSplit.Whole,
            MaxBodyBytes = 64 * 1024 * 1024,
            Models =
            [
                new("auto", "Auto", "Models chosen by task", 200_000, 64_000),
                new("claude-sonnet-4.5", "Claude Sonnet 4.5", "Sonnet", 200_000, 64_000),
                new("claude-opus-4.6", "Claude Opus 4.6", "Opus", 200_000, 128_000),
            ],
            Limits = { ["claude-sonnet-4.5"] = new(200_000, 32_000), ["claude-opus-4.6"] = new(1_000_000, 64_000) },
        });
        await GatewayFixture.WriteKiroLoginAsync(_kiro, KiroLogin);
        var created = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        _anthropic = await AnthropicSimulator.StartAsync(new AnthropicSimulatorOptions
        {
            Split = AnthropicSplit.Whole,
            Models =
            [
                new("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", created, MaxOutputTokens: 32_000, ContextWindow: 200_000),
                new("claude-opus-4-6", "Claude Opus 4.6", created, MaxOutputTokens: 64_000, ContextWindow: 1_000_000),
            ],
        });
        _openAi = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions
        {
            Models = [new("gpt-4.1", Limits: new SimulatedLimits(200_000, 32_000))],
        });
    }

    public async Task DisposeAsync()
    {
        await _kiro.DisposeAsync();
        await _anthropic.DisposeAsync();
        await _openAi.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string[] KiroSettings =>
    [
        $"--Storage:Path={Db}",
        $"--Kiro:Endpoint={_kiro.BaseUrl}", $"--Kiro:AuthEndpoint={_kiro.BaseUrl}", $"--Kiro:OidcEndpoint={_kiro.BaseUrl}",
        $"--Kiro:CredentialsFile={KiroLogin}", "--Kiro:RetryBaseDelayMilliseconds=20",
    ];

    private string[] AnthropicSettings => [$"--Providers:Anthropic:ApiKey={_anthropic.ApiKey}", $"--Providers:Anthropic:BaseUrl={_anthropic.BaseUrl}"];

    private async Task<(int Code, string Out, string Err)> RunAsync(TextReader? input, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        ProbeLimitsCommand.ConfirmationInput.Value = input;
        try
        {
            var code = await GapuraCli.RunAsync([.. args, .. KiroSettings], output, error);
            return (code, output.ToString(), error.ToString());
        }
        finally
        {
            ProbeLimitsCommand.ConfirmationInput.Value = null;
        }
    }

    private static JsonObject Model(JsonNode json, string provider, string model)
        => json["models"]!.AsArray().Select(m => m!.AsObject()).Single(m => (string?)m["provider"] == provider && (string?)m["model"] == model);

    [Fact]
    public async Task All_kiro_models_are_found_within_the_precision_from_kiros_own_counts_auto_is_skipped_and_the_limits_survive_a_restart()
    {
        // The simulator counts a filler word as one token; the gateway's estimator does not, so a window found by
        // estimate would be far off the simulator's.
        var estimated = TokenEstimator.Count(LimitProber.Filler(10_000));
        Assert.NotInRange(estimated, 9_000, 11_000);

        var (code, output, error) = await RunAsync(null, "probe-limits", "--all-models", "--provider", "kiro", "--yes", "--json");

        Assert.True(code == 0, error);
        var json = JsonNode.Parse(output)!;
        var sonnet = Model(json, "kiro", "claude-sonnet-4.5");
        var opus = Model(json, "kiro", "claude-opus-4.6");
        // Never above the real window, at most the stated precision (1 %) below it.
        Assert.InRange((int)sonnet["context_window"]!, 198_000, 200_000);
        Assert.InRange((int)opus["context_window"]!, 990_000, 1_000_000);
        Assert.True((int)sonnet["context_refused_at"]! > 200_000 - 1);
        Assert.Equal(32_000, (int)sonnet["max_output_tokens"]!);
        Assert.Equal(64_000, (int)opus["max_output_tokens"]!);
        Assert.False((bool)sonnet["estimated"]!);
        // Kiro's context-usage percentage points straight at the window: calibration, two guesses, one output request.
        Assert.InRange((int)sonnet["requests"]!, 2, 6);
        Assert.InRange((int)opus["requests"]!, 2, 6);
        var skipped = Assert.Single(json["skipped"]!.AsArray());
        Assert.Equal("auto", (string?)skipped!["model"]);
        Assert.Contains("routing alias", (string?)skipped["reason"]);
        Assert.DoesNotContain(json["models"]!.AsArray(), m => (string?)m!["model"] == "auto");
        Assert.Contains("skipping kiro/auto: a routing alias", error);
        Assert.Contains("Roughly", error);
        Assert.Matches(@"Spent \d+ requests: [\d,]+ input and [\d,]+ output tokens", error);
        Assert.DoesNotContain(_kiro.ChatRequests, r => Encoding.UTF8.GetString(r.BodyBytes).Contains("\"modelId\":\"auto\"", StringComparison.Ordinal));

        // A new gateway on the same database lists the probed limits (the catalogs lay them over Kiro's own list).
        await using var gateway = await StartGatewayAsync(KiroSettings);
        using var http = Http(gateway);
        var models = await http.GetFromJsonAsync<JsonObject>("/v1/models");
        var listed = models!["data"]!.AsArray().Select(m => m!.AsObject()).Single(m => (string?)m["id"] is "claude-sonnet-4.5" or "kiro/claude-sonnet-4.5");
        Assert.Equal((int)sonnet["context_window"]!, (int)listed["context_window"]!);
        Assert.Equal(32_000, (int)listed["max_output_tokens"]!);
    }

    [Fact]
    public async Task A_stored_output_cap_clamps_max_tokens_and_a_stored_window_decides_what_the_gateway_refuses_before_the_upstream()
    {
        const string Sonnet = "claude-sonnet-4-5-20250929";
        const string Opus = "claude-opus-4-6";
        string[] settings = [.. KiroSettings, .. AnthropicSettings];
        var big = LongRequest(AnthropicOnly(Opus), 300_000); // 300k simulator tokens: inside opus' real 1M window, outside the 200k the built-in table says

        // Before probing, the gateway goes by the built-in table: sonnet may write 64k (the upstream refuses 50k), opus takes 200k.
        // This gateway keeps running through the probe: it must take the new limits from the change feed, without a restart.
        await using var running = await StartGatewayAsync(settings);
        {
            using var http = Http(running);
            var refusedByUpstream = await http.PostAsync("/v1/messages", Messages(AnthropicOnly(Sonnet), "Say hi.", 50_000));
            Assert.Equal(HttpStatusCode.BadRequest, refusedByUpstream.StatusCode);
            Assert.Contains("maximum allowed number of output tokens", await refusedByUpstream.Content.ReadAsStringAsync());
            var calls = _anthropic.MessageCalls;
            var refusedByGateway = await http.PostAsync("/v1/messages", big);
            Assert.Equal(HttpStatusCode.BadRequest, refusedByGateway.StatusCode);
            Assert.Equal(calls, _anthropic.MessageCalls);
        }

        foreach (var model in new[] { Sonnet, Opus })
        {
            var (code, output, error) = await RunAsync(null, ["probe-limits", "--model", model, "--provider", "anthropic", "--yes", "--json", .. AnthropicSettings]);
            Assert.True(code == 0, error);
            var result = Model(JsonNode.Parse(output)!, "anthropic", model);
            Assert.Equal(model == Sonnet ? 32_000 : 64_000, (int)result["max_output_tokens"]!); // Anthropic states its cap when it refuses: exact
            Assert.InRange((int)result["context_window"]!, model == Sonnet ? 198_000 : 990_000, model == Sonnet ? 200_000 : 1_000_000);
        }

        using (var http = Http(running))
        {
            var listed = 0;
            for (var until = DateTime.UtcNow.AddSeconds(15); DateTime.UtcNow < until && listed != 32_000; await Task.Delay(100))
            {
                var models = await http.GetFromJsonAsync<JsonObject>("/v1/models");
                listed = models!["data"]!.AsArray().Select(m => m!.AsObject())
                    .Where(m => (string?)m["id"] is Sonnet or "anthropic/" + Sonnet).Select(m => (int)m["max_output_tokens"]!).FirstOrDefault();
            }
            Assert.Equal(32_000, listed);
        }

        await using var after = await StartGatewayAsync(settings);
        using var client = Http(after);
        // max_tokens above the probed cap is clamped to it instead of being refused upstream.
        _anthropic.ClearRequests();
        var clamped = await client.PostAsync("/v1/messages", Messages(AnthropicOnly(Sonnet), "Say hi.", 50_000));
        Assert.Equal(HttpStatusCode.OK, clamped.StatusCode);
        var sent = JsonNode.Parse(Assert.Single(_anthropic.MessageRequests).BodyBytes)!;
        Assert.Equal(32_000, (int)sent["max_tokens"]!);
        // The probed 1M window lets the long conversation through to opus…
        var served = await client.PostAsync("/v1/messages", big);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        // …and a conversation over it gets the overflow error in Anthropic's shape, without reaching the upstream.
        var calls2 = _anthropic.MessageCalls;
        var tooLong = await client.PostAsync("/v1/messages", LongRequest(AnthropicOnly(Opus), 1_000_000, overEstimate: 1.3));
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        var body = JsonNode.Parse(await tooLong.Content.ReadAsStringAsync())!;
        Assert.Equal("error", (string?)body["type"]);
        Assert.Equal("invalid_request_error", (string?)body["error"]!["type"]);
        Assert.Contains("prompt is too long", (string?)body["error"]!["message"]);
        Assert.Equal(calls2, _anthropic.MessageCalls);
    }

    [Fact]
    public async Task An_openai_model_that_stops_at_its_cap_is_measured_from_the_reported_output()
    {
        var (code, output, error) = await RunAsync(null, ["probe-limits", "--model", "gpt-4.1", "--provider", "openai", "--yes", "--json",
            $"--Providers:OpenAI:ApiKey={OpenAiSimulatorOptions.DefaultApiKey}", $"--Providers:OpenAI:BaseUrl={_openAi.ApiBaseUrl}"]);

        Assert.True(code == 0, error);
        var result = Model(JsonNode.Parse(output)!, "openai", "gpt-4.1");
        Assert.InRange((int)result["context_window"]!, 198_000, 200_000);
        Assert.Equal(32_000, (int)result["max_output_tokens"]!);
    }

    [Fact]
    public async Task It_states_the_cost_and_asks_first_refuses_without_a_terminal_and_sends_nothing_when_declined()
    {
        var noTerminal = await RunAsync(null, "probe-limits", "--model", "claude-sonnet-4.5");
        Assert.Equal(CliExit.Usage, noTerminal.Code);
        Assert.Contains("Roughly", noTerminal.Err);
        Assert.Contains("error: probe-limits spends real tokens", noTerminal.Err);
        Assert.Contains("--yes", noTerminal.Err);
        Assert.Equal(0, _kiro.ChatCalls);

        var declined = await RunAsync(new StringReader("n\n"), "probe-limits", "--model", "claude-sonnet-4.5");
        Assert.Equal(CliExit.Refused, declined.Code);
        Assert.Contains("Go ahead? [y/N]", declined.Err);
        Assert.Contains("Nothing was sent.", declined.Err);
        Assert.Equal(0, _kiro.ChatCalls);

        var accepted = await RunAsync(new StringReader("y\n"), "probe-limits", "--model", "claude-sonnet-4-5");
        Assert.True(accepted.Code == 0, accepted.Err);
        Assert.Contains("kiro/claude-sonnet-4.5", accepted.Out);
        Assert.Contains("32,000", accepted.Out);
        Assert.Contains("context: ", accepted.Err); // progress, one line per request
        Assert.True(_kiro.ChatCalls > 0);
    }

    [Theory]
    [InlineData(new[] { "probe-limits" }, "give either --model MODEL or --all-models")]
    [InlineData(new[] { "probe-limits", "--model", "x", "--all-models" }, "give either --model MODEL or --all-models")]
    [InlineData(new[] { "probe-limits", "--all-models", "--precision", "50" }, "--precision must be a percentage from 0.1 to 10")]
    [InlineData(new[] { "probe-limits", "--all-models", "--provider", "nowhere" }, "no upstream named 'nowhere'")]
    public async Task Usage_errors_exit_2_with_one_line(string[] args, string message)
    {
        var (code, _, error) = await RunAsync(null, args);
        Assert.Equal(CliExit.Usage, code);
        // One line (a first run may also warn that it generated a secrets key).
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("error: ", StringComparison.Ordinal));
        Assert.Contains(message, line);
        Assert.Equal(0, _kiro.ChatCalls);
    }

    [Fact]
    public async Task Probing_a_routing_alias_by_name_is_refused_with_exit_1()
    {
        var (code, _, error) = await RunAsync(null, "probe-limits", "--model", "auto", "--yes");
        Assert.Equal(CliExit.Refused, code);
        Assert.Contains("kiro/auto is a routing alias", error);
        Assert.Equal(0, _kiro.ChatCalls);
    }

    /// <summary>Pinned to the Anthropic upstream: Kiro, configured beside it, offers the same family and comes first.</summary>
    private static string AnthropicOnly(string model) => "anthropic/" + model;

    private static StringContent Messages(string model, string text, int maxTokens)
        => new(new JsonObject
        {
            ["model"] = model,
            ["max_tokens"] = maxTokens,
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = text }),
        }.ToJsonString(), Encoding.UTF8, "application/json");

    /// <summary>
    /// A conversation of <paramref name="simulatorTokens"/> filler words; with <paramref name="overEstimate"/>, enough words
    /// that the gateway's own estimate is that share above <paramref name="simulatorTokens"/> (its check has a 10 % margin).
    /// </summary>
    private static StringContent LongRequest(string model, int simulatorTokens, double overEstimate = 0)
    {
        var words = simulatorTokens;
        if (overEstimate > 0)
        {
            var perWord = TokenEstimator.Count(LimitProber.Filler(10_000)) / 10_000.0;
            words = (int)(simulatorTokens * overEstimate / perWord);
        }
        return Messages(model, LimitProber.Filler(words) + "\n\nReply with OK.", 64);
    }

    private static HttpClient Http(WebApplication app)
    {
        var http = new HttpClient { BaseAddress = new Uri(app.Urls.First()), Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Add("x-api-key", GatewayFixture.ApiKey);
        return http;
    }

    private static async Task<WebApplication> StartGatewayAsync(string[] settings)
    {
        var app = GatewayHost.Build(["--urls=http://127.0.0.1:0", $"--Gateway:ApiKey={GatewayFixture.ApiKey}",
            $"--Gateway:AdminEmail={GatewayFixture.AdminEmail}", $"--Gateway:AdminPassword={GatewayFixture.AdminPassword}",
            "--Logging:LogLevel:Default=Warning", .. settings]);
        await app.StartAsync();
        return app;
    }
}
