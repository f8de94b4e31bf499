using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Formats.Anthropic;
using Gapura.Formats.OpenAi;
using Gapura.Providers.Bedrock;
using Gapura.Providers.Kiro;
using Gapura.Simulators.Bedrock;
using Gapura.Simulators.OpenAi;

namespace Gapura.Bench;

/// <summary>
/// Part 2: the gateway's added latency, for every provider. All upstream simulators run in one child process
/// and one real gateway, configured with every provider at once, in another; both on 127.0.0.1. At a fixed
/// concurrency the driver asks each simulator directly and asks the gateway for the same answer through each
/// case (a front door and a provider: translated, or passthrough when the door speaks the upstream's own
/// dialect), reading every body to its end. Short blocks of every target alternate round after round, each
/// provider's direct block next to its gateway blocks, so background load drifts over both sides alike and
/// every ratio comes from the same run. Gateway requests alternate the bootstrap key and an ordinary user's
/// key request by request, which gives the key comparison from the same load.
/// </summary>
internal sealed class LatencyBench(BenchSettings settings, Report report)
{
    /// <summary>What each simulator answers to every chat call: the recorded answer in its wire format, encoded once.</summary>
    public static readonly byte[] KiroAnswer = RecordedAnswer.Encode(RecordedAnswer.Frames(1000));
    public static readonly byte[] AnthropicAnswer = RecordedAnswer.AnthropicSse();
    public static readonly byte[] OpenAiAnswer = RecordedAnswer.OpenAiSse(OpenAiModelId);
    public static readonly byte[] CompatibleAnswer = RecordedAnswer.OpenAiSse(ServerRoles.CompatibleModel);
    public static readonly byte[] BedrockAnswer = RecordedAnswer.BedrockStream();
    public static readonly byte[] CopilotAnswer = RecordedAnswer.OpenAiSse(CopilotModelId);

    internal const string KiroModel = "claude-sonnet-4.5";
    private const string AnthropicModelId = "claude-sonnet-4-5-20250929";
    private const string OpenAiModelId = "gpt-4o";
    private const string BedrockModelId = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    private const string CopilotModelId = "gpt-4.1";
    private const string AnthropicVersion = "2023-06-01";
    private const int MaxTokens = 4096;

    private const string SystemPrompt = "You are a careful coding assistant. Answer briefly and run tools when needed.";
    private const string UserText = "The event-stream decoder spins when a read ends inside the prelude. Find the bug and run the tests.";
    private const string ToolDescription = "Runs a shell command and returns its output.";
    private const string ToolSchema = """{"type":"object","properties":{"command":{"type":"string"},"description":{"type":"string"},"timeout":{"type":"integer"}},"required":["command"]}""";

    private static readonly byte[] DoneTail = "data: [DONE]\n\n"u8.ToArray();
    private static readonly byte[] MessageStopTail = "\"message_stop\"}\n\n"u8.ToArray();

    /// <summary>The gateway's runtime settings (server GC, default thread pool), as <c>gapura</c> runs.</summary>
    private static string GapuraRuntimeConfig => Path.Combine(AppContext.BaseDirectory, "gapura.runtimeconfig.json");

    private static readonly Dictionary<string, string> ChildEnvironment = new() { ["DOTNET_ENVIRONMENT"] = "Production" };

    /// <summary>The same conversation at the OpenAI chat door: system + user message, one tool, streaming with usage.</summary>
    private static string OpenAiBody(string model) => new JsonObject
    {
        ["model"] = model,
        ["stream"] = true,
        ["stream_options"] = new JsonObject { ["include_usage"] = true },
        ["messages"] = new JsonArray
        {
            new JsonObject { ["role"] = "system", ["content"] = SystemPrompt },
            new JsonObject { ["role"] = "user", ["content"] = UserText },
        },
        ["tools"] = new JsonArray
        {
            new JsonObject
            {
                ["type"] = "function",
                ["function"] = new JsonObject { ["name"] = "Bash", ["description"] = ToolDescription, ["parameters"] = JsonNode.Parse(ToolSchema) },
            },
        },
    }.ToJsonString();

    /// <summary>The same conversation at the Anthropic messages door.</summary>
    private static string AnthropicBody(string model) => new JsonObject
    {
        ["model"] = model,
        ["max_tokens"] = MaxTokens,
        ["stream"] = true,
        ["system"] = SystemPrompt,
        ["messages"] = new JsonArray { new JsonObject { ["role"] = "user", ["content"] = UserText } },
        ["tools"] = new JsonArray { new JsonObject { ["name"] = "Bash", ["description"] = ToolDescription, ["input_schema"] = JsonNode.Parse(ToolSchema) } },
    }.ToJsonString();

    /// <summary>A gateway case: which door, which provider, and whether the body passes through untranslated.</summary>
    private sealed record Case(string Provider, bool Passthrough, string Door, Target Gateway)
    {
        public string Key => $"{Provider}_{(Passthrough ? "passthrough" : "translated")}";
    }

    /// <summary>One provider's simulator asked directly, and the gateway cases measured against it.</summary>
    private sealed record Group(string Provider, Target Direct, Case[] Cases);

    public async Task RunAsync()
    {
        var work = Directory.CreateTempSubdirectory("gapura-bench-");
        try
        {
            await RunAsync(work.FullName);
        }
        finally
        {
            try { work.Delete(recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private async Task RunAsync(string work)
    {
        var simCredentials = Path.Combine(work, "sim-login.json");
        var (sim, upstreams) = await StartSimulatorsAsync(work, simCredentials);
        await using var simScope = sim;
        await using var gateway = StartGateway("gateway", upstreams, simCredentials, work, settings.GatewaySettings);
        var (gatewayUrl, userKey) = await WaitGatewayAsync(gateway);
        report.Note($"simulators (kiro, anthropic, openai, compatible '{ServerRoles.CompatibleName}', bedrock, copilot; each a pre-encoded answer) in one child, gateway at {gatewayUrl} in another");

        var login = JsonNode.Parse(await File.ReadAllTextAsync(simCredentials))!;
        var keys = new[] { ServerRoles.GatewayApiKey, userKey };
        var copilot = await CopilotTokenAsync(upstreams);
        var groups = Groups(upstreams, (string)login["accessToken"]!, (string?)login["profileArn"], copilot, gatewayUrl, keys);
        var targets = groups.SelectMany(g => g.Cases.Select(c => c.Gateway).Prepend(g.Direct)).ToList();

        using var client = NewClient();
        foreach (var group in groups)
        {
            var sizes = new List<string> { $"direct {await group.Direct.ProbeAsync(client):N0} B" };
            foreach (var c in group.Cases) sizes.Add($"{c.Door} {await c.Gateway.ProbeAsync(client):N0} B");
            report.Note($"{group.Provider,-10} one answer: {string.Join(", ", sizes)}");
        }
        if (settings.GatewaySettings.Count > 0) report.Note("gateway settings: " + string.Join(", ", settings.GatewaySettings));
        report.Note($"concurrency {settings.Concurrency}; {settings.LoadRounds} rounds of {targets.Count} blocks × {settings.LoadBlockTime.TotalSeconds:0.##} s");

        // Warm-up: JIT tiering, connection pools, the gateway's model lists — every target, twice, with a pause
        // for quiet in between: tiered PGO promotes a hot method in steps, each compiled in the background and
        // then needing calls again, so a single pass left the first measured blocks paying for compilation.
        var cpu = new CpuMeter(sim, [gateway]);
        for (var pass = 0; pass < 2; pass++)
        {
            foreach (var target in targets) await RunBlockAsync(client, target, settings.LoadWarmup, null, null);
            await cpu.SettleAsync(TimeSpan.FromSeconds(settings.Quick ? 1 : 3));
        }

        var results = targets.ToDictionary(t => t, _ => new LoadResult());
        var started = Stopwatch.GetTimestamp();
        for (var round = 0; round < settings.LoadRounds; round++)
        {
            var settled = await cpu.SettleAsync(TimeSpan.FromSeconds(settings.Quick ? 0.5 : 1));
            // Forward, then backward: each gateway block runs before and after its direct block equally often.
            var order = round % 2 == 0 ? groups : groups.AsEnumerable().Reverse();
            foreach (var group in order)
            {
                var blocks = group.Cases.Select(c => c.Gateway).Prepend(group.Direct);
                if (round % 2 == 1) blocks = blocks.Reverse();
                foreach (var target in blocks) await RunBlockAsync(client, target, settings.LoadBlockTime, results[target], cpu);
            }
            var counts = string.Join(", ", targets.Select(t => string.Create(CultureInfo.InvariantCulture, $"{t.Name} {results[t].Requests:F0}")));
            report.Note(string.Create(CultureInfo.InvariantCulture,
                $"round {round + 1}/{settings.LoadRounds} done at {Stopwatch.GetElapsedTime(started).TotalSeconds:F0} s (waited {settled.TotalSeconds:F2} s for quiet); requests so far: {counts}"));
        }
        foreach (var r in results.Values) r.Seal();
        Publish(groups, results);
        PublishAuth(groups, results);
    }

    private static List<Group> Groups(Upstreams up, string kiroToken, string? profileArn, (string Api, string Token) copilot, string gatewayUrl, string[] keys)
    {
        Target OpenAiDoor(string name, string model, byte[]? passthroughAnswer) => OpenAiDoorTarget(name, gatewayUrl, keys, model, passthroughAnswer);
        Target AnthropicDoor(string name, string model, byte[]? passthroughAnswer) => AnthropicDoorTarget(name, gatewayUrl, keys, model, passthroughAnswer);
        Target Direct(string name, Func<HttpRequestMessage> request, byte[] answer) => new(name, [request], answer.Length, answer[^16..]);

        return
        [
            new("kiro", Direct("kiro direct", KiroDirect(up.Kiro, kiroToken, profileArn), KiroAnswer),
                [new("kiro", false, "openai chat", OpenAiDoor("kiro via openai door", "kiro/" + KiroModel, null))]),
            new("anthropic", Direct("anthropic direct", AnthropicDirect(up), AnthropicAnswer),
            [
                new("anthropic", false, "openai chat", OpenAiDoor("anthropic via openai door", "anthropic/claude-sonnet-4-5", null)),
                new("anthropic", true, "anthropic", AnthropicDoor("anthropic via anthropic door", "anthropic/claude-sonnet-4-5", AnthropicAnswer)),
            ]),
            new("openai", Direct("openai direct", OpenAiDirect(up.OpenAi, OpenAiSimulatorOptions.DefaultApiKey, OpenAiModelId), OpenAiAnswer),
            [
                new("openai", false, "anthropic", AnthropicDoor("openai via anthropic door", "openai/" + OpenAiModelId, null)),
                new("openai", true, "openai chat", OpenAiDoor("openai via openai door", "openai/" + OpenAiModelId, OpenAiAnswer)),
            ]),
            new("bedrock", Direct("bedrock direct", BedrockDirect(up.Bedrock), BedrockAnswer),
                [new("bedrock", false, "anthropic", AnthropicDoor("bedrock via anthropic door", "bedrock/claude-sonnet-4-5", null))]),
            new("copilot", Direct("copilot direct", CopilotDirect(copilot.Api, copilot.Token), CopilotAnswer),
            [
                new("copilot", false, "anthropic", AnthropicDoor("copilot via anthropic door", "copilot/" + CopilotModelId, null)),
                new("copilot", true, "openai chat", OpenAiDoor("copilot via openai door", "copilot/" + CopilotModelId, CopilotAnswer)),
            ]),
            new(ServerRoles.CompatibleName, Direct($"{ServerRoles.CompatibleName} direct", OpenAiDirect(up.Compatible, null, ServerRoles.CompatibleModel), CompatibleAnswer),
                [new(ServerRoles.CompatibleName, true, "openai chat", OpenAiDoor($"{ServerRoles.CompatibleName} via openai door", $"{ServerRoles.CompatibleName}/{ServerRoles.CompatibleModel}", CompatibleAnswer))]),
        ];
    }

    /// <summary>
    /// A gateway target at the OpenAI chat door, the keys taken in turn; a passthrough answer must be
    /// <paramref name="passthroughAnswer"/> byte for byte, a translated one end with <c>[DONE]</c>.
    /// </summary>
    internal static Target OpenAiDoorTarget(string name, string gatewayUrl, string[] keys, string model, byte[]? passthroughAnswer) => new(name,
        [.. keys.Select(k => GatewayOpenAi(gatewayUrl, k, OpenAiBody(model)))],
        passthroughAnswer?.Length, passthroughAnswer is null ? DoneTail : passthroughAnswer[^DoneTail.Length..]);

    /// <summary>The same at the Anthropic messages door (a translated answer ends with <c>message_stop</c>).</summary>
    internal static Target AnthropicDoorTarget(string name, string gatewayUrl, string[] keys, string model, byte[]? passthroughAnswer) => new(name,
        [.. keys.Select(k => GatewayAnthropic(gatewayUrl, k, AnthropicBody(model)))],
        passthroughAnswer?.Length, passthroughAnswer is null ? MessageStopTail : passthroughAnswer[^MessageStopTail.Length..]);

    /// <summary>
    /// The simulators' child, once it listens: every upstream, each with its pre-encoded answer. The Kiro login it
    /// issued is written to <paramref name="credentialsPath"/>.
    /// </summary>
    internal static async Task<(ChildProcess Sim, Upstreams Upstreams)> StartSimulatorsAsync(string work, string credentialsPath)
    {
        var sim = ChildProcess.Start("sim", ["--role", "sim", "--credentials", credentialsPath], ChildEnvironment, work);
        try
        {
            return (sim, Upstreams.Parse(await sim.WaitReadyAsync(TimeSpan.FromSeconds(60))));
        }
        catch
        {
            await sim.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// A gateway child with every provider pointed at its simulator, its database (and a copy of the Kiro login) in
    /// <paramref name="dataDirectory"/>, <paramref name="gatewaySettings"/> (<c>Key=Value</c>) applied last. It runs
    /// under gapura's own runtimeconfig.json (server GC, default thread pool), as <c>gapura</c> does; the simulators
    /// and this driver under the bench's (workstation GC, no thread-pool spinning).
    /// </summary>
    internal static ChildProcess StartGateway(string name, Upstreams upstreams, string simCredentials, string dataDirectory, IEnumerable<string> gatewaySettings)
    {
        var credentials = Path.Combine(dataDirectory, "kiro-auth-token.json");
        File.Copy(simCredentials, credentials);
        return ChildProcess.Start(name,
            ["--role", "gateway", "--upstreams", upstreams.ToString(), "--credentials", credentials, "--data", dataDirectory,
                "--settings", string.Join('\n', gatewaySettings)], ChildEnvironment, dataDirectory, GapuraRuntimeConfig);
    }

    /// <summary>The gateway's URL and the seeded user's key, once it is ready.</summary>
    internal static async Task<(string Url, string UserKey)> WaitGatewayAsync(ChildProcess gateway)
    {
        var url = await gateway.WaitReadyAsync(TimeSpan.FromSeconds(90));
        return (url, gateway.UserKey ?? throw new InvalidOperationException("the gateway child did not hand over the seeded user's API key"));
    }

    private void Publish(List<Group> groups, Dictionary<Target, LoadResult> results)
    {
        var table = report.Table(string.Create(CultureInfo.InvariantCulture,
            $"  {"gateway vs direct (added = gateway − direct)",-44} {"p50",8} {"p99",8} {"1st byte",9} {"throughput",11} {"gateway CPU",12} {"failures",9}\n" +
            $"  {"provider",-11} {"path",-12} {"door",-19} {"+ms",8} {"+ms",8} {"p50 +ms",9} {"gw/direct",11} {"ms/request",12} {"dir/gw",9}"));
        var detail = report.Table(string.Create(CultureInfo.InvariantCulture,
            $"  {"absolute figures per target",-32} {"p50 ms",8} {"p99 ms",8} {"1st p50",8} {"1st p99",8} {"req/s",8} {"requests",9} {"CPU ms/request: sim",20} {"gateway",8} {"driver",7}"));
        var passthrough = new List<string>();
        var all = groups.SelectMany(g => g.Cases.Select(c => c.Gateway).Prepend(g.Direct));
        foreach (var target in all)
        {
            var r = results[target];
            detail.Rows.Add(string.Create(CultureInfo.InvariantCulture,
                $"  {target.Name,-32} {r.LatencyP(50),8:F2} {r.LatencyP(99),8:F2} {r.TtfbP(50),8:F2} {r.TtfbP(99),8:F2} {r.RequestsPerSecond,8:F0} {r.Requests,9:F0} {r.SimCpuMsPerRequest,20:F3} {r.GatewayCpuMsPerRequest,8:F3} {r.DriverCpuMsPerRequest,7:F3}"));
        }
        foreach (var group in groups)
        {
            var direct = results[group.Direct];
            foreach (var c in group.Cases)
            {
                var gw = results[c.Gateway];
                var ratio = gw.RequestsPerSecond / direct.RequestsPerSecond;
                var path = c.Passthrough ? "passthrough" : "translated";
                table.Rows.Add(string.Create(CultureInfo.InvariantCulture,
                    $"  {c.Provider,-11} {path,-12} {c.Door,-19} {gw.LatencyP(50) - direct.LatencyP(50),8:+0.00;-0.00} {gw.LatencyP(99) - direct.LatencyP(99),8:+0.00;-0.00} " +
                    $"{gw.TtfbP(50) - direct.TtfbP(50),9:+0.00;-0.00} {"x" + ratio.ToString("F2", CultureInfo.InvariantCulture),11} {gw.GatewayCpuMsPerRequest,12:F3} {$"{direct.Errors}/{gw.Errors}",9}"));
                report.Machine($"{c.Key}_added_p50_ms", gw.LatencyP(50) - direct.LatencyP(50), "F3");
                report.Machine($"{c.Key}_added_p99_ms", gw.LatencyP(99) - direct.LatencyP(99), "F3");
                report.Machine($"{c.Key}_added_ttfb_p50_ms", gw.TtfbP(50) - direct.TtfbP(50), "F3");
                report.Machine($"{c.Key}_throughput_ratio", ratio, "F3");
                report.Machine($"{c.Key}_gateway_cpu_ms_per_req", gw.GatewayCpuMsPerRequest, "F3");
                report.Machine($"{c.Key}_errors", direct.Errors + gw.Errors, "F0");
                if (c.Passthrough)
                {
                    report.Machine($"passthrough_throughput_ratio_{c.Provider}", ratio, "F3");
                    passthrough.Add(string.Create(CultureInfo.InvariantCulture, $"{c.Provider} x{ratio:F2}"));
                }
                if (direct.Errors + gw.Errors > 0)
                    report.Note($"WARNING: {c.Key}: {direct.Errors} direct and {gw.Errors} gateway requests failed or were incomplete; first: {direct.FirstError ?? gw.FirstError}");
            }
        }
        table.Rows.Add("  passthrough throughput, gateway/direct (body and answer relayed as they are): " + string.Join(", ", passthrough));
        report.Machine("concurrency", settings.Concurrency, "F0");
    }

    /// <summary>
    /// Issue 3's figure, now from the same requests: every gateway request alternates the bootstrap key and an
    /// ordinary user's key, worker by worker, so both see the same load at the same moments. With the load
    /// closed (each worker waits for its answer), throughput follows mean latency: the ratio is
    /// mean(bootstrap) / mean(user).
    /// </summary>
    private void PublishAuth(List<Group> groups, Dictionary<Target, LoadResult> results)
    {
        var gateway = groups.SelectMany(g => g.Cases).Select(c => results[c.Gateway]).ToList();
        double Mean(int key) => gateway.Sum(r => r.LatencySum(key)) / gateway.Sum(r => r.Count(key));
        double Count(int key) => gateway.Sum(r => r.Count(key));
        var (boot, user) = (Mean(0), Mean(1));
        var table = report.Table(string.Create(CultureInfo.InvariantCulture,
            $"  {"gateway, authenticated with (alternating per request)",-54} {"bootstrap",10} {"user key",10} {"user/boot",10}"));
        table.Rows.Add(string.Create(CultureInfo.InvariantCulture, $"  {"requests (all gateway cases)",-54} {Count(0),10:F0} {Count(1),10:F0}"));
        table.Rows.Add(string.Create(CultureInfo.InvariantCulture, $"  {"mean full response, ms",-54} {boot,10:F3} {user,10:F3} {user - boot,10:+0.000;-0.000}"));
        table.Rows.Add(string.Create(CultureInfo.InvariantCulture, $"  {"throughput ratio = mean(boot)/mean(user) (target >= 0.95)",-54} {"",10} {"",10} {"x" + (boot / user).ToString("F3", CultureInfo.InvariantCulture),10}"));
        report.Machine("auth_bootstrap_key_mean_ms", boot, "F3");
        report.Machine("auth_user_key_mean_ms", user, "F3");
        report.Machine("auth_ratio_user_bootstrap", boot / user, "F3");
    }

    private Task RunBlockAsync(HttpClient client, Target target, TimeSpan duration, LoadResult? into, CpuMeter? cpu)
        => RunBlockAsync(client, target, duration, settings.Concurrency, settings.MaxRequestsPerBlock, into, cpu, null);

    /// <summary>
    /// One block: <paramref name="concurrency"/> workers, one request at a time each, for <paramref name="duration"/>
    /// (at most <paramref name="maxRequests"/>); the samples go <paramref name="into"/> (none for a warm-up) with the
    /// CPU the processes used meanwhile — <paramref name="gateway"/>'s, or the meter's first gateway's.
    /// </summary>
    internal static async Task RunBlockAsync(HttpClient client, Target target, TimeSpan duration, int concurrency, int maxRequests,
        LoadResult? into, CpuMeter? cpu, ChildProcess? gateway)
    {
        var before = cpu?.Read(gateway);
        var started = Stopwatch.GetTimestamp();
        var deadline = started + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var remaining = maxRequests;
        var workers = Enumerable.Range(0, concurrency).Select(worker => Task.Run(async () =>
        {
            var samples = new Samples();
            var buffers = new Buffers(new byte[64 * 1024], new byte[1024], new byte[Target.TailLength]);
            // Half the workers start with each variant (key), then every worker alternates request by request.
            var variant = worker;
            while (Stopwatch.GetTimestamp() < deadline && Interlocked.Decrement(ref remaining) >= 0)
                await target.SendAsync(client, variant++ % target.Variants, buffers, samples);
            return samples;
        })).ToArray();
        var results = await Task.WhenAll(workers);
        var elapsed = Stopwatch.GetElapsedTime(started);
        if (into is null) return;
        into.Add(results, elapsed);
        if (cpu is not null && before is { } b) into.AddCpu(cpu.Read(gateway) - b);
    }

    internal static HttpClient NewClient() => new(new SocketsHttpHandler
    {
        UseProxy = false,
        UseCookies = false,
        MaxConnectionsPerServer = 256,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        AutomaticDecompression = DecompressionMethods.All,   // as the gateway's own upstream clients
    })
    {
        Timeout = TimeSpan.FromSeconds(30),
    };

    private static HttpRequestMessage Post(string url, byte[] body, string contentType = "application/json")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        return request;
    }

    /// <summary>
    /// The Kiro body the gateway would send for the OpenAI request, built by the gateway's own builder, with the
    /// headers its Kiro client adds.
    /// </summary>
    private static Func<HttpRequestMessage> KiroDirect(string kiroUrl, string accessToken, string? profileArn)
    {
        using var doc = JsonDocument.Parse(OpenAiBody(KiroModel));
        var chat = OpenAiChatFrontDoor.Instance.ParseRequest(doc.RootElement) with { MaxTokens = 64_000 };
        var kiroOptions = new KiroOptions();
        var body = KiroRequestBuilder.Build(chat, KiroModel, 64_000, kiroOptions, profileArn, Guid.NewGuid().ToString()).Body.ToArray();
        var url = kiroUrl + "/generateAssistantResponse";
        return () =>
        {
            var request = Post(url, body);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
            request.Headers.TryAddWithoutValidation("x-amzn-codewhisperer-optout", "true");
            request.Headers.TryAddWithoutValidation("x-amzn-kiro-agent-mode", "vibe");
            request.Headers.TryAddWithoutValidation("amz-sdk-invocation-id", Guid.NewGuid().ToString());
            request.Headers.TryAddWithoutValidation("amz-sdk-request", "attempt=1; max=3");
            request.Headers.TryAddWithoutValidation("User-Agent", kiroOptions.UserAgent);
            return request;
        };
    }

    /// <summary>The Anthropic request of the same conversation, as the passthrough path sends it (the model resolved).</summary>
    private static Func<HttpRequestMessage> AnthropicDirect(Upstreams up)
    {
        var body = Encoding.UTF8.GetBytes(AnthropicBody(AnthropicModelId));
        var url = up.Anthropic + "/v1/messages";
        return () =>
        {
            var request = Post(url, body);
            request.Headers.TryAddWithoutValidation("x-api-key", up.AnthropicKey);
            request.Headers.TryAddWithoutValidation("anthropic-version", AnthropicVersion);
            return request;
        };
    }

    /// <summary>A Copilot token for the driver's direct calls, exchanged once as the gateway does for its own (the exchange is not measured).</summary>
    private static async Task<(string Api, string Token)> CopilotTokenAsync(Upstreams up)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, up.Copilot + Gapura.Providers.Copilot.CopilotTokenService.ExchangePath);
        request.Headers.TryAddWithoutValidation("Authorization", "token " + up.CopilotGitHubToken);
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        var answer = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        return (((string)answer["endpoints"]!["api"]!).TrimEnd('/'), (string)answer["token"]!);
    }

    /// <summary>The chat request the Copilot provider sends for the same conversation: its token and the editor headers it adds.</summary>
    private static Func<HttpRequestMessage> CopilotDirect(string apiUrl, string token)
    {
        var options = new Gapura.Providers.Copilot.CopilotOptions();
        var body = Encoding.UTF8.GetBytes(OpenAiBody(CopilotModelId));
        var url = apiUrl + "/chat/completions";
        return () =>
        {
            var request = Post(url, body);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            request.Headers.TryAddWithoutValidation("Editor-Version", options.EditorVersion);
            request.Headers.TryAddWithoutValidation("Editor-Plugin-Version", options.EditorPluginVersion);
            request.Headers.TryAddWithoutValidation("Copilot-Integration-Id", options.IntegrationId);
            request.Headers.TryAddWithoutValidation("User-Agent", options.UserAgent);
            request.Headers.TryAddWithoutValidation("Openai-Intent", "conversation-panel");
            request.Headers.TryAddWithoutValidation("X-Request-Id", Guid.NewGuid().ToString());
            request.Headers.TryAddWithoutValidation("X-Initiator", "user");
            return request;
        };
    }

    /// <summary>The OpenAI chat request of the same conversation (a compatible server takes no key).</summary>
    private static Func<HttpRequestMessage> OpenAiDirect(string apiBaseUrl, string? apiKey, string model)
    {
        var body = Encoding.UTF8.GetBytes(OpenAiBody(model));
        var url = apiBaseUrl + "/chat/completions";
        return () =>
        {
            var request = Post(url, body);
            if (apiKey is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
            return request;
        };
    }

    /// <summary>
    /// The ConverseStream body the gateway builds for the Anthropic request (its own builder), signed with SigV4 for
    /// every request as the gateway signs it.
    /// </summary>
    private static Func<HttpRequestMessage> BedrockDirect(string bedrockUrl)
    {
        using var doc = JsonDocument.Parse(AnthropicBody(BedrockModelId));
        var chat = AnthropicMessagesFrontDoor.Instance.ParseRequest(doc.RootElement);
        var body = BedrockRequestBuilder.Build(chat, MaxTokens, new BedrockOptions { Region = ServerRoles.BedrockRegion });
        var credentials = new AwsCredentials(BedrockSimulatorOptions.TestAccessKeyId, BedrockSimulatorOptions.TestSecretAccessKey);
        var url = $"{bedrockUrl}/model/{Uri.EscapeDataString(BedrockModelId)}/converse-stream";
        return () =>
        {
            var request = Post(url, body);
            request.Headers.Accept.ParseAdd("application/vnd.amazon.eventstream");
            SigV4Signer.Sign(request, body, credentials, ServerRoles.BedrockRegion, BedrockClient.Service, DateTimeOffset.UtcNow);
            return request;
        };
    }

    private static Func<HttpRequestMessage> GatewayOpenAi(string gatewayUrl, string apiKey, string json)
    {
        var body = Encoding.UTF8.GetBytes(json);
        var url = gatewayUrl + "/v1/chat/completions";
        return () =>
        {
            var request = Post(url, body);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            return request;
        };
    }

    private static Func<HttpRequestMessage> GatewayAnthropic(string gatewayUrl, string apiKey, string json)
    {
        var body = Encoding.UTF8.GetBytes(json);
        var url = gatewayUrl + "/v1/messages";
        return () =>
        {
            var request = Post(url, body);
            request.Headers.TryAddWithoutValidation("x-api-key", apiKey);
            request.Headers.TryAddWithoutValidation("anthropic-version", AnthropicVersion);
            return request;
        };
    }

    /// <summary>
    /// One way of asking for the answer — in one or more variants (the gateway's two keys), taken in turn — and
    /// how to tell a complete body: its exact length when known (a simulator's answer, or a passthrough relay,
    /// which must be the simulator's bytes unchanged) and how it ends.
    /// </summary>
    internal sealed class Target(string name, Func<HttpRequestMessage>[] newRequest, long? exactLength, byte[] ending)
    {
        public const int TailLength = 32;

        private long _sent;

        public string Name => name;

        public int Variants => newRequest.Length;

        /// <summary>Requests sent so far, probes and warm-ups included: what the server's own counts must show.</summary>
        public long Sent => Interlocked.Read(ref _sent);

        /// <summary>One checked request of each variant before the load; returns the body size. <paramref name="inspect"/> sees each answer's headers.</summary>
        public async Task<long> ProbeAsync(HttpClient client, Action<HttpResponseMessage>? inspect = null)
        {
            long size = 0;
            foreach (var create in newRequest)
            {
                using var request = create();
                Interlocked.Increment(ref _sent);
                using var response = await client.SendAsync(request);
                inspect?.Invoke(response);
                var body = await response.Content.ReadAsByteArrayAsync();
                if (response.StatusCode != HttpStatusCode.OK || !Complete(body.Length, body.AsSpan(Math.Max(0, body.Length - TailLength))))
                    throw new InvalidOperationException($"{name}: HTTP {(int)response.StatusCode}, {body.Length} bytes (expected {exactLength?.ToString(CultureInfo.InvariantCulture) ?? "any"}): {Encoding.UTF8.GetString(body.AsSpan(0, Math.Min(body.Length, 600)))}");
                size = body.Length;
            }
            return size;
        }

        public async Task SendAsync(HttpClient client, int variant, Buffers buffers, Samples samples)
        {
            var started = Stopwatch.GetTimestamp();
            long firstByte = 0, total = 0;
            int headLength = 0;
            var (buffer, head, tail) = (buffers.Read, buffers.Head, buffers.Tail);
            try
            {
                using var request = newRequest[variant]();
                Interlocked.Increment(ref _sent);
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
                await using var stream = await response.Content.ReadAsStreamAsync();
                int read;
                while ((read = await stream.ReadAsync(buffer)) > 0)
                {
                    if (firstByte == 0) firstByte = Stopwatch.GetTimestamp();
                    var chunk = buffer.AsSpan(0, read);
                    total += read;
                    // Keep the first bytes (for an error report) and the last (to check the ending) without holding the body.
                    if (headLength < head.Length)
                    {
                        var n = Math.Min(read, head.Length - headLength);
                        chunk[..n].CopyTo(head.AsSpan(headLength));
                        headLength += n;
                    }
                    if (read >= tail.Length) chunk[^tail.Length..].CopyTo(tail);
                    else
                    {
                        tail.AsSpan(read).CopyTo(tail);
                        chunk.CopyTo(tail.AsSpan(tail.Length - read));
                    }
                }
                var end = Stopwatch.GetTimestamp();
                var kept = tail.AsSpan((int)Math.Max(0, tail.Length - total));
                if (response.StatusCode != HttpStatusCode.OK || !Complete(total, kept))
                {
                    samples.Error($"{name}: HTTP {(int)response.StatusCode}, {total} bytes, starting: {Encoding.UTF8.GetString(head, 0, headLength)}, ending: {Encoding.UTF8.GetString(kept)}");
                    return;
                }
                samples.Add(variant, Ms(started, end), Ms(started, firstByte));
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
            {
                samples.Error($"{name}: {e.GetType().Name}: {e.Message}");
            }
        }

        private bool Complete(long total, ReadOnlySpan<byte> tail)
            => (exactLength is null || total == exactLength) && tail.EndsWith(ending);

        private static double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;
    }

    /// <summary>One worker's reusable buffers: reads, the start of the current body, its last bytes.</summary>
    internal sealed record Buffers(byte[] Read, byte[] Head, byte[] Tail);

    /// <summary>
    /// CPU time of the simulators, a gateway and this driver, read around each measured block. With several gateway
    /// children, a block reads the one it loads (the others are idle meanwhile); the first by default.
    /// </summary>
    internal sealed class CpuMeter(ChildProcess sim, IReadOnlyList<ChildProcess> gateways)
    {
        public CpuSample Read(ChildProcess? gateway = null)
        {
            var g = gateway ?? gateways[0];
            return new(sim.CpuTime, g.CpuTime, Process.GetCurrentProcess().TotalProcessorTime, g.JitCpuTime);
        }

        /// <summary>
        /// Waits (at most <paramref name="limit"/>) until no child uses more than 10 % of a core: tiered JIT
        /// keeps recompiling hot methods in the background for a while after load starts, and on a 2-core machine
        /// that would be charged to whichever block runs next.
        /// </summary>
        public async Task<TimeSpan> SettleAsync(TimeSpan limit)
        {
            var started = Stopwatch.GetTimestamp();
            var step = TimeSpan.FromMilliseconds(200);
            while (Stopwatch.GetElapsedTime(started) < limit)
            {
                var before = Busy();
                await Task.Delay(step);
                var after = Busy();
                if (after.Zip(before, (a, b) => a - b).All(used => used < step / 10)) break;
            }
            return Stopwatch.GetElapsedTime(started);
        }

        private TimeSpan[] Busy() => [sim.CpuTime, .. gateways.Select(g => g.CpuTime)];
    }
}

/// <param name="GatewayJit">The part of <paramref name="Gateway"/> spent by its background (tiered) JIT thread.</param>
internal readonly record struct CpuSample(TimeSpan Simulator, TimeSpan Gateway, TimeSpan Driver, TimeSpan GatewayJit)
{
    public static CpuSample operator -(CpuSample a, CpuSample b)
        => new(a.Simulator - b.Simulator, a.Gateway - b.Gateway, a.Driver - b.Driver, a.GatewayJit - b.GatewayJit);

    public static CpuSample operator +(CpuSample a, CpuSample b)
        => new(a.Simulator + b.Simulator, a.Gateway + b.Gateway, a.Driver + b.Driver, a.GatewayJit + b.GatewayJit);
}

/// <summary>One worker's measurements; <c>Variant</c> says which way of asking (which key) each one used.</summary>
internal sealed class Samples
{
    public List<double> Latency { get; } = [];
    public List<double> Ttfb { get; } = [];
    public List<int> Variant { get; } = [];
    public int Errors { get; private set; }
    public string? FirstError { get; private set; }

    public void Add(int variant, double latencyMs, double ttfbMs)
    {
        Variant.Add(variant);
        Latency.Add(latencyMs);
        Ttfb.Add(ttfbMs);
    }

    public void Error(string message)
    {
        Errors++;
        FirstError ??= message;
    }
}

/// <summary>All measured blocks of one target.</summary>
internal sealed class LoadResult
{
    private readonly List<double> _latency = [];
    private readonly List<double> _ttfb = [];
    private readonly List<int> _variant = [];
    private double[] _sortedLatency = [];
    private double[] _sortedTtfb = [];
    private TimeSpan _elapsed;
    private CpuSample _cpu;

    public double Requests => _latency.Count;
    public int Errors { get; private set; }
    public string? FirstError { get; private set; }

    public double RequestsPerSecond => _latency.Count / _elapsed.TotalSeconds;
    public double SimCpuMsPerRequest => _cpu.Simulator.TotalMilliseconds / _latency.Count;
    public double GatewayCpuMsPerRequest => _cpu.Gateway.TotalMilliseconds / _latency.Count;
    public double DriverCpuMsPerRequest => _cpu.Driver.TotalMilliseconds / _latency.Count;
    public double GatewayJitMsPerRequest => _cpu.GatewayJit.TotalMilliseconds / _latency.Count;

    public void Add(Samples[] workers, TimeSpan elapsed)
    {
        foreach (var w in workers)
        {
            _latency.AddRange(w.Latency);
            _ttfb.AddRange(w.Ttfb);
            _variant.AddRange(w.Variant);
            Errors += w.Errors;
            FirstError ??= w.FirstError;
        }
        _elapsed += elapsed;
    }

    public void AddCpu(CpuSample delta) => _cpu += delta;

    public void Seal()
    {
        _sortedLatency = [.. _latency.Order()];
        _sortedTtfb = [.. _ttfb.Order()];
    }

    public double LatencyP(double p) => Stats.Percentile(_sortedLatency, p);
    public double TtfbP(double p) => Stats.Percentile(_sortedTtfb, p);

    /// <summary>Requests of one variant, and the sum of their full-response times.</summary>
    public double Count(int variant) => _variant.Count(v => v == variant);
    public double LatencySum(int variant) => _latency.Where((_, i) => _variant[i] == variant).Sum();
}
