using System.Text;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Ledger;
using Gapura.Routing;
using Gapura.Routing.Tasks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;

namespace Gapura.Tests.Routing.Tasks;

public sealed class TaskRulesTests
{
    private static readonly JsonElement EmptySchema = JsonDocument.Parse("{}").RootElement;

    private static ChatRequest Request(string userText = "hello", bool tools = false, string? system = null, string model = "claude-sonnet-4-5",
        ThinkingRequest? thinking = null, IReadOnlyList<Message>? messages = null)
        => new()
        {
            Model = model,
            System = system,
            Messages = messages ?? [Message.Text(Role.User, userText)],
            Tools = tools ? [new ToolDefinition("Bash", "run", EmptySchema)] : [],
            Thinking = thinking,
        };

    private static RequestFacts Facts(ChatRequest request, int tokens = 100, string client = "other", params (string Name, string Value)[] headers)
    {
        var h = new HeaderDictionary();
        foreach (var (name, value) in headers) h[name] = value;
        return RequestFacts.From(request, h, new ClientApp(client, null, null), tokens);
    }

    private static IReadOnlyList<TaskRule> Parse(string json) => TaskRule.ParseList(JsonDocument.Parse(json).RootElement, "rules");

    private static TaskClassification Classify(string rulesJson, RequestFacts facts, bool builtIns = false)
        => TaskRules.Create(Parse(rulesJson), builtIns, 60_000).Classify(facts);

    // ------------------------------------------------------------ conditions

    [Fact]
    public void Client_condition_takes_a_name_or_a_list()
    {
        const string rules = """[{"name":"a","task":"codeReview","client":["codex-cli","opencode"]},{"name":"b","task":"specGeneration","client":"claude-code"}]""";
        Assert.Equal(new TaskClassification("codeReview", "a"), Classify(rules, Facts(Request(), client: "opencode")));
        Assert.Equal(new TaskClassification("specGeneration", "b"), Classify(rules, Facts(Request(), client: "claude-code")));
        Assert.Equal("default-chat", Classify(rules, Facts(Request(), client: "curl")).Rule);
    }

    [Fact]
    public void Model_condition_is_a_regex_over_the_requested_model()
    {
        const string rules = """[{"name":"haiku","task":"background","model":"(?i)haiku"}]""";
        Assert.Equal("haiku", Classify(rules, Facts(Request(model: "claude-HAIKU-4-5"))).Rule);
        Assert.Equal("default-chat", Classify(rules, Facts(Request(model: "gpt-5"))).Rule);
    }

    [Fact]
    public void Tools_condition_tests_declared_tools()
    {
        const string rules = """[{"name":"no-tools","task":"hookActions","tools":false}]""";
        Assert.Equal("no-tools", Classify(rules, Facts(Request())).Rule);
        Assert.Equal("default-tools", Classify(rules, Facts(Request(tools: true))).Rule);
    }

    [Fact]
    public void Last_turn_tool_result_condition_looks_at_the_last_message_only()
    {
        var loop = Request(tools: true, messages:
        [
            Message.Text(Role.User, "fix it"),
            new Message(Role.Assistant, [new ToolUseBlock("t1", "Bash", EmptySchema)]),
            new Message(Role.User, [new ToolResultBlock("t1", [new TextBlock("ok")], false)]),
        ]);
        const string rules = """[{"name":"loop","task":"codeReview","lastTurnToolResult":true}]""";
        Assert.Equal("loop", Classify(rules, Facts(loop)).Rule);
        Assert.Equal("default-tools", Classify(rules, Facts(Request("fix it", tools: true))).Rule);
    }

    [Fact]
    public void Thinking_condition_counts_enabled_adaptive_and_an_effort()
    {
        const string rules = """[{"name":"deep","task":"specGeneration","thinking":true}]""";
        Assert.Equal("deep", Classify(rules, Facts(Request(thinking: new(ThinkingMode.Enabled, 1024)))).Rule);
        Assert.Equal("deep", Classify(rules, Facts(Request(thinking: new(ThinkingMode.Adaptive)))).Rule);
        Assert.Equal("deep", Classify(rules, Facts(Request(thinking: new(ThinkingMode.Disabled, Effort: "high")))).Rule);
        Assert.Equal("default-chat", Classify(rules, Facts(Request(thinking: new(ThinkingMode.Disabled)))).Rule);
        Assert.Equal("default-chat", Classify(rules, Facts(Request())).Rule);
    }

    [Fact]
    public void Images_condition_sees_images_in_the_latest_user_turn_and_in_its_tool_results_only()
    {
        var image = new ImageBlock("image/png", "AAAA");
        const string rules = """[{"name":"img","task":"vision","images":true}]""";
        Assert.Equal("img", Classify(rules, Facts(Request(messages: [new Message(Role.User, [image, new TextBlock("what is it?")])]))).Rule);
        Assert.Equal("img", Classify(rules, Facts(Request(messages: [new Message(Role.User, [new ToolResultBlock("t", [image], false)])]))).Rule);
        // An image earlier in the conversation does not make the latest turn a vision request.
        var earlier = Request(messages: [new Message(Role.User, [image]), Message.Text(Role.Assistant, "a cat"), Message.Text(Role.User, "thanks")]);
        Assert.Equal("default-chat", Classify(rules, Facts(earlier)).Rule);
    }

    [Fact]
    public void Token_conditions_bound_the_estimated_input_inclusively()
    {
        const string rules = """[{"name":"mid","task":"longContext","minInputTokens":1000,"maxInputTokens":2000}]""";
        Assert.Equal("mid", Classify(rules, Facts(Request(), tokens: 1000)).Rule);
        Assert.Equal("mid", Classify(rules, Facts(Request(), tokens: 2000)).Rule);
        Assert.Equal("default-chat", Classify(rules, Facts(Request(), tokens: 999)).Rule);
        Assert.Equal("default-chat", Classify(rules, Facts(Request(), tokens: 2001)).Rule);
    }

    [Fact]
    public void System_condition_is_a_regex_over_the_system_prompt()
    {
        const string rules = """[{"name":"sys","task":"hookActions","system":"^You are a hook"}]""";
        Assert.Equal("sys", Classify(rules, Facts(Request(system: "You are a hook evaluator."))).Rule);
        Assert.Equal("default-chat", Classify(rules, Facts(Request(system: "Say: You are a hook"))).Rule);
        Assert.Equal("default-chat", Classify(rules, Facts(Request())).Rule);
    }

    [Fact]
    public void Last_user_text_skips_reminders_and_tool_results_so_a_tool_loop_keeps_its_instruction()
    {
        var loop = Request(tools: true, messages:
        [
            new Message(Role.User, [new TextBlock("<system-reminder>review everything</system-reminder>"), new TextBlock("Explain calc.py")]),
            new Message(Role.Assistant, [new ToolUseBlock("t1", "Read", EmptySchema)]),
            new Message(Role.User, [new ToolResultBlock("t1", [new TextBlock("def add(): ...")], false), new TextBlock("<system-reminder>x</system-reminder>")]),
        ]);
        var facts = Facts(loop);
        Assert.Equal("Explain calc.py", facts.LastUserText);
        Assert.Equal("explain", Classify("""[{"name":"explain","task":"codeExplanation","lastUserText":"(?i)^explain"}]""", facts).Rule);
        Assert.Equal("codeExplanation", TaskRules.Create([], true, 60_000).Classify(facts).Task);
    }

    [Fact]
    public void All_conditions_of_a_rule_must_hold()
    {
        const string rules = """[{"name":"both","task":"codeReview","client":"codex-cli","lastUserText":"review"}]""";
        Assert.Equal("both", Classify(rules, Facts(Request("please review"), client: "codex-cli")).Rule);
        Assert.Equal("default-chat", Classify(rules, Facts(Request("please review"), client: "opencode")).Rule);
        Assert.Equal("default-chat", Classify(rules, Facts(Request("hello"), client: "codex-cli")).Rule);
    }

    // ------------------------------------------------------------ order

    [Fact]
    public void Order_is_header_then_configured_in_order_then_built_in_then_defaults()
    {
        var rules = TaskRules.Create(Parse("""[{"name":"first","task":"specGeneration","lastUserText":"review"},{"name":"second","task":"hookActions","lastUserText":"review"}]"""), true, 60_000);
        Assert.Equal(new TaskClassification("specGeneration", "first"), rules.Classify(Facts(Request("review this"))));
        Assert.Equal(new TaskClassification("documentationUpdate", "header"), rules.Classify(Facts(Request("review this"), headers: ("x-gapura-task", "DocumentationUpdate"))));
        Assert.Equal(new TaskClassification("codeReview", "review-request"), TaskRules.Create([], true, 60_000).Classify(Facts(Request("review this"))));
        Assert.Equal(new TaskClassification("taskExecution", "default-tools"), TaskRules.Create([], false, 60_000).Classify(Facts(Request("review this", tools: true))));
        Assert.Equal(new TaskClassification("interactiveChat", "default-chat"), TaskRules.Create([], false, 60_000).Classify(Facts(Request("review this"))));
    }

    [Fact]
    public void Built_in_long_context_uses_the_threshold_given()
    {
        var rules = TaskRules.Create([], true, 1000);
        Assert.Equal("long-context", rules.Classify(Facts(Request("make it so", tools: true), tokens: 1001)).Rule);
        Assert.NotEqual("long-context", rules.Classify(Facts(Request("make it so", tools: true), tokens: 1000)).Rule);
    }

    [Fact]
    public void An_unknown_task_header_is_a_bad_request_naming_the_header_and_the_tasks()
    {
        var e = Assert.Throws<GatewayException>(() => TaskRules.Create([], true, 60_000).Classify(Facts(Request(), headers: ("x-gapura-task", "poetry"))));
        Assert.Equal(ErrorKind.InvalidRequest, e.Kind);
        Assert.Contains("x-gapura-task", e.Message);
        Assert.Contains("poetry", e.Message);
        foreach (var task in TaskTypes.All) Assert.Contains(task, e.Message);
    }

    [Fact]
    public void A_blank_task_header_is_no_header()
        => Assert.Equal("default-chat", TaskRules.Create([], false, 60_000).Classify(Facts(Request(), headers: ("x-gapura-task", "  "))).Rule);

    [Fact]
    public void Explain_evaluates_every_rule_in_order_and_agrees_with_classify()
    {
        var rules = TaskRules.Create(Parse("""[{"name":"mine","task":"codeReview","client":"opencode"}]"""), true, 60_000);
        var facts = Facts(Request("Explain this", tools: true));
        var explained = rules.Explain(facts);
        Assert.Equal(["header", "mine", .. rules.All.Skip(1).Select(r => r.Name), "default-tools", "default-chat"], explained.Select(e => e.Rule));
        Assert.Contains("client is other", explained[1].Why);
        var first = explained.First(e => e.Matched);
        Assert.Equal(rules.Classify(facts), new TaskClassification(first.Task, first.Rule));
        Assert.Contains("matches", first.Why);
    }

    // ------------------------------------------------------------ parsing

    [Theory]
    [InlineData("""[{"name":"a","task":"codeReview","colour":"red"}]""", "rules[0].colour", "unknown rule field")]
    [InlineData("""[{"name":"a","task":"poetry"}]""", "rules[0].task", "unknown task")]
    [InlineData("""[{"task":"codeReview"}]""", "rules[0].name", "needs a name")]
    [InlineData("""[{"name":"a"}]""", "rules[0].task", "needs a task")]
    [InlineData("""[{"name":"a","task":"codeReview"},{"name":"b","task":"codeReview","tools":"yes"}]""", "rules[1].tools", "true or false")]
    [InlineData("""[{"name":"a","task":"codeReview","minInputTokens":-5}]""", "rules[0].minInputTokens", "whole number")]
    [InlineData("""[{"name":"a","task":"codeReview","minInputTokens":10,"maxInputTokens":5}]""", "rules[0].maxInputTokens", "below")]
    [InlineData("""[{"name":"a","task":"codeReview","client":[]}]""", "rules[0].client", "client")]
    [InlineData("""[{"name":"a","task":"codeReview"},{"name":"A","task":"codeReview"}]""", "rules[1].name", "already named")]
    [InlineData("""[{"name":"a,b","task":"codeReview"}]""", "rules[0].name", "commas")]
    [InlineData("""[{"name":"a","task":"codeReview","lastUserText":"(unclosed"}]""", "rules[0].lastUserText", "does not compile")]
    [InlineData("""[{"name":"a","task":"codeReview","system":"(a)\\1"}]""", "rules[0].system", "backreferences")]
    [InlineData("""[{"name":"a","task":"codeReview","model":"claude(?=-opus)"}]""", "rules[0].model", "lookahead")]
    [InlineData("""[{"name":"a","task":"codeReview","lastUserText":""}]""", "rules[0].lastUserText", "empty")]
    [InlineData("""[3]""", "rules[0]", "object")]
    [InlineData("""{"name":"a"}""", "rules", "array")]
    public void Parse_errors_name_the_field(string json, string field, string message)
    {
        var e = Assert.Throws<RoutingConfigException>(() => Parse(json));
        Assert.Equal(field, e.Field);
        Assert.Contains(message, e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Field_names_and_tasks_are_case_insensitive_and_tasks_canonical()
    {
        var rule = Assert.Single(Parse("""[{"Name":"a","TASK":"codereview","LastUserText":"x"}]"""));
        Assert.Equal("codeReview", rule.Task);
    }

    [Fact]
    public void WriteTo_round_trips_with_ParseList()
    {
        const string json = """[{"name":"all","task":"specGeneration","client":["claude-code","opencode"],"model":"(?i)opus","tools":true,"last_turn_tool_result":false,"thinking":true,"images":false,"min_input_tokens":10,"max_input_tokens":20000,"system":"agent","last_user_text":"(?i)\\bspec\\b"},{"name":"one","task":"background","client":"codex-cli"}]""";
        var rules = Parse(json);
        var written = Write(rules);
        Assert.Equal(JsonDocument.Parse(json).RootElement.GetRawText(), written);
        Assert.Equal(written, Write(Parse(written)));
        // The seed's and older definitions' camelCase reads as the same rules, and is written back in snake_case.
        var camel = json.Replace("last_turn_tool_result", "lastTurnToolResult").Replace("min_input_tokens", "minInputTokens")
            .Replace("max_input_tokens", "maxInputTokens").Replace("last_user_text", "lastUserText");
        Assert.Equal(written, Write(Parse(camel)));
    }

    private static string Write(IReadOnlyList<TaskRule> rules)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            foreach (var r in rules) r.WriteTo(writer);
            writer.WriteEndArray();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    [Fact]
    public void FromConfiguration_reads_an_array_of_rules_in_index_order()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Routing:Rules:1:name"] = "second",
            ["Routing:Rules:1:task"] = "codeReview",
            ["Routing:Rules:1:client:0"] = "codex-cli",
            ["Routing:Rules:1:client:1"] = "opencode",
            ["Routing:Rules:0:name"] = "first",
            ["Routing:Rules:0:task"] = "background",
            ["Routing:Rules:0:tools"] = "false",
            ["Routing:Rules:0:maxInputTokens"] = "500",
            ["Routing:Rules:0:lastUserText"] = "(?i)title",
        }).Build();
        var rules = TaskRule.FromConfiguration(config.GetSection("Routing:Rules"));
        Assert.Equal(["first", "second"], rules.Select(r => r.Name));
        var classifier = TaskRules.Create(rules, false, 60_000);
        Assert.Equal("first", classifier.Classify(Facts(Request("make a title"), tokens: 400)).Rule);
        Assert.Equal("second", classifier.Classify(Facts(Request("hi"), client: "opencode")).Rule);
        Assert.Equal("""{"name":"second","task":"codeReview","client":["codex-cli","opencode"]}""", Write(rules)[(Write(rules).IndexOf("},{", StringComparison.Ordinal) + 2)..^1]);
    }

    [Theory]
    [InlineData("Routing:Rules:0:colour", "red", "Routing:Rules:0:colour")]
    [InlineData("Routing:Rules:0:lastUserText", "(a)\\1", "Routing:Rules:0:lastUserText")]
    [InlineData("Routing:Rules:0:thinking", "maybe", "Routing:Rules:0:thinking")]
    [InlineData("Routing:Rules:0:minInputTokens", "lots", "Routing:Rules:0:minInputTokens")]
    public void FromConfiguration_errors_name_the_configuration_key(string key, string value, string field)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Routing:Rules:0:name"] = "r",
            ["Routing:Rules:0:task"] = "codeReview",
            [key] = value,
        }).Build();
        var e = Assert.Throws<RoutingConfigException>(() => TaskRule.FromConfiguration(config.GetSection("Routing:Rules")));
        Assert.Equal(field, e.Field);
    }

    [Fact]
    public void A_configured_regex_is_linear_time_so_a_classic_catastrophic_pattern_stays_fast()
    {
        var rules = TaskRules.Create(Parse("""[{"name":"evil","task":"codeReview","lastUserText":"^(a+)+$"}]"""), false, 60_000);
        var text = new string('a', 50_000) + "!";
        var started = System.Diagnostics.Stopwatch.StartNew();
        Assert.Equal("default-chat", rules.Classify(Facts(Request(text))).Rule);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(2), $"took {started.Elapsed}");
    }

    // ------------------------------------------------------------ built-in shapes

    [Fact]
    public void Built_in_client_shapes()
    {
        var rules = TaskRules.Create([], true, 60_000);
        Assert.Equal("claude-code-structured-call", rules.Classify(Facts(Request("Write a title for: fix the login bug", system: "Generate a short title"),
            client: ClientApps.ClaudeCode, headers: ("anthropic-beta", "claude-code-20250219,structured-outputs-2025-12-15"))).Rule);
        Assert.Equal("claude-code-subagent", rules.Classify(Facts(Request("List the files.", tools: true), client: ClientApps.ClaudeCode,
            headers: ("x-claude-code-agent-id", "a1"))).Rule);
        Assert.Equal("claude-code-summary", rules.Classify(Facts(Request("...", system: "You are a helpful AI assistant tasked with summarizing conversations."),
            client: ClientApps.ClaudeCode)).Rule);
        Assert.Equal("codex-compact", rules.Classify(Facts(Request("x", tools: true), client: ClientApps.CodexCli,
            headers: ("x-codex-turn-metadata", """{"session_id":"s","request_kind":"compaction"}"""))).Rule);
        Assert.Equal("codex-review", rules.Classify(Facts(Request("Look at it", tools: true), client: ClientApps.CodexCli,
            headers: ("x-openai-subagent", "review"))).Rule);
        Assert.Equal("opencode-compact", rules.Classify(Facts(Request("<template>… Do not mention the summary process or that context was compacted."),
            client: ClientApps.OpenCode)).Rule);
        // The same shapes from another client are not the client's housekeeping.
        Assert.Equal("default-chat", rules.Classify(Facts(Request("x", system: "You are a title generator"), client: ClientApps.ClaudeCode)).Rule);
    }
}
