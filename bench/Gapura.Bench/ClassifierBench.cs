using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Formats.Anthropic;
using Gapura.Formats.OpenAi;
using Gapura.Formats.Responses;
using Gapura.Ledger;
using Gapura.Routing.Tasks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;

namespace Gapura.Bench;

/// <summary>
/// The task classifier's cost per request (<c>--classifier</c>): <see cref="RequestFacts.From"/> + <see cref="TaskRules.Classify"/>
/// — what the router adds to a request that is already parsed and counted — timed one call at a time over the real
/// client recordings (tests/Gapura.Tests/Routing/Recordings) and over a synthetic 100 KB Claude Code-like tool-loop
/// request that no early rule catches (the worst case: every built-in rule is tried). Prints p50/p99 µs per call and
/// bytes allocated per call. Target: p99 under 20 µs for a 100 KB request.
/// </summary>
internal sealed class ClassifierBench(BenchSettings settings, Report report)
{
    private sealed record Case(string Name, ChatRequest Request, HeaderDictionary Headers, ClientApp Client, int Tokens, int Bytes);

    public void Run()
    {
        var rules = TaskRules.Create([], includeBuiltIns: true, longContextTokens: 60_000);
        var configured = TaskRules.Create(TaskRule.ParseList(JsonDocument.Parse("""
            [{"name":"c1","task":"codeReview","client":"claude-code","lastUserText":"(?i)\\b(pr|pull request)\\s+#?\\d+"},
             {"name":"c2","task":"specGeneration","system":"(?i)kiro spec mode"},
             {"name":"c3","task":"background","model":"(?i)haiku","tools":false},
             {"name":"c4","task":"documentationUpdate","lastUserText":"(?i)\\bwiki\\b"},
             {"name":"c5","task":"longContext","minInputTokens":150000}]
            """).RootElement, "rules"), includeBuiltIns: true, longContextTokens: 60_000);

        var cases = new List<Case>();
        foreach (var client in new[] { "claude-code", "codex-cli", "opencode" })
        {
            var recorded = LoadRecordings(client);
            if (recorded.Count > 0) cases.Add(new($"recorded {client} ({recorded.Count} requests, avg {recorded.Average(r => r.Bytes) / 1024:F0} KB)", null!, null!, default, 0, 0) { });
            cases.AddRange(recorded);
        }
        var synthetic = Synthetic100K();
        var iterations = settings.Quick ? 20_000 : 100_000;

        // Warm every path before timing any: tiered compilation promotes hot methods in the background, and the first
        // case measured would otherwise carry the promotion (its p99 was 10× the others' in a first version).
        var real = cases.Where(c => c.Request is not null).Append(synthetic).ToList();
        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < 100_000; i++) { Classify(real[i % real.Count], rules); Classify(real[i % real.Count], configured); }
            Thread.Sleep(200);
        }
        Console.WriteLine($"  {"case",-58}{"p50 µs",9}{"p99 µs",9}{"B/call",9}  rule");
        foreach (var group in Groups(cases))
            Measure(group.Name, group.Items, rules, iterations, "recorded");
        // Which recorded requests cost most (the p99 of a mix is its slowest members).
        var slowest = cases.Where(c => c.Request is not null)
            .Select(c => (c, us: MedianOf(c, rules, settings.Quick ? 500 : 2_000))).OrderByDescending(x => x.us).Take(3).ToList();
        Console.WriteLine("  slowest recorded: " + string.Join(", ", slowest.Select(x => $"{x.c.Name} {x.us:F1} µs ({rules.Classify(RequestFacts.From(x.c.Request, x.c.Headers, x.c.Client, x.c.Tokens)).Rule})")));
        Measure($"synthetic Claude Code tool loop, {synthetic.Bytes / 1024} KB, built-ins", [synthetic], rules, iterations, "synthetic");
        Measure($"synthetic {synthetic.Bytes / 1024} KB, 5 configured regex rules + built-ins", [synthetic], configured, iterations, "synthetic_configured");
        MeasureDecisions(real, iterations);
    }

    /// <summary>
    /// The whole routing decision (<see cref="Gapura.Routing.TaskRouter.DecideAsync"/>) over the same requests and a Kiro
    /// catalog of the built-in models, side by side: mode <c>off</c> (resolve the named model: what the gateway did before
    /// routing), <c>virtual</c> with a named model (classify, then resolve as named: every request by default), and
    /// <c>auto</c> (classify, pick the task's profile, resolve the newest model of its family). The differences are
    /// what routing adds to a request.
    /// </summary>
    private void MeasureDecisions(List<Case> cases, int iterations)
    {
        Console.WriteLine($"  {"routing decision (classify + resolve), all requests",-58}{"p50 µs",9}{"p99 µs",9}{"B/call",9}");
        foreach (var (label, mode, model) in new[] { ("mode off, named model (resolve only)", "off", (string?)null), ("mode virtual, named model (classify + resolve)", "virtual", null), ("model auto (classify + profile)", "virtual", "auto") })
        {
            var router = DecisionRouter(mode);
            var items = cases.Select(c => c with { Request = c.Request with { Model = model ?? "claude-sonnet-4-5" } }).ToList();
            ValueTask<Gapura.Routing.RouteDecision> Decide(Case c) => router.DecideAsync(c.Request, c.Headers, c.Client, null, "session-1", c.Tokens, CancellationToken.None);
            for (var i = 0; i < 20_000; i++) Decide(items[i % items.Count]).AsTask().GetAwaiter().GetResult();
            var samples = new double[iterations];
            var ticksToUs = 1_000_000.0 / Stopwatch.Frequency;
            for (var i = 0; i < iterations; i++)
            {
                var start = Stopwatch.GetTimestamp();
                var d = Decide(items[i % items.Count]);
                if (!d.IsCompletedSuccessfully) d.AsTask().GetAwaiter().GetResult();
                samples[i] = (Stopwatch.GetTimestamp() - start) * ticksToUs;
            }
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 10_000; i++) Decide(items[i % items.Count]).AsTask().GetAwaiter().GetResult();
            var bytes = (GC.GetAllocatedBytesForCurrentThread() - before) / 10_000.0;
            Array.Sort(samples);
            var (p50, p99) = (samples[samples.Length / 2], samples[(int)(samples.Length * 0.99)]);
            Console.WriteLine($"  {label,-58}{p50,9:F2}{p99,9:F2}{bytes,9:F0}");
            var key = mode == "off" ? "off" : model is null ? "virtual" : "auto";
            report.Machine($"routing_decision_{key}_p50_us", p50, "F2");
            report.Machine($"routing_decision_{key}_p99_us", p99, "F2");
            report.Machine($"routing_decision_{key}_alloc_bytes", bytes, "F0");
        }
    }

    private static Gapura.Routing.TaskRouter DecisionRouter(string mode)
    {
        var catalog = new Gapura.Providers.Kiro.KiroModelCatalog(new BuiltInKiroModels(),
            Microsoft.Extensions.Options.Options.Create(new Gapura.Providers.Kiro.KiroOptions()), Microsoft.Extensions.Logging.Abstractions.NullLogger<Gapura.Providers.Kiro.KiroModelCatalog>.Instance);
        // Neither reads the database until told to reload, which the bench never does.
        var router = new Gapura.Routing.RequestRouter([catalog], new Gapura.Routing.RoutingState(null!));
        var configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder()
            .AddInMemoryCollection([new KeyValuePair<string, string?>("Routing:Mode", mode)]).Build();
        var source = new Gapura.Routing.Profiles.RoutingConfigSource(null!, configuration, Microsoft.Extensions.Logging.Abstractions.NullLogger<Gapura.Routing.Profiles.RoutingConfigSource>.Instance);
        return new Gapura.Routing.TaskRouter(router, source, Microsoft.Extensions.Logging.Abstractions.NullLogger<Gapura.Routing.TaskRouter>.Instance);
    }

    private sealed class BuiltInKiroModels : Gapura.Providers.Kiro.IKiroModelSource
    {
        public Task<IReadOnlyList<Gapura.Routing.ModelInfo>> FetchModelsAsync(CancellationToken ct) => Task.FromResult(Gapura.Providers.Kiro.KiroModelCatalog.BuiltIn);
    }

    private static IEnumerable<(string Name, List<Case> Items)> Groups(List<Case> cases)
    {
        string? name = null;
        List<Case>? items = null;
        foreach (var c in cases)
        {
            if (c.Request is null)
            {
                if (name is not null) yield return (name, items!);
                name = c.Name;
                items = [];
            }
            else items!.Add(c);
        }
        if (name is not null) yield return (name, items!);
    }

    private void Measure(string name, List<Case> items, TaskRules rules, int iterations, string key)
    {
        // Warm-up (tiering, regex construction caches).
        for (var i = 0; i < 20_000; i++) Classify(items[i % items.Count], rules);
        var samples = new double[iterations];
        var ticksToUs = 1_000_000.0 / Stopwatch.Frequency;
        string rule = "";
        for (var i = 0; i < iterations; i++)
        {
            var item = items[i % items.Count];
            var start = Stopwatch.GetTimestamp();
            var result = Classify(item, rules);
            samples[i] = (Stopwatch.GetTimestamp() - start) * ticksToUs;
            rule = result.Rule;
        }
        var before = GC.GetAllocatedBytesForCurrentThread();
        const int allocCalls = 10_000;
        for (var i = 0; i < allocCalls; i++) Classify(items[i % items.Count], rules);
        var bytesPerCall = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)allocCalls;
        Array.Sort(samples);
        var p50 = samples[samples.Length / 2];
        var p99 = samples[(int)(samples.Length * 0.99)];
        Console.WriteLine($"  {name,-58}{p50,9:F2}{p99,9:F2}{bytesPerCall,9:F0}  {(items.Count == 1 ? rule : "")}");
        report.Machine($"classifier_{key}_{Slug(name)}_p50_us", p50, "F2");
        report.Machine($"classifier_{key}_{Slug(name)}_p99_us", p99, "F2");
        report.Machine($"classifier_{key}_{Slug(name)}_alloc_bytes", bytesPerCall, "F0");
    }

    private static double MedianOf(Case c, TaskRules rules, int n)
    {
        var samples = new double[n];
        for (var i = 0; i < n; i++)
        {
            var start = Stopwatch.GetTimestamp();
            Classify(c, rules);
            samples[i] = (Stopwatch.GetTimestamp() - start) * 1_000_000.0 / Stopwatch.Frequency;
        }
        Array.Sort(samples);
        return samples[n / 2];
    }

    private static string Slug(string name) => name.Contains("claude-code") ? "claude_code" : name.Contains("codex") ? "codex" : name.Contains("opencode") ? "opencode" : "100k";

    private static TaskClassification Classify(Case c, TaskRules rules)
        => rules.Classify(RequestFacts.From(c.Request, c.Headers, c.Client, c.Tokens));

    private static List<Case> LoadRecordings(string client)
    {
        var folder = Path.Combine(RepositoryRoot(), "tests", "Gapura.Tests", "Routing", "Recordings");
        var cases = new List<Case>();
        foreach (var file in Directory.GetFiles(folder, client + "--*.json").Order(StringComparer.Ordinal))
        {
            var bytes = File.ReadAllBytes(file);
            var root = JsonDocument.Parse(bytes).RootElement;
            var headers = new HeaderDictionary();
            foreach (var h in root.GetProperty("headers").EnumerateObject()) headers[h.Name] = h.Value.GetString();
            var body = root.GetProperty("body");
            var request = root.GetProperty("door").GetString() switch
            {
                "anthropic-messages" => AnthropicMessagesFrontDoor.Instance.ParseRequest(body),
                "openai-chat" => OpenAiChatFrontDoor.Instance.ParseRequest(body),
                _ => ResponsesFrontDoor.Instance.ParseRequest(body),
            };
            cases.Add(new(Path.GetFileName(file), request, headers, ClientApps.Recognize(headers), RequestTokenCounter.Count(request), body.GetRawText().Length));
        }
        return cases;
    }

    /// <summary>
    /// ~100 KB, shaped like a Claude Code agent turn deep in a tool loop: a 38 KB system prompt, 20 tools, 30 earlier
    /// turns, the user's instruction (2 KB, matching no instruction pattern) far back behind reminders, and a tool
    /// result last — so every built-in rule up to <c>tool-loop</c> is evaluated.
    /// </summary>
    private static Case Synthetic100K()
    {
        var schema = JsonDocument.Parse("""{"type":"object","properties":{"command":{"type":"string"}}}""").RootElement;
        var filler = new StringBuilder();
        while (filler.Length < 38_000) filler.Append("You are an agent working with the user toward their goals. Use the tools available to you. ");
        var tools = Enumerable.Range(0, 20).Select(i => new ToolDefinition($"Tool{i}", new string('d', 1_000), schema)).ToList();
        var instruction = "Refactor the payment module so that retries use exponential backoff with jitter; keep the public API. "
            + string.Concat(Enumerable.Repeat("The module lives in src/payments and talks to the ledger through a queue. ", 25));
        var messages = new List<Message>
        {
            new(Role.User, [new TextBlock("<system-reminder>\n" + new string('r', 3_000) + "\n</system-reminder>"), new TextBlock(instruction)]),
        };
        for (var i = 0; i < 15; i++)
        {
            messages.Add(new(Role.Assistant, [new TextBlock("Working on it, step " + i), new ToolUseBlock("t" + i, "Tool1", schema)]));
            messages.Add(new(Role.User, [new ToolResultBlock("t" + i, [new TextBlock(new string('o', 2_400))], false)]));
        }
        var request = new ChatRequest { Model = "claude-sonnet-4-5", System = "x-anthropic-billing-header: cc_version=2.1.330; cc_entrypoint=sdk-cli;\n" + filler, Messages = messages, Tools = tools, Thinking = new(ThinkingMode.Enabled, 31_999) };
        var headers = new HeaderDictionary
        {
            ["user-agent"] = "claude-cli/2.1.330 (external, sdk-cli)",
            ["anthropic-beta"] = "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27",
            ["x-claude-code-session-id"] = "8f5787ed-2f63-4cff-808d-a21e9274f56f",
        };
        var bytes = (request.System?.Length ?? 0) + tools.Sum(t => t.Description!.Length + 80) + messages.Sum(m => m.Content.Sum(b => b switch
        {
            TextBlock t => t.Text.Length,
            ToolResultBlock r => r.Content.OfType<TextBlock>().Sum(x => x.Text.Length),
            _ => 40,
        }));
        return new("synthetic", request, headers, ClientApps.Recognize(headers), RequestTokenCounter.Count(request), bytes);
    }

    private static string RepositoryRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Gapura.slnx"))) return dir.FullName;
        throw new InvalidOperationException("Could not find the repository root (Gapura.slnx) for the recordings.");
    }
}
