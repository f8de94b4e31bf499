using System.Globalization;
using Gapura.Budgets;
using Gapura.Simulators.Redis;
using static Gapura.Bench.LatencyBench;

namespace Gapura.Bench;

/// <summary>
/// Part 5 (<c>--budgets</c>): what a token budget costs per request. One simulators child and four gateway children,
/// identical but for budgets: <c>off</c> (no budget: the budget stage does nothing — the baseline), and a gateway budget
/// that applies to every request and never refuses, with its counters in <c>sqlite</c>, <c>postgres</c> (a private
/// cluster) and <c>redis</c> (a private redis-server; SQLite storage). The same two targets — a passthrough and a
/// translated one — go through each, the four gateways' blocks interleaved round by round with LatencyBench's block
/// runner, at the bench's concurrency and then on a single connection. Afterwards every gateway is asked for its budget
/// meter and its usage ledger: a budgeted gateway must have charged exactly what its ledger recorded, the baseline nothing.
/// </summary>
internal sealed class BudgetBench(BenchSettings settings, Report report)
{
    /// <summary>
    /// A daily <c>pause</c> budget on the gateway scope (so every request reserves against limits, on every meter read
    /// and written as it would be under a real budget) far too large to ever refuse or reach its alert threshold.
    /// </summary>
    public static readonly string[] BudgetSettings =
    [
        $"{BudgetKeys.Gateway}:daily:inputTokens=1000000000000",
        $"{BudgetKeys.Gateway}:daily:outputTokens=1000000000000",
        $"{BudgetKeys.Gateway}:daily:action=pause",
    ];

    /// <summary>
    /// The same budget with <c>notify</c>: a budget that never refuses takes no reservation, so its requests decide from
    /// the counts the gateway last saw and only the background settlement writes.
    /// </summary>
    public static readonly string[] NotifySettings =
    [
        $"{BudgetKeys.Gateway}:daily:inputTokens=1000000000000",
        $"{BudgetKeys.Gateway}:daily:outputTokens=1000000000000",
        $"{BudgetKeys.Gateway}:daily:action=notify",
    ];

    /// <summary>One gateway configuration and its two targets.</summary>
    private sealed record Config(string Key, string Label, bool Budgeted, ChildProcess Gateway, Target[] Targets)
    {
        public string? Counters { get; set; }
    }

    /// <summary>The two cases, in the order of <see cref="Config.Targets"/>: key, door, upstream.</summary>
    private static readonly (string Key, string Label)[] Cases =
    [
        ("anthropic_passthrough", "passthrough, anthropic door -> anthropic"),
        ("kiro_translated", "translated, openai door -> kiro"),
    ];

    public async Task RunAsync()
    {
        var work = Directory.CreateTempSubdirectory("gapura-bench-budgets-");
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
        var simStart = StartSimulatorsAsync(work, simCredentials);
        var postgresStart = BenchPostgres.StartAsync();
        var redisStart = PrivateRedis.StartAsync();
        await Task.WhenAll(simStart, postgresStart, redisStart).ContinueWith(_ => { }, TaskScheduler.Default);
        var gateways = new List<ChildProcess>();
        ChildProcess? sim = simStart.IsCompletedSuccessfully ? simStart.Result.Sim : null;
        BenchPostgres? postgres = postgresStart.IsCompletedSuccessfully ? postgresStart.Result : null;
        PrivateRedis? redis = redisStart.IsCompletedSuccessfully ? redisStart.Result : null;
        try
        {
            var upstreams = (await simStart).Upstreams;
            await postgresStart;
            await redisStart;
            var configs = new (string Key, string Label, bool Budgeted, string[] Settings)[]
            {
                ("off", "budgets off (baseline)", false, []),
                ("sqlite", "budget, SQLite counters", true, BudgetSettings),
                ("notify", "notify budget, SQLite, no reservation", true, NotifySettings),
                ("postgres", "budget, PostgreSQL counters", true, [.. BudgetSettings, "Storage:Provider=postgres", $"ConnectionStrings:Postgres={postgres!.ConnectionString}"]),
                ("redis", "budget, Redis counters", true, [.. BudgetSettings, $"ConnectionStrings:Redis={redis!.ConnectionString()}"]),
            };
            // Started together, waited for together: four gateways take a while to start on a small machine.
            foreach (var c in configs)
            {
                var data = Directory.CreateDirectory(Path.Combine(work, c.Key)).FullName;
                gateways.Add(StartGateway("gw-" + c.Key, upstreams, simCredentials, data, [.. c.Settings, .. settings.GatewaySettings]));
            }
            var ready = await Task.WhenAll(gateways.Select(WaitGatewayAsync));
            var all = configs.Select((c, i) =>
            {
                var (url, userKey) = ready[i];
                string[] keys = [ServerRoles.GatewayApiKey, userKey];
                return new Config(c.Key, c.Label, c.Budgeted, gateways[i],
                [
                    AnthropicDoorTarget($"{c.Key} anthropic passthrough", url, keys, "anthropic/claude-sonnet-4-5", AnthropicAnswer),
                    OpenAiDoorTarget($"{c.Key} kiro translated", url, keys, "kiro/" + KiroModel, null),
                ]);
            }).ToList();
            report.Note($"simulators in one child; gateways {string.Join(", ", all.Select((c, i) => $"{c.Key} at {ready[i].Url}"))}; PostgreSQL on port {new Npgsql.NpgsqlConnectionStringBuilder(postgres.ConnectionString).Port}, redis-server on port {redis.Port}");
            if (settings.GatewaySettings.Count > 0) report.Note("gateway settings (all four): " + string.Join(", ", settings.GatewaySettings));
            await MeasureAsync(all, sim!);
        }
        finally
        {
            // Gateways first: they write their last settlements and ledger records into PostgreSQL / their files.
            foreach (var g in gateways) await g.DisposeAsync();
            if (redis is not null) await redis.DisposeAsync();
            if (postgres is not null) await postgres.DisposeAsync();
            if (sim is not null) await sim.DisposeAsync();
        }
    }

    private async Task MeasureAsync(List<Config> configs, ChildProcess sim)
    {
        using var client = NewClient();
        // Probes: each target answers completely, and x-gapura-budget is on every budgeted gateway's answers and on none of the baseline's.
        foreach (var config in configs)
        {
            var sizes = new List<string>();
            foreach (var target in config.Targets)
            {
                var headers = new List<string?>();
                var size = await target.ProbeAsync(client, r => headers.Add(r.Headers.TryGetValues(BudgetGate.Header, out var v) ? string.Join(",", v) : null));
                sizes.Add($"{target.Name} {size:N0} B, {BudgetGate.Header}: {headers[0] ?? "(none)"}");
                if (config.Budgeted && headers.Any(string.IsNullOrEmpty))
                    report.Fail($"{target.Name}: a budgeted gateway answered without {BudgetGate.Header}: the budget stage did not run");
                if (!config.Budgeted && headers.Any(h => h is not null))
                    report.Fail($"{target.Name}: the budgets-off gateway answered with {BudgetGate.Header}: {headers.First(h => h is not null)}");
            }
            report.Note(string.Join("; ", sizes));
        }

        var targets = configs.SelectMany(c => c.Targets).ToList();
        var gatewayOf = configs.SelectMany(c => c.Targets.Select(t => (t, c.Gateway))).ToDictionary(x => x.t, x => x.Gateway);
        var cpu = new CpuMeter(sim, [.. configs.Select(c => c.Gateway)]);
        report.Note($"concurrency {settings.Concurrency}: {settings.LoadRounds} rounds, then concurrency 1: {settings.SingleConnectionRounds} rounds; each round {targets.Count} blocks × {settings.LoadBlockTime.TotalSeconds:0.##} s");
        await WarmUpAsync(client, targets, cpu);

        await IdleAsync(configs, TimeSpan.FromSeconds(settings.Quick ? 1 : 2));
        var loaded = await RoundsAsync(client, configs, cpu, gatewayOf, settings.Concurrency, settings.LoadRounds);
        var single = await RoundsAsync(client, configs, cpu, gatewayOf, 1, settings.SingleConnectionRounds);

        await CheckChargedAsync(configs);
        Publish(configs, loaded, settings.Concurrency);
        Publish(configs, single, 1);
        report.Machine("concurrency", settings.Concurrency, "F0");
    }

    /// <summary>
    /// Warm-up passes over every target until a pass leaves every child quiet (under 10 % of a core) within the wait:
    /// four gateways tier up their JIT at once, and on a busy 2-core machine the background compiler took most of their
    /// CPU for tens of seconds after LatencyBench's two passes — charged to whichever blocks ran meanwhile. Bounded
    /// (45 s, <c>--quick</c> 15 s); a run that is still compiling says so, and the JIT column shows how much.
    /// </summary>
    private async Task WarmUpAsync(HttpClient client, List<Target> targets, CpuMeter cpu)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var budget = TimeSpan.FromSeconds(settings.Quick ? 15 : 45);
        var wait = TimeSpan.FromSeconds(settings.Quick ? 1.5 : 3);
        for (var pass = 1; ; pass++)
        {
            foreach (var target in targets)
                await RunBlockAsync(client, target, settings.LoadWarmup, settings.Concurrency, settings.MaxRequestsPerBlock, null, null, null);
            var quiet = await cpu.SettleAsync(wait) < wait;
            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            if (pass >= 2 && quiet)
            {
                report.Note(string.Create(CultureInfo.InvariantCulture, $"warm-up: {pass} passes, {elapsed.TotalSeconds:F0} s, every child quiet"));
                return;
            }
            if (elapsed > budget)
            {
                report.Note(string.Create(CultureInfo.InvariantCulture,
                    $"warm-up: {pass} passes, {elapsed.TotalSeconds:F0} s, and a child still busy (background JIT on a loaded machine): see the JIT column"));
                return;
            }
        }
    }

    /// <summary>
    /// Each gateway's CPU with no request running (change feed, background loops, the runtime's own threads): it is
    /// inside every block's CPU figure, and weighs more per request the fewer requests a block serves.
    /// </summary>
    private async Task IdleAsync(List<Config> configs, TimeSpan duration)
    {
        var before = configs.Select(c => (c.Gateway.CpuTime, c.Gateway.JitCpuTime)).ToArray();
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        await Task.Delay(duration);
        var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds;
        var idle = configs.Select((c, i) => (c.Key,
            MsPerSecond: (c.Gateway.CpuTime - before[i].CpuTime).TotalMilliseconds / seconds,
            JitMsPerSecond: (c.Gateway.JitCpuTime - before[i].JitCpuTime).TotalMilliseconds / seconds)).ToList();
        report.Note("idle gateway CPU, ms per second (of which background JIT): " +
            string.Join(", ", idle.Select(x => string.Create(CultureInfo.InvariantCulture, $"{x.Key} {x.MsPerSecond:F1} ({x.JitMsPerSecond:F1})"))));
        foreach (var (key, ms, _) in idle) report.Machine($"budgets_{key}_idle_cpu_ms_per_s", ms, "F1");
    }

    /// <summary>
    /// Rounds of one block per target: in each round the passthrough blocks of the four gateways, then the translated
    /// ones, forward in even rounds and backward in odd ones (as LatencyBench alternates), so drifting background load
    /// lands on every configuration alike.
    /// </summary>
    private async Task<Dictionary<Target, LoadResult>> RoundsAsync(HttpClient client, List<Config> configs, CpuMeter cpu,
        Dictionary<Target, ChildProcess> gatewayOf, int concurrency, int rounds)
    {
        var results = configs.SelectMany(c => c.Targets).ToDictionary(t => t, _ => new LoadResult());
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        for (var round = 0; round < rounds; round++)
        {
            var settled = await cpu.SettleAsync(TimeSpan.FromSeconds(settings.Quick ? 0.5 : 1));
            var cases = Enumerable.Range(0, Cases.Length);
            var order = round % 2 == 0 ? configs : configs.AsEnumerable().Reverse();
            foreach (var i in round % 2 == 0 ? cases : cases.Reverse())
                foreach (var config in order)
                {
                    var target = config.Targets[i];
                    await RunBlockAsync(client, target, settings.LoadBlockTime, concurrency, settings.MaxRequestsPerBlock, results[target], cpu, gatewayOf[target]);
                }
            var counts = string.Join(", ", configs.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Key} {c.Targets.Sum(t => results[t].Requests):F0}")));
            report.Note(string.Create(CultureInfo.InvariantCulture,
                $"concurrency {concurrency}, round {round + 1}/{rounds} done at {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds:F0} s (waited {settled.TotalSeconds:F2} s for quiet); requests so far: {counts}"));
        }
        foreach (var r in results.Values) r.Seal();
        return results;
    }

    /// <summary>
    /// The proof that the measured path was the budget's: each budgeted gateway's meter holds exactly the input and
    /// output tokens its usage ledger recorded, the ledger holds every request this driver sent it, and nothing is left
    /// reserved; the baseline's meter was never charged.
    /// </summary>
    private async Task CheckChargedAsync(List<Config> configs)
    {
        foreach (var config in configs)
        {
            string answer;
            try
            {
                answer = await config.Gateway.AskAsync(ServerRoles.BudgetCommand, ServerRoles.BudgetAnswer, TimeSpan.FromSeconds(30));
            }
            catch (TimeoutException)
            {
                report.Fail($"{config.Key}: the gateway did not report its budget meter within 30 s");
                continue;
            }
            report.Note($"{config.Key}: {answer}");
            var state = answer.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)).Where(p => p.Length == 2)
                .ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
            if (state.TryGetValue("error", out _))
            {
                report.Fail($"{config.Key}: reading the budget meter failed: {answer}");
                continue;
            }
            long N(string key) => state.TryGetValue(key, out var v) && long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : -1;
            config.Counters = state.GetValueOrDefault("counters", "?");
            var sent = config.Targets.Sum(t => t.Sent);
            var problems = new List<string>();
            if (N("ledger_requests") != sent) problems.Add($"the ledger holds {N("ledger_requests")} requests, the driver sent {sent}");
            if (config.Budgeted)
            {
                if (N("budgets") != 1) problems.Add("no budget is configured");
                if (N("used_input") <= 0 || N("used_output") <= 0) problems.Add("the meter was not charged");
                if (N("used_input") != N("ledger_input") || N("used_output") != N("ledger_output"))
                    problems.Add($"the meter's tokens (in {N("used_input")}, out {N("used_output")}) are not the ledger's (in {N("ledger_input")}, out {N("ledger_output")})");
                if (N("reserved_input") != 0 || N("reserved_output") != 0) problems.Add("reservations are still open after every request ended");
            }
            else if (N("budgets") != 0 || N("used_input") != 0 || N("used_output") != 0) problems.Add("the budgets-off gateway has a budget or a charged meter");
            if (state.GetValueOrDefault("stable") != "1") problems.Add("its settlements or ledger did not settle within 15 s");
            if (problems.Count > 0) report.Fail($"{config.Key}: {string.Join("; ", problems)}");
            report.Machine($"budgets_{config.Key}_charged_requests", sent, "F0");
            report.Machine($"budgets_{config.Key}_counters", config.Counters);
        }
        report.Machine("budgets_charged_check", report.Failed ? "FAILED" : "ok");
    }

    private void Publish(List<Config> configs, Dictionary<Target, LoadResult> results, int concurrency)
    {
        var table = report.Table(string.Create(CultureInfo.InvariantCulture,
            $"  budgets, concurrency {concurrency} (added = configuration − budgets off, same targets, same run)\n" +
            $"  {"configuration",-32} {"case",-42} {"p50 ms",7} {"p99 ms",7} {"+p50",7} {"+p99",7} {"req/s",7} {"gw CPU",8} {"+CPU",7} {"CPU",6} {"JIT",6} {"fail",5}\n" +
            $"  {"",-32} {"",-42} {"",7} {"",7} {"ms",7} {"ms",7} {"",7} {"ms/req",8} {"ms/req",7} {"x off",6} {"ms/req",6} {"",5}"));
        var baseline = configs.Single(c => !c.Budgeted);
        for (var i = 0; i < Cases.Length; i++)
        {
            var off = results[baseline.Targets[i]];
            foreach (var config in configs)
            {
                var r = results[config.Targets[i]];
                // Until the Redis counters are registered, ConnectionStrings:Redis leaves them in SQL: say so on the row.
                var label = config.Key == "redis" && config.Counters is { } counters && !counters.Contains("Redis", StringComparison.Ordinal)
                    ? "budget, redis (SQL counters!)" : config.Label;
                var (addP50, addP99) = (r.LatencyP(50) - off.LatencyP(50), r.LatencyP(99) - off.LatencyP(99));
                // The request path's CPU: the gateway's, less its background JIT thread's (shown apart: a run still warming up).
                static double Cpu(LoadResult x) => x.GatewayCpuMsPerRequest - x.GatewayJitMsPerRequest;
                var (cpu, addCpu, cpuRatio) = (Cpu(r), Cpu(r) - Cpu(off), Cpu(r) / Cpu(off));
                table.Rows.Add(string.Create(CultureInfo.InvariantCulture,
                    $"  {label,-32} {Cases[i].Label,-42} {r.LatencyP(50),7:F2} {r.LatencyP(99),7:F2} {addP50,7:+0.00;-0.00} {addP99,7:+0.00;-0.00} {r.RequestsPerSecond,7:F0} {cpu,8:F3} {addCpu,7:+0.000;-0.000} {"x" + cpuRatio.ToString("F2", CultureInfo.InvariantCulture),6} {r.GatewayJitMsPerRequest,6:F2} {r.Errors,5}"));
                var key = $"budgets_{config.Key}_{Cases[i].Key}_c{concurrency}";
                report.Machine($"{key}_p50_ms", r.LatencyP(50), "F3");
                report.Machine($"{key}_p99_ms", r.LatencyP(99), "F3");
                report.Machine($"{key}_req_s", r.RequestsPerSecond, "F0");
                report.Machine($"{key}_gateway_cpu_ms_per_req", cpu, "F3");
                report.Machine($"{key}_gateway_jit_ms_per_req", r.GatewayJitMsPerRequest, "F3");
                if (config.Budgeted)
                {
                    report.Machine($"{key}_added_p50_ms", addP50, "F3");
                    report.Machine($"{key}_added_p99_ms", addP99, "F3");
                    report.Machine($"{key}_added_cpu_ms_per_req", addCpu, "F3");
                    report.Machine($"{key}_cpu_ratio", cpuRatio, "F3");
                }
                if (r.Errors > 0) report.Fail($"{config.Targets[i].Name} (concurrency {concurrency}): {r.Errors} requests failed or were incomplete; first: {r.FirstError}");
            }
        }
    }
}
