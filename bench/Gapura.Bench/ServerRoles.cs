using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Gapura.Api;
using Gapura.Budgets;
using Gapura.Budgets.Counters;
using Gapura.Identity;
using Gapura.Simulators.Anthropic;
using Gapura.Simulators.Bedrock;
using Gapura.Simulators.Copilot;
using Gapura.Simulators.Kiro;
using Gapura.Simulators.OpenAi;
using Gapura.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Bench;

/// <summary>The child-process side of <see cref="ChildProcess"/>: the Kiro simulator or the gateway, on 127.0.0.1.</summary>
internal static class ServerRoles
{
    /// <summary>The bootstrap key (<c>Gateway:ApiKey</c>): it belongs to the first admin, made from <see cref="AdminEmail"/>.</summary>
    public const string GatewayApiKey = "bench-gateway-key-0123456789abcdef";

    public const string AdminEmail = "bench-admin@gapura.test";
    public const string UserEmail = "bench-user@gapura.test";

    /// <summary>
    /// The gateway child prints <c>KEY sk-gp-…</c> (the seeded user's key) just before <c>READY</c>; the driver
    /// takes it from its pipe and prints it nowhere.
    /// </summary>
    public const string UserKeyLine = "KEY ";

    /// <summary>
    /// A line the driver writes to a gateway child's standard input, once the load is over: the child answers with one
    /// <see cref="BudgetAnswer"/> line of <c>name=value</c> pairs — its gateway budget meter for today and its usage
    /// ledger's totals for today, read once both have caught up (see <see cref="BudgetStateAsync"/>).
    /// </summary>
    public const string BudgetCommand = "BUDGET?";

    public const string BudgetAnswer = "BUDGET ";

    /// <summary>The OpenAI-compatible server's provider name in the gateway, and the one model it serves.</summary>
    public const string CompatibleName = "local";
    public const string CompatibleModel = "llama3.2";
    public const string BedrockRegion = "us-east-1";

    /// <summary>A child never outlives this, whatever happens to the driver.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromMinutes(6);

    public static async Task<int> RunAsync(string[] args)
    {
        var options = Options(args);
        return options["--role"] switch
        {
            "sim" => await SimulatorsAsync(options["--credentials"]),
            "gateway" => await GatewayAsync(Upstreams.Parse(options["--upstreams"]), options["--credentials"], options["--data"],
                options.GetValueOrDefault("--settings", "").Split('\n', StringSplitOptions.RemoveEmptyEntries)),
            var role => throw new ArgumentException($"unknown role {role}"),
        };
    }

    /// <summary>
    /// Every upstream simulator in one process, each answering every chat call with the same recorded answer in
    /// its own wire format, encoded once and written in one write: an upstream costs as little as it can and is
    /// the same for the direct and the gateway path. The compatible server is a second OpenAI simulator that
    /// asks for no key and serves one local model, as Ollama does.
    /// </summary>
    private static async Task<int> SimulatorsAsync(string credentialsPath)
    {
        await using var kiro = await KiroSimulator.StartAsync(new KiroSimulatorOptions
        {
            Split = KiroSplit.Whole,
            EmitExtraEvents = false,
            AccessTokenLifetime = TimeSpan.FromHours(12),
        });
        await using var anthropic = await AnthropicSimulator.StartAsync(new AnthropicSimulatorOptions { Split = AnthropicSplit.Whole });
        await using var openAi = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions { Split = OpenAiSplit.Whole });
        await using var compatible = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions
        {
            Split = OpenAiSplit.Whole,
            RequireAuth = false,
            Models = [new OpenAiModel(CompatibleModel, "library")],
        });
        await using var bedrock = await BedrockSimulator.StartAsync(new BedrockSimulatorOptions { Split = BedrockSplit.Frame, Padding = false });
        // Copilot answers every streamed call with the same bytes itself (its checks of token and editor headers still run).
        await using var copilot = await CopilotSimulator.StartAsync(new CopilotSimulatorOptions
        {
            RawStream = LatencyBench.CopilotAnswer,
            CopilotTokenLifetime = TimeSpan.FromHours(1),
        });
        var githubToken = copilot.IssueGitHubToken();

        var login = kiro.IssueCredentials(KiroLoginKind.Social, TimeSpan.FromHours(12));
        await File.WriteAllTextAsync(credentialsPath, new JsonObject
        {
            ["accessToken"] = login.AccessToken,
            ["refreshToken"] = login.RefreshToken,
            ["expiresAt"] = login.ExpiresAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
            ["profileArn"] = login.ProfileArn,
            ["region"] = login.Region,
            ["authMethod"] = "social",
        }.ToJsonString());

        // One scenario instance per simulator, queued again and again: the simulators only read them. A raw
        // frame or stream holding the whole encoded answer is written as it is, in one write.
        var kiroAnswer = new KiroScenario { Frames = [KiroFrame.Raw(LatencyBench.KiroAnswer)], Split = KiroSplit.Whole };
        var anthropicAnswer = new AnthropicScenario { RawStream = LatencyBench.AnthropicAnswer };
        var openAiAnswer = new OpenAiScenario { RawStream = LatencyBench.OpenAiAnswer };
        var compatibleAnswer = new OpenAiScenario { RawStream = LatencyBench.CompatibleAnswer };
        var bedrockAnswer = BedrockScenario.Stream(BedrockEvent.Raw(LatencyBench.BedrockAnswer));
        var queues = new (Func<int> Pending, Action Enqueue)[]
        {
            (() => kiro.PendingScenarios, () => kiro.Enqueue(kiroAnswer)),
            (() => anthropic.PendingScenarios, () => anthropic.Enqueue(anthropicAnswer)),
            (() => openAi.PendingScenarios, () => openAi.Enqueue(openAiAnswer)),
            (() => compatible.PendingScenarios, () => compatible.Enqueue(compatibleAnswer)),
            (() => bedrock.PendingScenarios, () => bedrock.Enqueue(bedrockAnswer)),
        };
        void TopUp()
        {
            foreach (var (pending, enqueue) in queues)
                while (pending() < 1024) enqueue();
        }
        TopUp();
        using var stop = new CancellationTokenSource(MaxLifetime);
        var topUp = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                TopUp();
                try { await Task.Delay(1, stop.Token); } catch (OperationCanceledException) { }
            }
        });

        Console.WriteLine($"pid {Environment.ProcessId}, {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC");
        Console.WriteLine("READY " + new Upstreams(kiro.BaseUrl, anthropic.BaseUrl, anthropic.ApiKey, openAi.ApiBaseUrl, compatible.ApiBaseUrl, bedrock.BaseUrl,
            copilot.BaseUrl, githubToken));
        await WaitForStopAsync(stop);
        await topUp;
        return 0;
    }

    /// <param name="extraSettings"><c>Key=Value</c> settings from the driver's <c>--gateway-setting</c>, given last so they win.</param>
    private static async Task<int> GatewayAsync(Upstreams upstreams, string credentialsPath, string dataDirectory, string[] extraSettings)
    {
        // On an empty database the bootstrap key belongs to nobody until a first admin exists. The admin's
        // password is random and never leaves this process: nothing in the bench logs in with it.
        var adminPassword = "Bench-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        await using var app = GatewayHost.Build(
        [
            "--urls=http://127.0.0.1:0",
            $"--Gateway:ApiKey={GatewayApiKey}",
            $"--Gateway:AdminEmail={AdminEmail}",
            $"--Gateway:AdminPassword={adminPassword}",
            $"--Storage:Path={Path.Combine(dataDirectory, "gapura.db")}",
            $"--Kiro:Endpoint={upstreams.Kiro}",
            $"--Kiro:AuthEndpoint={upstreams.Kiro}",
            $"--Kiro:OidcEndpoint={upstreams.Kiro}",
            $"--Kiro:CredentialsFile={credentialsPath}",
            // Every other provider at once, each pointed at its simulator (their keys are the simulators' test keys).
            $"--Providers:Anthropic:ApiKey={upstreams.AnthropicKey}",
            $"--Providers:Anthropic:BaseUrl={upstreams.Anthropic}",
            $"--Providers:OpenAI:ApiKey={OpenAiSimulatorOptions.DefaultApiKey}",
            $"--Providers:OpenAI:BaseUrl={upstreams.OpenAi}",
            $"--Providers:Compatible:{CompatibleName}:BaseUrl={upstreams.Compatible}",
            $"--Providers:Compatible:{CompatibleName}:Models={CompatibleModel}",
            $"--Providers:Bedrock:Region={BedrockRegion}",
            $"--Providers:Bedrock:AccessKeyId={BedrockSimulatorOptions.TestAccessKeyId}",
            $"--Providers:Bedrock:SecretAccessKey={BedrockSimulatorOptions.TestSecretAccessKey}",
            $"--Providers:Bedrock:Endpoint={upstreams.Bedrock}",
            $"--Providers:Copilot:GitHubToken={upstreams.CopilotGitHubToken}",
            $"--Providers:Copilot:GitHubBaseUrl={upstreams.Copilot}",
            $"--Providers:Copilot:GitHubApiBaseUrl={upstreams.Copilot}",
            "--Logging:LogLevel:Default=Warning",
            .. extraSettings.Select(s => "--" + s),
        ]);
        await app.StartAsync();
        var userKey = await SeedUserKeyAsync(app.Services);
        Console.WriteLine($"pid {Environment.ProcessId}, {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC");
        Console.WriteLine(UserKeyLine + userKey);
        Console.WriteLine("READY " + app.Urls.First().TrimEnd('/'));
        var serving = System.Diagnostics.Stopwatch.StartNew();
        using var stop = new CancellationTokenSource(MaxLifetime);
        await WaitForStopAsync(stop, async command =>
        {
            if (command != BudgetCommand) return;
            try
            {
                Console.WriteLine(BudgetAnswer + await BudgetStateAsync(app.Services, stop.Token));
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                Console.WriteLine(BudgetAnswer + "error=" + e.GetType().Name + ": " + e.Message.ReplaceLineEndings(" "));
            }
        });
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await app.StopAsync(grace.Token);
        // Every request the bench sent went through the usage ledger into this gateway's SQLite file.
        var ledger = app.Services.GetRequiredService<Gapura.Ledger.UsageLedger>();
        var written = app.Services.GetRequiredService<Gapura.Ledger.UsageWriter>().Written;
        Console.WriteLine(FormattableString.Invariant(
            $"ledger: {written} records written ({written / serving.Elapsed.TotalSeconds:F0}/s over {serving.Elapsed.TotalSeconds:F0} s of serving), {ledger.Dropped} dropped, {ledger.QueueDepth} still queued"));
        return 0;
    }

    /// <summary>
    /// One ordinary user with one API key, made through the store as the admin API would, so the key
    /// reaches the in-memory index the way every per-user key does (the change feed, within a refresh).
    /// Returns once this instance's index knows the key.
    /// </summary>
    private static async Task<string> SeedUserKeyAsync(IServiceProvider services)
    {
        var store = services.GetRequiredService<IGapuraStore>();
        var user = await store.Users.CreateAsync(new NewUser(UserEmail, "Bench user"));
        var key = ApiKeys.Generate();
        await store.ApiKeys.CreateAsync(new NewApiKey(user.Id, "bench", key.Prefix, key.Hash));

        var index = services.GetRequiredService<ApiKeyIndex>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (index.Find(key.Key) is null)
        {
            if (timeout.IsCancellationRequested) throw new InvalidOperationException("the seeded API key did not reach the key index within 15 s");
            await Task.Delay(50, CancellationToken.None);
        }
        if (index.Find(GatewayApiKey) is null) throw new InvalidOperationException("the bootstrap key has no owner: the first admin was not created");
        return key.Key;
    }

    /// <summary>
    /// The gateway's budget meter (scope gateway, today's daily window) and the usage ledger's totals for today, once every
    /// settlement handed over is written, the ledger's queue is empty and two reads in a row agree (at most 15 s; then
    /// <c>stable=0</c>). The driver checks that a budgeted gateway's meter holds exactly the tokens its ledger recorded
    /// for the requests it sent, with nothing left reserved, and that the baseline's meter was never charged.
    /// </summary>
    private static async Task<string> BudgetStateAsync(IServiceProvider services, CancellationToken ct)
    {
        var settlements = services.GetRequiredService<BudgetSettlements>();
        var counters = services.GetRequiredService<IBudgetCounters>();
        var windows = services.GetRequiredService<BudgetWindows>();
        var ledger = services.GetRequiredService<Gapura.Ledger.UsageLedger>();
        var writer = services.GetRequiredService<Gapura.Ledger.UsageWriter>();
        var store = services.GetRequiredService<IGapuraStore>();
        var budgets = services.GetRequiredService<BudgetConfigSource>().Current.HasBudgets;
        var waited = System.Diagnostics.Stopwatch.StartNew();
        string? previous = null;
        while (true)
        {
            var settled = await settlements.WhenSettledAsync(TimeSpan.FromSeconds(10));
            var now = windows.Now;
            var meter = (await counters.ReadAsync([windows.Meter(BudgetScope.Gateway, BudgetPeriod.Daily, now)], ct))[0];
            var day = UsageBuckets.StartOfDay(UsageBuckets.DayOf(now));
            var total = UsageReportRow.Total(await store.UsageReports.QueryAsync(new UsageQuery(day, day.AddDays(1), []), ct));
            var state = FormattableString.Invariant(
                $"counters={counters.GetType().Name} budgets={(budgets ? 1 : 0)} used_input={meter.Used.InputTokens} used_output={meter.Used.OutputTokens} ") +
                FormattableString.Invariant(
                $"reserved_input={meter.Reserved.InputTokens} reserved_output={meter.Reserved.OutputTokens} ledger_requests={total.Requests} ") +
                FormattableString.Invariant(
                $"ledger_input={total.InputTokens + total.CacheReadTokens + total.CacheWriteTokens} ledger_output={total.OutputTokens} ledger_written={writer.Written}");
            var quiet = settled && settlements.Pending == 0 && ledger.QueueDepth == 0;
            if (quiet && state == previous) return state + " stable=1";
            if (waited.Elapsed > TimeSpan.FromSeconds(15)) return state + " stable=0";
            previous = quiet ? state : null;
            await Task.Delay(300, ct);
        }
    }

    /// <summary>
    /// Returns when standard input closes (the driver is done or gone) or the lifetime runs out. Each line read before
    /// that is a command for <paramref name="onCommand"/>, answered in turn.
    /// </summary>
    private static async Task WaitForStopAsync(CancellationTokenSource stop, Func<string, Task>? onCommand = null)
    {
        var stdinClosed = Task.Run(async () =>
        {
            while (await Console.In.ReadLineAsync() is { } line)
                if (onCommand is not null && line.Length > 0) await onCommand(line.Trim());
        });
        await Task.WhenAny(stdinClosed, Task.Delay(Timeout.Infinite, stop.Token).ContinueWith(_ => { }, TaskScheduler.Default));
        await stop.CancelAsync();
    }

    private static Dictionary<string, string> Options(string[] args)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2) options[args[i]] = args[i + 1];
        return options;
    }
}

/// <summary>Where each simulator listens (OpenAI ones with their <c>/v1</c>), as the simulator child hands them over on its READY line.</summary>
/// <param name="CopilotGitHubToken">The GitHub token the simulated GitHub issued, exchanged for Copilot tokens by both the gateway and the driver.</param>
internal sealed record Upstreams(string Kiro, string Anthropic, string AnthropicKey, string OpenAi, string Compatible, string Bedrock,
    string Copilot, string CopilotGitHubToken)
{
    public override string ToString() => string.Join(' ', Kiro, Anthropic, AnthropicKey, OpenAi, Compatible, Bedrock, Copilot, CopilotGitHubToken);

    public static Upstreams Parse(string line)
    {
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 8) throw new FormatException($"expected eight upstream fields, got {parts.Length}");
        return new Upstreams(parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6], parts[7]);
    }
}
