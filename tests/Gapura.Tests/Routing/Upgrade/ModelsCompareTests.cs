using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Gapura.Cli;
using Gapura.Ledger;
using Gapura.Simulators.Kiro;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Routing.Upgrade;

/// <summary>
/// <c>gapura models compare</c> end to end: <see cref="GapuraCli.RunAsync"/> talking HTTP to a real in-process gateway in
/// front of the Kiro simulator. Requests go out one at a time in plan order (run, prompt, baseline then candidate), so
/// scripted simulator answers land on the request they were written for.
/// </summary>
public sealed class ModelsCompareTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>, IDisposable
{
    private const string Baseline = "claude-sonnet-4-5";
    private const string Candidate = "claude-haiku-4-5";
    private readonly string _dir = Directory.CreateTempSubdirectory("gapura-compare-").FullName;

    public void Dispose()
    {
        gateway.Kiro.ClearScenarios();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string Prompts(params string[] lines)
    {
        var path = Path.Combine(_dir, $"prompts-{Guid.NewGuid():N}.jsonl");
        File.WriteAllLines(path, lines);
        return path;
    }

    private string Out => Path.Combine(_dir, "report");

    private async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await GapuraCli.RunAsync(["models", "compare", .. args], output, error);
        return (code, output.ToString(), error.ToString());
    }

    private Task<(int Code, string Out, string Err)> CompareAsync(string prompts, params string[] extra)
        => RunAsync(["--baseline", Baseline, "--candidate", Candidate, "--prompts", prompts, "--url", gateway.BaseUrl, "--key", GatewayFixture.ApiKey, "--out", Out, .. extra]);

    private JsonElement Json() => JsonDocument.Parse(File.ReadAllText(Out + ".json")).RootElement;

    private string Markdown() => File.ReadAllText(Out + ".md");

    private static double Price(string model, JsonElement usage)
        => PriceTable.BuiltIn[model].CostOf(new Gapura.Conversations.Usage(usage.GetProperty("input_tokens").GetInt32(), usage.GetProperty("output_tokens").GetInt32()));

    [Fact]
    public async Task Both_models_answers_tokens_and_costs_are_in_both_files()
    {
        gateway.Kiro.Enqueue(KiroScenario.Text("Sonnet: the ", "answer is 42."));
        gateway.Kiro.Enqueue(KiroScenario.Text("Haiku: 42."));
        gateway.Kiro.Enqueue(KiroScenario.Text("Sonnet: Paris, | of course."));
        gateway.Kiro.Enqueue(KiroScenario.Text("Haiku: <b>Paris</b>"));
        var prompts = Prompts(
            "// two questions",
            """{"prompt": "What is six times seven?", "id": "maths"}""",
            "",
            """{"prompt": "Capital of France?", "system": "Be brief.", "max_tokens": 50}""");

        var (code, output, error) = await CompareAsync(prompts);

        Assert.True(code == 0, error);
        Assert.Equal(0, gateway.Kiro.PendingScenarios);
        var json = Json();
        Assert.Equal("gapura.models-compare/1", json.GetProperty("schema").GetString());
        var results = json.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(4, results.Count);
        Assert.Equal(["Sonnet: the answer is 42.", "Haiku: 42.", "Sonnet: Paris, | of course.", "Haiku: <b>Paris</b>"], results.Select(r => r.GetProperty("answer").GetString()));
        Assert.Equal(["baseline", "candidate", "baseline", "candidate"], results.Select(r => r.GetProperty("side").GetString()));
        Assert.Equal("maths", results[0].GetProperty("prompt_id").GetString());
        foreach (var r in results)
        {
            Assert.True(r.GetProperty("ok").GetBoolean());
            Assert.Equal(200, r.GetProperty("http_status").GetInt32());
            Assert.False(string.IsNullOrEmpty(r.GetProperty("request_id").GetString()));
            Assert.Equal("end_turn", r.GetProperty("stop_reason").GetString());
            var usage = r.GetProperty("usage");
            Assert.True(usage.GetProperty("input_tokens").GetInt32() > 0);
            Assert.True(usage.GetProperty("output_tokens").GetInt32() > 0);
            var model = r.GetProperty("side").GetString() == "baseline" ? "claude-sonnet-4-5" : "claude-haiku-4-5";
            Assert.Equal(Price(model, usage), r.GetProperty("cost_usd").GetDouble(), 12);
            Assert.True(r.GetProperty("ttft_ms").GetDouble() <= r.GetProperty("latency_ms").GetDouble() + 0.1);
        }
        // The gateway's own ledger saw the same tokens the report shows.
        var first = results[0];
        var record = gateway.UsageRecords[first.GetProperty("request_id").GetString()!];
        Assert.Equal(record.OutputTokens, first.GetProperty("usage").GetProperty("output_tokens").GetInt32());
        Assert.Equal(record.InputTokens, first.GetProperty("usage").GetProperty("input_tokens").GetInt32());

        // The prompt's own max_tokens and system reach the request; the default fills in the rest.
        var promptsJson = json.GetProperty("prompts").EnumerateArray().ToList();
        Assert.Equal(1024, promptsJson[0].GetProperty("request").GetProperty("max_tokens").GetInt32());
        Assert.Equal(50, promptsJson[1].GetProperty("request").GetProperty("max_tokens").GetInt32());
        Assert.Equal("Be brief.", promptsJson[1].GetProperty("request").GetProperty("system").GetString());
        Assert.Equal(4, promptsJson[1].GetProperty("line").GetInt32());

        var summary = json.GetProperty("summary");
        var baselineCost = results.Where((_, i) => i % 2 == 0).Sum(r => r.GetProperty("cost_usd").GetDouble());
        var candidateCost = results.Where((_, i) => i % 2 == 1).Sum(r => r.GetProperty("cost_usd").GetDouble());
        Assert.Equal(2, summary.GetProperty("baseline").GetProperty("requests").GetInt32());
        Assert.Equal(0, summary.GetProperty("candidate").GetProperty("errors").GetInt32());
        Assert.Equal(baselineCost, summary.GetProperty("baseline").GetProperty("cost_total_usd").GetDouble(), 12);
        Assert.Equal(candidateCost / baselineCost, summary.GetProperty("ratios").GetProperty("cost_total").GetDouble(), 9);
        var outputTokens = results.Where((_, i) => i % 2 == 1).Sum(r => r.GetProperty("usage").GetProperty("output_tokens").GetInt32());
        Assert.Equal(outputTokens, summary.GetProperty("candidate").GetProperty("output_tokens_total").GetInt64());

        var md = Markdown();
        Assert.Contains("# Model comparison: `claude-sonnet-4-5` → `claude-haiku-4-5`", md);
        Assert.Contains("Sonnet: the answer is 42.", md);
        Assert.Contains("Haiku: 42.", md);
        Assert.Contains(@"Sonnet: Paris, \| of course.", md);                 // a pipe must not split the table cell
        Assert.Contains("Haiku: &lt;b&gt;Paris&lt;/b&gt;", md);               // nor an answer's HTML become markup in a cell
        Assert.Contains("Haiku: <b>Paris</b>", md);                           // verbatim in the fenced full answer
        Assert.Contains("### Prompt 1 (maths) (line 2)", md);
        Assert.Contains("<details>", md);
        var u = first.GetProperty("usage");
        Assert.Contains($"| Tokens in / out | {u.GetProperty("input_tokens").GetInt32():N0} / {u.GetProperty("output_tokens").GetInt32():N0} |", md);
        Assert.Contains("| Errors | 0 (0.0%) | 0 (0.0%) |", md);

        // Progress goes to stderr, one line per request; stdout has the summary and the two paths.
        Assert.Contains("[1/4] baseline prompt 1 (maths) run 1: ", error);
        Assert.Contains("[4/4] candidate prompt 2 run 1: ", error);
        Assert.DoesNotContain("[1/4]", output);
        Assert.Contains("Latency p95", output);
        Assert.Contains("Total cost", output);
        Assert.EndsWith($"{Out}.md{Environment.NewLine}{Out}.json{Environment.NewLine}", output);
    }

    [Fact]
    public async Task An_upstream_error_for_one_model_is_reported_and_counted_not_a_crash()
    {
        gateway.Kiro.Enqueue(KiroScenario.Text("first baseline"));
        gateway.Kiro.Enqueue(KiroScenario.ImproperlyFormed());
        gateway.Kiro.Enqueue(KiroScenario.Text("second baseline"));
        gateway.Kiro.Enqueue(KiroScenario.Text("second candidate"));
        var prompts = Prompts("""{"prompt": "hello"}""");

        var (code, output, error) = await CompareAsync(prompts, "--runs", "2");

        Assert.True(code == 0, error);
        var json = Json();
        var failed = json.GetProperty("results").EnumerateArray().Single(r => !r.GetProperty("ok").GetBoolean());
        Assert.Equal("candidate", failed.GetProperty("side").GetString());
        Assert.Equal(1, failed.GetProperty("run").GetInt32());
        Assert.Equal(400, failed.GetProperty("http_status").GetInt32());
        Assert.StartsWith("HTTP 400: ", failed.GetProperty("error").GetString());
        Assert.Contains("Improperly formed request", failed.GetProperty("error").GetString());
        Assert.Equal(JsonValueKind.Null, failed.GetProperty("usage").ValueKind);

        var summary = json.GetProperty("summary");
        Assert.Equal(0.5, summary.GetProperty("candidate").GetProperty("error_rate").GetDouble());
        Assert.Equal(1, summary.GetProperty("candidate").GetProperty("errors").GetInt32());
        Assert.Equal(0, summary.GetProperty("baseline").GetProperty("error_rate").GetDouble());
        // No ratio against a baseline of zero errors.
        Assert.Equal(JsonValueKind.Null, summary.GetProperty("ratios").GetProperty("error_rate").ValueKind);
        // Latency statistics of the candidate cover its one successful request only.
        var ok = json.GetProperty("results").EnumerateArray().Single(r => r.GetProperty("side").GetString() == "candidate" && r.GetProperty("ok").GetBoolean());
        Assert.Equal(ok.GetProperty("latency_ms").GetDouble(), summary.GetProperty("candidate").GetProperty("latency_p50_ms").GetDouble());

        var md = Markdown();
        Assert.Contains("| Errors | 0 (0.0%) | 1 (50.0%) | — |", md);
        Assert.Contains("### Errors", md);
        Assert.Contains("- candidate `claude-haiku-4-5`, prompt 1, run 1: HTTP 400: ", md);
        Assert.Contains("| Run 2 |", md);
        Assert.Contains("second candidate", md);
        Assert.Contains("[2/4] candidate prompt 1 run 1: error after ", error);
        Assert.Contains("1 of 4 requests failed", error);
    }

    [Fact]
    public async Task A_failure_mid_stream_is_an_error_that_keeps_the_partial_answer()
    {
        gateway.Kiro.Enqueue(KiroScenario.Text("fine"));
        gateway.Kiro.Enqueue(new KiroScenario
        {
            Frames = [KiroFrame.Text("half an "), KiroFrame.Text("answer"), KiroFrame.Metering(), KiroFrame.ContextUsage(1)],
            CutInsideFrame = 1,
            Split = KiroSplit.Whole,
        });

        var (code, _, error) = await CompareAsync(Prompts("""{"prompt": "hi"}"""));

        Assert.True(code == 0, error);
        var candidate = Json().GetProperty("results").EnumerateArray().Single(r => r.GetProperty("side").GetString() == "candidate");
        Assert.False(candidate.GetProperty("ok").GetBoolean());
        Assert.Equal(200, candidate.GetProperty("http_status").GetInt32());
        Assert.StartsWith("stream error", candidate.GetProperty("error").GetString());
        Assert.Equal("half an ", candidate.GetProperty("answer").GetString());
        Assert.Equal(1.0, Json().GetProperty("summary").GetProperty("candidate").GetProperty("error_rate").GetDouble());
    }

    [Fact]
    public async Task A_model_without_a_price_has_no_cost_rather_than_zero()
    {
        var prompts = Prompts("""{"prompt": "hi"}""");

        var (code, _, error) = await RunAsync("--baseline", Baseline, "--candidate", "qwen3-coder-next", "--prompts", prompts,
            "--url", gateway.BaseUrl, "--key", GatewayFixture.ApiKey, "--out", Out);

        Assert.True(code == 0, error);
        var json = Json();
        var candidate = json.GetProperty("results").EnumerateArray().Single(r => r.GetProperty("side").GetString() == "candidate");
        Assert.True(candidate.GetProperty("ok").GetBoolean(), candidate.GetProperty("error").ToString());
        Assert.StartsWith(Gapura.Simulators.Kiro.KiroDefaultResponder.Greeting, candidate.GetProperty("answer").GetString());
        Assert.Equal(JsonValueKind.Null, candidate.GetProperty("cost_usd").ValueKind);
        var summary = json.GetProperty("summary");
        Assert.Equal(JsonValueKind.Null, summary.GetProperty("candidate").GetProperty("cost_total_usd").ValueKind);
        Assert.Equal(1, summary.GetProperty("candidate").GetProperty("unpriced_requests").GetInt32());
        Assert.Equal(JsonValueKind.Null, summary.GetProperty("ratios").GetProperty("cost_total").ValueKind);
        Assert.True(summary.GetProperty("baseline").GetProperty("cost_total_usd").GetDouble() > 0);
        Assert.Matches(@"\| Total cost \| \$[0-9.]+ \| — \| — \|", Markdown());
    }

    [Fact]
    public async Task A_messages_body_with_tools_is_sent_as_is_and_tool_calls_are_summarised()
    {
        var prompts = Prompts("""
            {"id": 7, "model": "ignored", "stream": false, "system": "You are terse.", "tools": [{"name": "read_file", "description": "Read a file", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}], "messages": [{"role": "user", "content": [{"type": "text", "text": "Look: [[tool:read_file {\"path\":\"a.txt\"}]]"}]}]}
            """);

        var (code, _, error) = await CompareAsync(prompts, "--max-tokens", "300");

        Assert.True(code == 0, error);
        var results = Json().GetProperty("results").EnumerateArray().ToList();
        Assert.All(results, r =>
        {
            Assert.Equal("7", r.GetProperty("prompt_id").GetString());
            Assert.Equal("tool_use", r.GetProperty("stop_reason").GetString());
            var call = r.GetProperty("tool_calls").EnumerateArray().Single();
            Assert.Equal("read_file", call.GetProperty("name").GetString());
            Assert.Equal("a.txt", JsonDocument.Parse(call.GetProperty("input").GetString()!).RootElement.GetProperty("path").GetString());
        });
        Assert.Contains("[tool] read_file", Markdown());
        // The command chose the model and streaming; the file's leftovers did not reach the gateway.
        var request = Json().GetProperty("prompts")[0].GetProperty("request");
        Assert.False(request.TryGetProperty("model", out _));
        Assert.False(request.TryGetProperty("stream", out _));
        Assert.Equal(300, request.GetProperty("max_tokens").GetInt32());
    }

    [Theory]
    [InlineData("""{"prompt": "ok"}|{"prompt": "ok"}|{"prompt": }""", "line 3", "not valid JSON")]
    [InlineData("""# comment|{"prompt": ""}""", "line 2", "non-empty string")]
    [InlineData("""{"prompt": "a", "temperature": 0}""", "line 1", "unknown field \"temperature\"")]
    [InlineData("""{"messages": []}""", "line 1", "empty")]
    [InlineData("""{"prompt": "a", "messages": [{"role": "user", "content": "b"}]}""", "line 1", "not both")]
    [InlineData("""//x||["prompt"]""", "line 3", "JSON object")]
    [InlineData("""{"prompt": "a", "max_tokens": -5}""", "line 1", "max_tokens")]
    [InlineData("""{"system": "no question"}""", "line 1", "expected")]
    public async Task A_bad_prompts_file_exits_2_naming_the_line_before_anything_is_sent(string content, string line, string why)
    {
        var calls = gateway.Kiro.ChatCalls;
        var (code, output, error) = await CompareAsync(Prompts(content.Split('|')));

        Assert.Equal(2, code);
        Assert.Contains(line, error);
        Assert.Contains(why, error);
        Assert.Equal("", output);
        Assert.Equal(calls, gateway.Kiro.ChatCalls);
        Assert.False(File.Exists(Out + ".md"));
    }

    [Fact]
    public async Task An_empty_or_missing_prompts_file_exits_2()
    {
        var (code, _, error) = await CompareAsync(Prompts("", "// nothing here", "#"));
        Assert.Equal(2, code);
        Assert.Contains("no prompts", error);

        (code, _, error) = await CompareAsync(Path.Combine(_dir, "missing.jsonl"));
        Assert.Equal(2, code);
        Assert.Contains("does not exist", error);
    }

    [Theory]
    [InlineData("--runs", "0", "--runs must be a whole number from 1 to 20")]
    [InlineData("--runs", "21", "--runs")]
    [InlineData("--concurrency", "9", "--concurrency must be a whole number from 1 to 8")]
    [InlineData("--timeout-seconds", "abc", "--timeout-seconds")]
    [InlineData("--url", "ftp://x", "--url must be")]
    [InlineData("stray", "", "unknown argument 'stray'")]
    public async Task Bad_options_exit_2(string option, string value, string message)
    {
        List<string> args = ["--baseline", Baseline, "--candidate", Candidate, "--prompts", Prompts("""{"prompt": "hi"}"""), "--key", GatewayFixture.ApiKey, "--out", Out];
        if (option != "--url") args.AddRange(["--url", gateway.BaseUrl]);
        args.Add(option);
        if (value.Length > 0) args.Add(value);
        var (code, _, error) = await RunAsync([.. args]);
        Assert.Equal(2, code);
        Assert.Contains(message, error);
    }

    [Fact]
    public async Task Missing_required_options_exit_2()
    {
        var (code, _, error) = await RunAsync("--baseline", Baseline, "--prompts", "x.jsonl");
        Assert.Equal(2, code);
        Assert.Contains("--candidate is required", error);
    }

    [Fact]
    public async Task A_model_the_gateway_does_not_know_exits_2_before_anything_is_sent()
    {
        var calls = gateway.Kiro.ChatCalls;
        var (code, _, error) = await RunAsync("--baseline", Baseline, "--candidate", "no-such-model-9", "--prompts", Prompts("""{"prompt": "hi"}"""),
            "--url", gateway.BaseUrl, "--key", GatewayFixture.ApiKey, "--out", Out);
        Assert.Equal(2, code);
        Assert.Contains("no-such-model-9", error);
        Assert.Equal(calls, gateway.Kiro.ChatCalls);
    }

    [Fact]
    public async Task An_unreachable_gateway_exits_1_and_says_what_to_do()
    {
        // A port that was free a moment ago: nothing listens there.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var (code, output, error) = await RunAsync("--baseline", Baseline, "--candidate", Candidate, "--prompts", Prompts("""{"prompt": "hi"}"""),
            "--url", $"http://127.0.0.1:{port}", "--key", GatewayFixture.ApiKey, "--out", Out);

        Assert.Equal(1, code);
        Assert.Contains("cannot reach the gateway", error);
        Assert.Contains("gapura serve", error);
        Assert.Equal("", output);
        Assert.False(File.Exists(Out + ".json"));
    }

    [Fact]
    public async Task A_refused_key_exits_1_and_says_how_to_give_one()
    {
        var (code, _, error) = await RunAsync("--baseline", Baseline, "--candidate", Candidate, "--prompts", Prompts("""{"prompt": "hi"}"""),
            "--url", gateway.BaseUrl, "--key", "not-the-key-0000000000", "--out", Out);

        Assert.Equal(1, code);
        Assert.Contains("refused the API key", error);
        Assert.Contains("--key", error);
        Assert.DoesNotContain("not-the-key-0000000000", error);
    }

    [Fact]
    public async Task Without_key_the_first_run_key_file_beside_the_database_is_used()
    {
        if (Environment.GetEnvironmentVariable(ModelsCommand.KeyVariable) is { Length: > 0 }) return; // the environment would win
        var data = Directory.CreateDirectory(Path.Combine(_dir, "data")).FullName;
        await File.WriteAllTextAsync(Path.Combine(data, "api-key"), GatewayFixture.ApiKey + "\n");

        var (code, _, error) = await RunAsync("--baseline", Baseline, "--candidate", Candidate, "--prompts", Prompts("""{"prompt": "hi"}"""),
            "--url", gateway.BaseUrl, "--out", Out, $"--Storage:Path={Path.Combine(data, "gapura.db")}");

        Assert.True(code == 0, error);
        Assert.Equal(2, Json().GetProperty("results").GetArrayLength());
    }

    [Fact]
    public async Task Concurrent_requests_all_finish_and_keep_plan_order_in_the_report()
    {
        var (code, _, error) = await CompareAsync(Prompts("""{"prompt": "one"}""", """{"prompt": "two"}""", """{"prompt": "three"}"""),
            "--runs", "2", "--concurrency", "4");

        Assert.True(code == 0, error);
        var results = Json().GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(12, results.Count);
        Assert.All(results, r => Assert.True(r.GetProperty("ok").GetBoolean()));
        Assert.Equal(results.OrderBy(r => r.GetProperty("prompt").GetInt32()).ThenBy(r => r.GetProperty("run").GetInt32()).Select(r => r.GetProperty("request_id").GetString()),
            results.Select(r => r.GetProperty("request_id").GetString()));
        Assert.Equal(12, error.Split('\n').Count(l => l.StartsWith('[')));
        Assert.EndsWith("three", results[^1].GetProperty("answer").GetString());
    }
}
