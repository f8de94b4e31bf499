using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Formats.OpenAi;
using Gapura.Providers.Kiro;

namespace Gapura.Bench;

/// <summary>
/// Part 2: the gateway's added latency. The Kiro simulator and a real gateway run as child processes on
/// 127.0.0.1; at a fixed concurrency the driver sends (a) Kiro <c>generateAssistantResponse</c> calls to the
/// simulator directly and (b) the equivalent OpenAI streaming chat call through the gateway, reading every
/// body to its end — once with the bootstrap key (<c>Gateway:ApiKey</c>, the admin's) and once with an
/// ordinary user's API key, so authentication's two paths are compared too. The three alternate in blocks
/// so that background load drifts over all alike.
/// </summary>
internal sealed class LatencyBench(BenchSettings settings, Report report)
{
    /// <summary>What the simulator answers to every chat call (the recorded answer, encoded once).</summary>
    public static readonly byte[] UpstreamAnswer = RecordedAnswer.Encode(RecordedAnswer.Frames(1000));

    private const string Model = "claude-sonnet-4.5";

    private static readonly string OpenAiBody = new JsonObject
    {
        ["model"] = Model,
        ["stream"] = true,
        ["stream_options"] = new JsonObject { ["include_usage"] = true },
        ["messages"] = new JsonArray
        {
            new JsonObject { ["role"] = "system", ["content"] = "You are a careful coding assistant. Answer briefly and run tools when needed." },
            new JsonObject { ["role"] = "user", ["content"] = "The event-stream decoder spins when a read ends inside the prelude. Find the bug and run the tests." },
        },
        ["tools"] = new JsonArray
        {
            new JsonObject
            {
                ["type"] = "function",
                ["function"] = new JsonObject
                {
                    ["name"] = "Bash",
                    ["description"] = "Runs a shell command and returns its output.",
                    ["parameters"] = JsonNode.Parse("""{"type":"object","properties":{"command":{"type":"string"},"description":{"type":"string"},"timeout":{"type":"integer"}},"required":["command"]}"""),
                },
            },
        },
    }.ToJsonString();

    private static readonly byte[] DoneTail = "data: [DONE]\n\n"u8.ToArray();

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
        var environment = new Dictionary<string, string> { ["DOTNET_ENVIRONMENT"] = "Production" };
        await using var sim = ChildProcess.Start("sim", ["--role", "sim", "--credentials", simCredentials], environment, work);
        var simUrl = await sim.WaitReadyAsync(TimeSpan.FromSeconds(60));

        var gatewayCredentials = Path.Combine(work, "kiro-auth-token.json");
        File.Copy(simCredentials, gatewayCredentials);
        // The gateway runs under gapura's own runtimeconfig.json (server GC, default thread pool), as `gapura` does;
        // the simulator and this driver under the bench's (workstation GC, no thread-pool spinning).
        var gapuraRuntimeConfig = Path.Combine(AppContext.BaseDirectory, "gapura.runtimeconfig.json");
        await using var gateway = ChildProcess.Start("gateway",
            ["--role", "gateway", "--sim", simUrl, "--credentials", gatewayCredentials, "--data", work], environment, work, gapuraRuntimeConfig);
        var gatewayUrl = await gateway.WaitReadyAsync(TimeSpan.FromSeconds(60));
        var userKey = gateway.UserKey ?? throw new InvalidOperationException("the gateway child did not hand over the seeded user's API key");
        report.Note($"simulator at {simUrl} (Split=Whole, one pre-encoded answer), gateway at {gatewayUrl}, both child processes");

        var login = JsonNode.Parse(await File.ReadAllTextAsync(simCredentials))!;
        var direct = new Target("direct", DirectRequest(simUrl, (string)login["accessToken"]!, (string?)login["profileArn"]), body => body.Length == UpstreamAnswer.Length);
        var viaGateway = new Target("gateway", GatewayRequest(gatewayUrl, ServerRoles.GatewayApiKey), body => body.AsSpan().EndsWith(DoneTail));
        var viaUserKey = new Target("user key", GatewayRequest(gatewayUrl, userKey), body => body.AsSpan().EndsWith(DoneTail));

        using var directClient = NewClient();
        using var gatewayClient = NewClient();
        var directBytes = await direct.ProbeAsync(directClient);
        var gatewayBytes = await viaGateway.ProbeAsync(gatewayClient);
        await viaUserKey.ProbeAsync(gatewayClient);
        report.Note($"one answer: direct {directBytes:N0} B of event stream; gateway {gatewayBytes:N0} B of OpenAI SSE; concurrency {settings.Concurrency}");

        // Warm-up: JIT tiering, connection pools, the gateway's model list. Most of it goes to the gateway, in
        // slices alternating the two keys, with a pause for quiet halfway: tiered PGO promotes a hot method in
        // steps, each compiled in the background and then needing calls again, so one long slice left the first
        // measured gateway block still paying for compilation (about 1.7× its later CPU per request).
        var cpu = new CpuMeter(sim, gateway);
        await RunBlockAsync(directClient, direct, settings.LoadWarmup / 4, null);
        for (var slice = 0; slice < 4; slice++)
        {
            if (slice == 2) await cpu.SettleAsync(TimeSpan.FromSeconds(3));
            await RunBlockAsync(gatewayClient, slice % 2 == 0 ? viaGateway : viaUserKey, settings.LoadWarmup * 3 / 16, null);
        }

        var directResult = new LoadResult();
        var gatewayResult = new LoadResult();
        var userKeyResult = new LoadResult();
        for (var block = 0; block < settings.LoadBlocks; block++)
        {
            // Alternate the order too — D G U, U G D, … — so each target runs before and after each other
            // target equally often; the bootstrap-key blocks are the gateway figures of the main table.
            var round = new (Target Target, HttpClient Client, LoadResult Into)[]
            {
                (direct, directClient, directResult),
                (viaGateway, gatewayClient, gatewayResult),
                (viaUserKey, gatewayClient, userKeyResult),
            };
            if (block % 2 == 1) Array.Reverse(round);
            foreach (var (target, client, into) in round) await RunBlockAsync(client, target, settings.LoadBlockTime, into, cpu);
            report.Note($"block {block + 1}/{settings.LoadBlocks}: direct {directResult.Requests} req, gateway {gatewayResult.Requests} req, user key {userKeyResult.Requests} req so far");
        }
        directResult.Seal();
        gatewayResult.Seal();
        userKeyResult.Seal();
        Publish(directResult, gatewayResult);
        PublishAuth(gatewayResult, userKeyResult);
    }

    private void Publish(LoadResult direct, LoadResult gateway)
    {
        var table = report.Table("gateway vs direct (loopback)", "direct", "gateway", "added");
        table.Row("full response p50", direct, gateway, "ms", r => r.LatencyP(50), "F2");
        table.Row("full response p99", direct, gateway, "ms", r => r.LatencyP(99), "F2");
        table.Row("first body byte p50", direct, gateway, "ms", r => r.TtfbP(50), "F2");
        table.Row("first body byte p99", direct, gateway, "ms", r => r.TtfbP(99), "F2");
        table.Row("throughput", direct, gateway, "req/s", r => r.RequestsPerSecond, "F0");
        table.Row("CPU per request: simulator", direct, gateway, "ms", r => r.SimCpuMsPerRequest, "F3");
        table.Row("CPU per request: gateway", direct, gateway, "ms", r => r.GatewayCpuMsPerRequest, "F3");
        table.Row("CPU per request: client (driver)", direct, gateway, "ms", r => r.DriverCpuMsPerRequest, "F3");
        table.Row("requests measured", direct, gateway, "req", r => r.Requests, "F0");
        table.Row("failed or incomplete", direct, gateway, "req", r => r.Errors, "F0");
        foreach (var (name, r) in new[] { ("direct", direct), ("gateway", gateway) })
        {
            report.Machine($"{name}_p50_ms", r.LatencyP(50), "F3");
            report.Machine($"{name}_p99_ms", r.LatencyP(99), "F3");
            report.Machine($"{name}_ttfb_p50_ms", r.TtfbP(50), "F3");
            report.Machine($"{name}_ttfb_p99_ms", r.TtfbP(99), "F3");
            report.Machine($"{name}_rps", r.RequestsPerSecond, "F1");
            report.Machine($"{name}_requests", r.Requests, "F0");
            report.Machine($"{name}_errors", r.Errors, "F0");
        }
        report.Machine("added_p50_ms", gateway.LatencyP(50) - direct.LatencyP(50), "F3");
        report.Machine("added_p99_ms", gateway.LatencyP(99) - direct.LatencyP(99), "F3");
        report.Machine("added_ttfb_p50_ms", gateway.TtfbP(50) - direct.TtfbP(50), "F3");
        report.Machine("added_ttfb_p99_ms", gateway.TtfbP(99) - direct.TtfbP(99), "F3");
        report.Machine("throughput_ratio_gateway_direct", gateway.RequestsPerSecond / direct.RequestsPerSecond, "F3");
        report.Machine("gateway_cpu_ms_per_req", gateway.GatewayCpuMsPerRequest, "F3");
        report.Machine("concurrency", settings.Concurrency, "F0");
        if (direct.Errors + gateway.Errors > 0)
            report.Note($"WARNING: {direct.Errors} direct and {gateway.Errors} gateway requests failed or were incomplete; first: {direct.FirstError ?? gateway.FirstError}");
    }

    /// <summary>
    /// Issue 3's figure: requests per second with an ordinary user's key against the bootstrap key, both
    /// answered from the in-memory key index; the per-user key also records its last-used time in memory.
    /// </summary>
    private void PublishAuth(LoadResult bootstrap, LoadResult user)
    {
        var table = report.Table("gateway, authenticated with", "bootstrap", "user key", "user/boot");
        table.Row("throughput (target ratio >= 0.95)", bootstrap, user, "req/s", r => r.RequestsPerSecond, "F0");
        table.Row("full response p50", bootstrap, user, "ms", r => r.LatencyP(50), "F2");
        table.Row("full response p99", bootstrap, user, "ms", r => r.LatencyP(99), "F2");
        table.Row("CPU per request: gateway", bootstrap, user, "ms", r => r.GatewayCpuMsPerRequest, "F3");
        table.Row("requests measured", bootstrap, user, "req", r => r.Requests, "F0");
        table.Row("failed or incomplete", bootstrap, user, "req", r => r.Errors, "F0");
        report.Machine("auth_user_key_rps", user.RequestsPerSecond, "F1");
        report.Machine("auth_bootstrap_key_rps", bootstrap.RequestsPerSecond, "F1");
        report.Machine("auth_ratio_user_bootstrap", user.RequestsPerSecond / bootstrap.RequestsPerSecond, "F3");
        report.Machine("auth_user_key_p50_ms", user.LatencyP(50), "F3");
        report.Machine("auth_user_key_errors", user.Errors, "F0");
        if (user.Errors > 0) report.Note($"WARNING: {user.Errors} user-key requests failed or were incomplete; first: {user.FirstError}");
    }

    private async Task RunBlockAsync(HttpClient client, Target target, TimeSpan duration, LoadResult? into, CpuMeter? cpu = null)
    {
        var settled = cpu is null ? TimeSpan.Zero : await cpu.SettleAsync(TimeSpan.FromSeconds(settings.Quick ? 2 : 3));
        var before = cpu?.Read();
        var started = Stopwatch.GetTimestamp();
        var deadline = started + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var remaining = settings.MaxRequestsPerBlock;
        var workers = Enumerable.Range(0, settings.Concurrency).Select(_ => Task.Run(async () =>
        {
            var samples = new Samples();
            var buffers = new Buffers(new byte[64 * 1024], new byte[1024], new byte[DoneTail.Length]);
            while (Stopwatch.GetTimestamp() < deadline && Interlocked.Decrement(ref remaining) >= 0)
                await target.SendAsync(client, buffers, samples);
            return samples;
        })).ToArray();
        var results = await Task.WhenAll(workers);
        var elapsed = Stopwatch.GetElapsedTime(started);
        if (into is null) return;
        into.Add(results, elapsed);
        if (cpu is not null && before is { } b)
        {
            var used = cpu.Read() - b;
            into.AddCpu(used);
            report.Note(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"  {target.Name,-8} {elapsed.TotalSeconds:F1} s: {results.Sum(r => r.Latency.Count),6} req; CPU s: sim {used.Simulator.TotalSeconds:F2}, gateway {used.Gateway.TotalSeconds:F2}, driver {used.Driver.TotalSeconds:F2} (waited {settled.TotalSeconds:F2} s for quiet)"));
        }
    }

    private static HttpClient NewClient() => new(new SocketsHttpHandler
    {
        UseProxy = false,
        UseCookies = false,
        MaxConnectionsPerServer = 256,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        AutomaticDecompression = DecompressionMethods.All,   // as the gateway's own Kiro client
    })
    {
        Timeout = TimeSpan.FromSeconds(30),
    };

    /// <summary>
    /// The Kiro body the gateway would send for <see cref="OpenAiBody"/>, built by the gateway's own
    /// builder, with the headers its Kiro client adds.
    /// </summary>
    private static Func<HttpRequestMessage> DirectRequest(string simUrl, string accessToken, string? profileArn)
    {
        using var doc = JsonDocument.Parse(OpenAiBody);
        var chat = OpenAiChatFrontDoor.Instance.ParseRequest(doc.RootElement) with { MaxTokens = 64_000 };
        var kiroOptions = new KiroOptions();
        var body = KiroRequestBuilder.Build(chat, Model, 64_000, kiroOptions, profileArn, Guid.NewGuid().ToString()).Body.ToArray();
        var uri = new Uri(simUrl + "/generateAssistantResponse");
        return () =>
        {
            var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", accessToken);
            request.Headers.TryAddWithoutValidation("x-amzn-codewhisperer-optout", "true");
            request.Headers.TryAddWithoutValidation("x-amzn-kiro-agent-mode", "vibe");
            request.Headers.TryAddWithoutValidation("amz-sdk-invocation-id", Guid.NewGuid().ToString());
            request.Headers.TryAddWithoutValidation("amz-sdk-request", "attempt=1; max=3");
            request.Headers.TryAddWithoutValidation("User-Agent", kiroOptions.UserAgent);
            return request;
        };
    }

    private static Func<HttpRequestMessage> GatewayRequest(string gatewayUrl, string apiKey)
    {
        var body = Encoding.UTF8.GetBytes(OpenAiBody);
        var uri = new Uri(gatewayUrl + "/v1/chat/completions");
        return () =>
        {
            var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            return request;
        };
    }

    /// <summary>One way of asking for the answer, and how to tell a complete body.</summary>
    private sealed class Target(string name, Func<HttpRequestMessage> newRequest, Func<byte[], bool> isComplete)
    {
        public string Name => name;

        /// <summary>One checked request before the load; returns the body size.</summary>
        public async Task<long> ProbeAsync(HttpClient client)
        {
            using var request = newRequest();
            using var response = await client.SendAsync(request);
            var body = await response.Content.ReadAsByteArrayAsync();
            if (response.StatusCode != HttpStatusCode.OK || !isComplete(body))
                throw new InvalidOperationException($"{name}: HTTP {(int)response.StatusCode}, {body.Length} bytes: {Encoding.UTF8.GetString(body.AsSpan(0, Math.Min(body.Length, 600)))}");
            return body.Length;
        }

        public async Task SendAsync(HttpClient client, Buffers buffers, Samples samples)
        {
            var started = Stopwatch.GetTimestamp();
            long firstByte = 0, total = 0;
            int headLength = 0;
            var (buffer, head, tail) = (buffers.Read, buffers.Head, buffers.Tail);
            try
            {
                using var request = newRequest();
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
                if (response.StatusCode != HttpStatusCode.OK || !Complete(total, tail))
                {
                    samples.Error($"{name}: HTTP {(int)response.StatusCode}, {total} bytes, starting: {Encoding.UTF8.GetString(head, 0, headLength)}, ending: {Encoding.UTF8.GetString(tail)}");
                    return;
                }
                samples.Add(Ms(started, end), Ms(started, firstByte));
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
            {
                samples.Error($"{name}: {e.GetType().Name}: {e.Message}");
            }
        }

        private bool Complete(long total, byte[] tail)
            => name == "direct" ? total == UpstreamAnswer.Length : tail.AsSpan().SequenceEqual(DoneTail);

        private static double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;
    }

    /// <summary>One worker's reusable buffers: reads, the start of the current body, its last bytes.</summary>
    private sealed record Buffers(byte[] Read, byte[] Head, byte[] Tail);

    /// <summary>CPU time of the three processes, read around each measured block.</summary>
    private sealed class CpuMeter(ChildProcess sim, ChildProcess gateway)
    {
        public CpuSample Read() => new(sim.CpuTime, gateway.CpuTime, Process.GetCurrentProcess().TotalProcessorTime);

        /// <summary>
        /// Waits (at most <paramref name="limit"/>) until neither child uses more than 10 % of a core: tiered JIT
        /// keeps recompiling hot methods in the background for a while after load starts, and on a 2-core machine
        /// that would be charged to whichever block runs next.
        /// </summary>
        public async Task<TimeSpan> SettleAsync(TimeSpan limit)
        {
            var started = Stopwatch.GetTimestamp();
            var step = TimeSpan.FromMilliseconds(200);
            while (Stopwatch.GetElapsedTime(started) < limit)
            {
                var before = Read();
                await Task.Delay(step);
                var used = Read() - before;
                if (used.Simulator < step / 10 && used.Gateway < step / 10) break;
            }
            return Stopwatch.GetElapsedTime(started);
        }
    }
}

internal readonly record struct CpuSample(TimeSpan Simulator, TimeSpan Gateway, TimeSpan Driver)
{
    public static CpuSample operator -(CpuSample a, CpuSample b) => new(a.Simulator - b.Simulator, a.Gateway - b.Gateway, a.Driver - b.Driver);
}

/// <summary>One worker's measurements.</summary>
internal sealed class Samples
{
    public List<double> Latency { get; } = [];
    public List<double> Ttfb { get; } = [];
    public int Errors { get; private set; }
    public string? FirstError { get; private set; }

    public void Add(double latencyMs, double ttfbMs)
    {
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

    public void Add(Samples[] workers, TimeSpan elapsed)
    {
        foreach (var w in workers)
        {
            _latency.AddRange(w.Latency);
            _ttfb.AddRange(w.Ttfb);
            Errors += w.Errors;
            FirstError ??= w.FirstError;
        }
        _elapsed += elapsed;
    }

    public void AddCpu(CpuSample delta) => _cpu = new CpuSample(_cpu.Simulator + delta.Simulator, _cpu.Gateway + delta.Gateway, _cpu.Driver + delta.Driver);

    public void Seal()
    {
        _sortedLatency = [.. _latency.Order()];
        _sortedTtfb = [.. _ttfb.Order()];
    }

    public double LatencyP(double p) => Stats.Percentile(_sortedLatency, p);
    public double TtfbP(double p) => Stats.Percentile(_sortedTtfb, p);
}
