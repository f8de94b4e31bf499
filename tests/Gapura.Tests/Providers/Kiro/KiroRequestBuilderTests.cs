using System.Text.Json;
using Gapura.Conversations;
using Gapura.Providers.Kiro;

namespace Gapura.Tests.Providers.Kiro;

public class KiroRequestBuilderTests
{
    private const string Model = "claude-sonnet-4.5";
    private const string ConversationId = "7f1b2c3d-0000-4000-8000-000000000001";
    private const string Arn = "arn:aws:codewhisperer:us-east-1:123456789012:profile/ABC";
    private const string TinyPng = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==";
    private static readonly string LongToolName = "mcp__very_long_server_name_for_testing__" + new string('x', 40) + "_tool";

    // ---------- helpers ----------

    private static (KiroRequest Request, JsonElement Root) Build(ChatRequest request, KiroOptions? options = null,
        string? profileArn = null, int modelMaxOutput = 64_000)
    {
        var built = KiroRequestBuilder.Build(request, Model, modelMaxOutput, options ?? new KiroOptions(), profileArn, ConversationId);
        var root = JsonDocument.Parse(built.Body).RootElement.Clone();
        AssertKiroInvariants(root);
        return (built, root);
    }

    private static ChatRequest Request(params Message[] messages) => new() { Model = "claude-sonnet-4-5", Messages = messages };

    private static Message User(string text) => Message.Text(Role.User, text);
    private static Message Assistant(string text) => Message.Text(Role.Assistant, text);
    private static Message Msg(Role role, params ContentBlock[] blocks) => new(role, blocks);
    private static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();
    private static ToolDefinition Tool(string name, string? description = "does things", string schema = """{"type":"object","properties":{}}""")
        => new(name, description, Json(schema));
    private static ToolUseBlock Use(string id, string name, string input = """{"x":1}""") => new(id, name, Json(input));
    private static ToolResultBlock Result(string id, string text, bool isError = false) => new(id, [new TextBlock(text)], isError);

    private static JsonElement State(JsonElement root) => root.GetProperty("conversationState");
    private static JsonElement Current(JsonElement root) => State(root).GetProperty("currentMessage").GetProperty("userInputMessage");
    private static string CurrentContent(JsonElement root) => Current(root).GetProperty("content").GetString()!;
    private static JsonElement[] History(JsonElement root)
        => State(root).TryGetProperty("history", out var h) ? [.. h.EnumerateArray()] : [];
    private static JsonElement HUser(JsonElement entry) => entry.GetProperty("userInputMessage");
    private static JsonElement HAssistant(JsonElement entry) => entry.GetProperty("assistantResponseMessage");
    private static JsonElement[] CurrentTools(JsonElement root)
        => Current(root).TryGetProperty("userInputMessageContext", out var c) && c.TryGetProperty("tools", out var t) ? [.. t.EnumerateArray()] : [];
    private static JsonElement Spec(JsonElement tool) => tool.GetProperty("toolSpecification");

    /// <summary>The rules of kiro.md §3 that hold for every body, checked on every test's output.</summary>
    private static void AssertKiroInvariants(JsonElement root)
    {
        var state = State(root);
        Assert.Equal("MANUAL", state.GetProperty("chatTriggerType").GetString());
        Assert.Equal(ConversationId, state.GetProperty("conversationId").GetString());

        if (state.TryGetProperty("history", out var historyElement))
            Assert.NotEqual(0, historyElement.GetArrayLength()); // absent when empty, never []
        var history = History(root);
        Assert.True(history.Length % 2 == 0, "history must end with an assistant");
        JsonElement? previousAssistant = null;
        for (var i = 0; i < history.Length; i++)
        {
            if (i % 2 == 0)
            {
                var user = HUser(history[i]);
                Assert.False(history[i].TryGetProperty("assistantResponseMessage", out _));
                AssertUser(user, previousAssistant, isCurrent: false);
            }
            else
            {
                var assistant = HAssistant(history[i]);
                Assert.False(string.IsNullOrWhiteSpace(assistant.GetProperty("content").GetString()));
                previousAssistant = assistant;
            }
        }
        AssertUser(Current(root), previousAssistant, isCurrent: true);
    }

    private static void AssertUser(JsonElement user, JsonElement? previousAssistant, bool isCurrent)
    {
        Assert.False(string.IsNullOrWhiteSpace(user.GetProperty("content").GetString()));
        Assert.Equal(Model, user.GetProperty("modelId").GetString());
        Assert.Equal("AI_EDITOR", user.GetProperty("origin").GetString());
        if (!user.TryGetProperty("userInputMessageContext", out var context)) return;
        if (!isCurrent) Assert.False(context.TryGetProperty("tools", out _), "tools only on currentMessage");
        if (!context.TryGetProperty("toolResults", out var results)) return;
        var useIds = previousAssistant is JsonElement a && a.TryGetProperty("toolUses", out var uses)
            ? uses.EnumerateArray().Select(u => u.GetProperty("toolUseId").GetString()).ToHashSet()
            : [];
        foreach (var result in results.EnumerateArray())
        {
            Assert.Contains(result.GetProperty("toolUseId").GetString(), useIds);
            Assert.Contains(result.GetProperty("status").GetString(), new[] { "success", "error" });
            Assert.False(string.IsNullOrWhiteSpace(result.GetProperty("content")[0].GetProperty("text").GetString()));
        }
    }

    private static IEnumerable<string> AllPropertyNames(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Object)
            foreach (var p in element.EnumerateObject())
            {
                yield return p.Name;
                foreach (var n in AllPropertyNames(p.Value)) yield return n;
            }
        else if (element.ValueKind == JsonValueKind.Array)
            foreach (var item in element.EnumerateArray())
                foreach (var n in AllPropertyNames(item)) yield return n;
    }

    // ---------- body shape ----------

    [Fact]
    public void A_single_user_message_gives_the_documented_shape_without_history()
    {
        var (built, root) = Build(Request(User("hello")), profileArn: Arn);

        var current = Current(root);
        Assert.Equal("hello", current.GetProperty("content").GetString());
        Assert.False(current.TryGetProperty("images", out _));
        Assert.False(current.TryGetProperty("userInputMessageContext", out _));
        Assert.False(State(root).TryGetProperty("history", out _));
        Assert.Equal(Arn, root.GetProperty("profileArn").GetString());
        Assert.Equal(0, built.TrimmedHistoryMessages);
        Assert.False(built.ThinkingInjected);
        Assert.Empty(built.ToolNameAliases);
    }

    [Theory]
    [InlineData(false, Arn)]
    [InlineData(true, null)]
    [InlineData(true, "  ")]
    public void ProfileArn_is_left_out_when_disabled_or_unknown(bool send, string? arn)
    {
        var (_, root) = Build(Request(User("hi")), new KiroOptions { SendProfileArn = send }, arn);
        Assert.False(root.TryGetProperty("profileArn", out _));
    }

    [Fact]
    public void Sampling_limits_stops_and_cache_control_are_never_sent()
    {
        var request = Request(User("a"), Assistant("b"), User("c")) with
        {
            MaxTokens = 100, Temperature = 0.2, TopP = 0.9, StopSequences = ["STOP"],
            ToolChoice = new ToolChoice(ToolChoiceKind.Auto), Tools = [Tool("Bash")],
        };
        var (_, root) = Build(request);
        var names = AllPropertyNames(root).ToHashSet();
        foreach (var forbidden in new[] { "max_tokens", "maxTokens", "temperature", "top_p", "topP", "stop", "stop_sequences", "tool_choice", "toolChoice", "cache_control" })
            Assert.DoesNotContain(forbidden, names);
        Assert.DoesNotContain("STOP", root.GetRawText());
    }

    [Fact]
    public void Body_is_compact_utf8_without_needless_escapes()
    {
        var (built, _) = Build(Request(User("<b> café + 日本")));
        var text = System.Text.Encoding.UTF8.GetString(built.Body.Span);
        Assert.Contains("<b> café + 日本", text);
        Assert.DoesNotContain("\n  ", text);
    }

    // ---------- history shape ----------

    [Fact]
    public void History_alternates_and_the_last_user_message_is_current()
    {
        var (_, root) = Build(Request(User("q1"), Assistant("a1"), User("q2"), Assistant("a2"), User("q3")));
        var history = History(root);
        Assert.Equal(4, history.Length);
        Assert.Equal("q1", HUser(history[0]).GetProperty("content").GetString());
        Assert.Equal("a1", HAssistant(history[1]).GetProperty("content").GetString());
        Assert.Equal("q2", HUser(history[2]).GetProperty("content").GetString());
        Assert.Equal("a2", HAssistant(history[3]).GetProperty("content").GetString());
        Assert.Equal("q3", CurrentContent(root));
    }

    [Fact]
    public void Adjacent_messages_of_the_same_role_are_merged()
    {
        var (_, root) = Build(Request(User("u1"), User("u2"), Assistant("a1"), Assistant("a2"), User("u3"), User("u4")));
        var history = History(root);
        Assert.Equal(2, history.Length);
        Assert.Equal("u1\n\nu2", HUser(history[0]).GetProperty("content").GetString());
        Assert.Equal("a1\n\na2", HAssistant(history[1]).GetProperty("content").GetString());
        Assert.Equal("u3\n\nu4", CurrentContent(root));
    }

    [Fact]
    public void A_leading_assistant_gets_a_synthetic_user_before_it()
    {
        var (_, root) = Build(Request(Assistant("I greet first"), User("hi")));
        var history = History(root);
        Assert.Equal(2, history.Length);
        Assert.Equal(KiroConversation.SyntheticFirstUser, HUser(history[0]).GetProperty("content").GetString());
        Assert.Equal("I greet first", HAssistant(history[1]).GetProperty("content").GetString());
    }

    [Fact]
    public void Mid_conversation_system_messages_become_user_text()
    {
        // Claude Code's new beta puts role:"system" messages between turns.
        var (_, root) = Build(Request(User("q1"), Assistant("a1"), Message.Text(Role.System, "<system-reminder>todo list changed</system-reminder>"), User("q2")));
        Assert.Equal(2, History(root).Length);
        Assert.Equal("<system-reminder>todo list changed</system-reminder>\n\nq2", CurrentContent(root));

        var (_, afterUser) = Build(Request(User("q1"), Message.Text(Role.System, "note"), Assistant("a1"), User("q2")));
        Assert.Equal("q1\n\nnote", HUser(History(afterUser)[0]).GetProperty("content").GetString());
    }

    [Fact]
    public void A_trailing_system_message_becomes_the_current_user_message()
    {
        var (_, root) = Build(Request(User("q1"), Assistant("a1"), Message.Text(Role.System, "wrap up")));
        Assert.Equal("wrap up", CurrentContent(root));
        Assert.Equal(2, History(root).Length);
    }

    [Fact]
    public void The_system_prompt_is_prepended_to_the_first_user_message_only()
    {
        var request = Request(User("q1"), Assistant("a1"), User("q2")) with { System = "You are helpful." };
        var (_, root) = Build(request);
        Assert.Equal("You are helpful.\n\nq1", HUser(History(root)[0]).GetProperty("content").GetString());
        Assert.Equal("q2", CurrentContent(root));

        var (_, single) = Build(Request(User("q")) with { System = "Sys" });
        Assert.Equal("Sys\n\nq", CurrentContent(single));
    }

    [Fact]
    public void A_trailing_assistant_prefill_moves_into_history_and_current_asks_to_continue()
    {
        var (_, root) = Build(Request(User("write a poem"), Assistant("Roses are")));
        var history = History(root);
        Assert.Equal(2, history.Length);
        Assert.Equal("Roses are", HAssistant(history[1]).GetProperty("content").GetString());
        Assert.Equal(KiroConversation.ContinuePrompt, CurrentContent(root));
    }

    [Fact]
    public void No_request_without_messages()
    {
        var e = Assert.Throws<GatewayException>(() => Build(Request()));
        Assert.Equal(400, e.Status);
    }

    // ---------- placeholders ----------

    [Fact]
    public void Empty_content_is_replaced_by_placeholders_everywhere()
    {
        var request = Request(
            User("  "),
            Msg(Role.Assistant, Use("t1", "Bash")),
            Msg(Role.User, Result("t1", "ok")),
            Msg(Role.Assistant),
            Msg(Role.User, new ImageBlock("image/png", TinyPng))) with { Tools = [Tool("Bash")] };
        var (_, root) = Build(request);
        var history = History(root);
        Assert.Equal(KiroRequestBuilder.EmptyUser, HUser(history[0]).GetProperty("content").GetString());
        Assert.Equal(KiroRequestBuilder.ToolUsesOnlyAssistant, HAssistant(history[1]).GetProperty("content").GetString());
        Assert.Equal(KiroRequestBuilder.ToolResultsOnlyUser, HUser(history[2]).GetProperty("content").GetString());
        Assert.Equal(KiroRequestBuilder.EmptyAssistant, HAssistant(history[3]).GetProperty("content").GetString());
        Assert.Equal(KiroRequestBuilder.ImagesOnlyUser, CurrentContent(root));
    }

    [Fact]
    public void A_tool_result_only_current_message_gets_a_placeholder_and_structured_results()
    {
        var request = Request(User("list files"), Msg(Role.Assistant, new TextBlock("Running ls"), Use("t1", "Bash")), Msg(Role.User, Result("t1", "a.txt")))
            with { Tools = [Tool("Bash")] };
        var (_, root) = Build(request);
        Assert.Equal(KiroRequestBuilder.ToolResultsOnlyUser, CurrentContent(root));
        var result = Current(root).GetProperty("userInputMessageContext").GetProperty("toolResults")[0];
        Assert.Equal("t1", result.GetProperty("toolUseId").GetString());
        Assert.Equal("a.txt", result.GetProperty("content")[0].GetProperty("text").GetString());
        Assert.Equal("success", result.GetProperty("status").GetString());
    }

    // ---------- Claude Code shapes ----------

    [Fact]
    public void Claude_code_turn_round_trips_tool_use_and_result()
    {
        // What Claude Code sends: a system prompt of three blocks (the front door joins them), a mid-conversation
        // system message, a Bash tool with a strict schema, the tool_use / tool_result round trip (cache_control
        // is dropped by the front door: the canonical model has no place for it), and adaptive thinking.
        var system = "x-anthropic-billing-header: cc_version=2.1.197\n\nYou are Claude Code, Anthropic's official CLI for Claude.\n\nIMPORTANT: be concise.";
        var bash = Tool("Bash", "Executes a given bash command.", """
            {"$schema":"http://json-schema.org/draft-07/schema#","type":"object","additionalProperties":false,
             "properties":{"command":{"type":"string","description":"The command"},"description":{"type":"string"},
                           "timeout":{"type":"number"}},
             "required":["command"]}
            """);
        var request = new ChatRequest
        {
            Model = "claude-sonnet-4-5",
            System = system,
            Tools = [bash],
            MaxTokens = 32_000,
            Stream = true,
            Thinking = new ThinkingRequest(ThinkingMode.Adaptive, Effort: "high"),
            Messages =
            [
                Msg(Role.User, new TextBlock("<system-reminder>context</system-reminder>"), new TextBlock("list the files")),
                Msg(Role.Assistant, new ThinkingBlock("I should run ls", "sig"), new TextBlock("I'll list them."),
                    Use("toolu_01", "Bash", """{"command":"ls","description":"List files"}""")),
                Msg(Role.User, new ToolResultBlock("toolu_01", [new TextBlock("a.txt\nb.txt")], false)),
                Message.Text(Role.System, "Reminder: the user's todo list is empty."),
            ],
        };

        var (built, root) = Build(request, profileArn: Arn);
        var history = History(root);
        Assert.Equal(2, history.Length);

        var firstUser = HUser(history[0]).GetProperty("content").GetString()!;
        Assert.StartsWith(system + "\n\n", firstUser);
        Assert.Contains(KiroThinking.SystemNote, firstUser);
        Assert.EndsWith("<system-reminder>context</system-reminder>\n\nlist the files", firstUser);

        var assistant = HAssistant(history[1]);
        Assert.Equal("<thinking>I should run ls</thinking>\n\nI'll list them.", assistant.GetProperty("content").GetString());
        var use = assistant.GetProperty("toolUses")[0];
        Assert.Equal("toolu_01", use.GetProperty("toolUseId").GetString());
        Assert.Equal("Bash", use.GetProperty("name").GetString());
        Assert.Equal("ls", use.GetProperty("input").GetProperty("command").GetString());

        var content = CurrentContent(root);
        Assert.StartsWith("<thinking_mode>enabled</thinking_mode><max_thinking_length>10000</max_thinking_length>\n", content);
        Assert.EndsWith("Reminder: the user's todo list is empty.", content);
        var context = Current(root).GetProperty("userInputMessageContext");
        Assert.Equal("a.txt\nb.txt", context.GetProperty("toolResults")[0].GetProperty("content")[0].GetProperty("text").GetString());
        var spec = Spec(context.GetProperty("tools")[0]);
        Assert.Equal("Bash", spec.GetProperty("name").GetString());
        var schema = spec.GetProperty("inputSchema").GetProperty("json");
        Assert.False(schema.TryGetProperty("additionalProperties", out _));
        Assert.Equal("command", schema.GetProperty("required")[0].GetString());
        Assert.DoesNotContain("cache_control", root.GetRawText());
        Assert.True(built.ThinkingInjected);
    }

    // ---------- tool names ----------

    [Fact]
    public void Long_tool_names_get_a_short_deterministic_alias_that_maps_back()
    {
        var alias = ToolNameAliases.For(LongToolName);
        Assert.True(LongToolName.Length > 64);
        Assert.True(alias.Length <= ToolNameAliases.MaxLength);
        Assert.StartsWith(LongToolName[..20], alias);
        Assert.Equal(alias, ToolNameAliases.For(LongToolName));
        Assert.NotEqual(alias, ToolNameAliases.For(LongToolName + "2"));
        Assert.Equal("Bash", ToolNameAliases.For("Bash"));
        Assert.Equal(new string('a', 64), ToolNameAliases.For(new string('a', 64)));
    }

    [Fact]
    public void Aliases_apply_to_declared_tools_history_tool_uses_and_tool_choice()
    {
        var request = Request(
            User("go"),
            Msg(Role.Assistant, Use("t1", LongToolName)),
            Msg(Role.User, Result("t1", "done"))) with
        {
            Tools = [Tool(LongToolName), Tool("Read")],
            ToolChoice = new ToolChoice(ToolChoiceKind.Tool, LongToolName),
        };
        var (built, root) = Build(request);
        var alias = ToolNameAliases.For(LongToolName);

        Assert.Equal(alias, Spec(CurrentTools(root)[0]).GetProperty("name").GetString());
        Assert.Equal(alias, HAssistant(History(root)[1]).GetProperty("toolUses")[0].GetProperty("name").GetString());
        Assert.Equal(LongToolName, built.ToolNameAliases[alias]);
        Assert.Single(built.ToolNameAliases);
        Assert.Equal(LongToolName, ToolNameAliases.Original(built.ToolNameAliases, alias));
        Assert.Equal("Read", ToolNameAliases.Original(built.ToolNameAliases, "Read"));
        Assert.EndsWith($"Answer by calling the tool \"{alias}\".", CurrentContent(root));
        Assert.Equal(2, CurrentTools(root).Length); // declared, so no placeholder spec for the aliased history use

        var (again, _) = Build(request);
        Assert.Equal(built.Body.ToArray(), again.Body.ToArray());
    }

    [Fact]
    public void Duplicate_tool_names_are_a_client_error()
    {
        var e = Assert.Throws<GatewayException>(() => Build(Request(User("x")) with { Tools = [Tool("Bash"), Tool("Bash")] }));
        Assert.Equal(400, e.Status);
        Assert.Contains("Bash", e.Message);
    }

    // ---------- tool descriptions ----------

    [Fact]
    public void Very_long_tool_descriptions_move_to_the_system_prompt_with_a_pointer()
    {
        var longText = "Use this tool wisely. " + new string('d', KiroToolSet.MaxDescriptionChars);
        var request = Request(User("q1"), Assistant("a1"), User("q2")) with { System = "Sys", Tools = [Tool("Agent", longText), Tool("Short")] };
        var (_, root) = Build(request);

        var description = Spec(CurrentTools(root)[0]).GetProperty("description").GetString()!;
        Assert.True(description.Length < 200);
        Assert.Contains("## Tool: Agent", description);
        Assert.Equal("does things", Spec(CurrentTools(root)[1]).GetProperty("description").GetString());
        var first = HUser(History(root)[0]).GetProperty("content").GetString()!;
        Assert.StartsWith("Sys\n\n## Tool: Agent\n" + longText + "\n\nq1", first);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void Empty_tool_descriptions_become_tool_name(string? description)
    {
        var (_, root) = Build(Request(User("x")) with { Tools = [Tool("Glob", description)] });
        Assert.Equal("Tool: Glob", Spec(CurrentTools(root)[0]).GetProperty("description").GetString());
    }

    // ---------- tool schemas ----------

    [Fact]
    public void Schema_cleanup_removes_additional_properties_and_empty_required_at_every_depth()
    {
        var schema = """
            {"type":"object","additionalProperties":false,"required":[],
             "properties":{
               "additionalProperties":{"type":"string","description":"a field that happens to have this name"},
               "opts":{"type":"object","additionalProperties":{"type":"string"},"required":[],
                       "properties":{"deep":{"type":"object","additionalProperties":true,"required":["a"],
                                             "properties":{"a":{"type":"string","default":{"additionalProperties":1}}}}}},
               "list":{"type":"array","items":{"type":"object","additionalProperties":false,"required":[]}},
               "choice":{"anyOf":[{"type":"object","additionalProperties":false},{"type":"null"}]},
               "mode":{"enum":["a","b"]}},
             "$defs":{"Thing":{"type":"object","additionalProperties":false,"required":[]}}}
            """;
        var (_, root) = Build(Request(User("x")) with { Tools = [Tool("T", schema: schema)] });
        var json = Spec(CurrentTools(root)[0]).GetProperty("inputSchema").GetProperty("json");
        var props = json.GetProperty("properties");

        Assert.False(json.TryGetProperty("additionalProperties", out _));
        Assert.False(json.TryGetProperty("required", out _));
        Assert.Equal("string", props.GetProperty("additionalProperties").GetProperty("type").GetString());
        var opts = props.GetProperty("opts");
        Assert.False(opts.TryGetProperty("additionalProperties", out _));
        Assert.False(opts.TryGetProperty("required", out _));
        var deep = opts.GetProperty("properties").GetProperty("deep");
        Assert.False(deep.TryGetProperty("additionalProperties", out _));
        Assert.Equal("a", deep.GetProperty("required")[0].GetString());
        Assert.Equal(1, deep.GetProperty("properties").GetProperty("a").GetProperty("default").GetProperty("additionalProperties").GetInt32());
        var items = props.GetProperty("list").GetProperty("items");
        Assert.False(items.TryGetProperty("additionalProperties", out _));
        Assert.False(items.TryGetProperty("required", out _));
        Assert.False(props.GetProperty("choice").GetProperty("anyOf")[0].TryGetProperty("additionalProperties", out _));
        Assert.Equal(2, props.GetProperty("mode").GetProperty("enum").GetArrayLength());
        var thing = json.GetProperty("$defs").GetProperty("Thing");
        Assert.False(thing.TryGetProperty("additionalProperties", out _));
        Assert.False(thing.TryGetProperty("required", out _));
    }

    [Fact]
    public void A_missing_schema_becomes_an_empty_object_schema()
    {
        var (_, root) = Build(Request(User("x")) with { Tools = [new ToolDefinition("T", "d", default)] });
        var json = Spec(CurrentTools(root)[0]).GetProperty("inputSchema").GetProperty("json");
        Assert.Equal("object", json.GetProperty("type").GetString());
        Assert.Equal(JsonValueKind.Object, json.GetProperty("properties").ValueKind);
    }

    // ---------- tool results ----------

    [Fact]
    public void Tool_result_errors_blocks_and_empty_content_are_converted()
    {
        var request = Request(
            User("go"),
            Msg(Role.Assistant, Use("t1", "Bash"), Use("t2", "Bash"), Use("t3", "Bash")),
            Msg(Role.User,
                Result("t1", "command not found", isError: true),
                new ToolResultBlock("t2", [new TextBlock("line 1"), new TextBlock("line 2")], false),
                new ToolResultBlock("t3", [], false))) with { Tools = [Tool("Bash")] };
        var (_, root) = Build(request);
        var results = Current(root).GetProperty("userInputMessageContext").GetProperty("toolResults");
        Assert.Equal(3, results.GetArrayLength());
        Assert.Equal("error", results[0].GetProperty("status").GetString());
        Assert.Equal("line 1\nline 2", results[1].GetProperty("content")[0].GetProperty("text").GetString());
        Assert.Equal("success", results[1].GetProperty("status").GetString());
        Assert.Equal(KiroConversation.EmptyResult, results[2].GetProperty("content")[0].GetProperty("text").GetString());
    }

    [Fact]
    public void Orphan_tool_results_are_folded_into_text_not_lost()
    {
        var request = Request(
            Msg(Role.User, Result("ghost", "stale output", isError: true), new TextBlock("hi")),
            Msg(Role.Assistant, Use("t1", "Bash")),
            Msg(Role.User, Result("t1", "ok"), Result("other", "unrelated"), Result("t1", "duplicate"))) with { Tools = [Tool("Bash")] };
        var (_, root) = Build(request);

        var first = HUser(History(root)[0]);
        Assert.False(first.TryGetProperty("userInputMessageContext", out _));
        Assert.Equal("[Result of tool call ghost (error)]\nstale output\n\nhi", first.GetProperty("content").GetString());

        var results = Current(root).GetProperty("userInputMessageContext").GetProperty("toolResults");
        Assert.Equal(1, results.GetArrayLength());
        Assert.Equal("t1", results[0].GetProperty("toolUseId").GetString());
        var content = CurrentContent(root);
        Assert.Contains("[Result of tool call other]\nunrelated", content);
        Assert.Contains("duplicate", content);
    }

    [Fact]
    public void Images_inside_tool_results_go_to_that_user_message()
    {
        var request = Request(
            User("screenshot please"),
            Msg(Role.Assistant, Use("t1", "Screenshot")),
            Msg(Role.User, new ToolResultBlock("t1", [new ImageBlock("image/png", TinyPng)], false))) with { Tools = [Tool("Screenshot")] };
        var (_, root) = Build(request);
        var current = Current(root);
        Assert.Equal("png", current.GetProperty("images")[0].GetProperty("format").GetString());
        Assert.Equal(TinyPng, current.GetProperty("images")[0].GetProperty("source").GetProperty("bytes").GetString());
        Assert.Equal(KiroConversation.ImageOnlyResult,
            current.GetProperty("userInputMessageContext").GetProperty("toolResults")[0].GetProperty("content")[0].GetProperty("text").GetString());
    }

    [Fact]
    public void History_tool_uses_of_undeclared_tools_get_placeholder_specs()
    {
        var request = Request(
            User("go"),
            Msg(Role.Assistant, Use("t1", "OldTool"), Use("t2", "Bash"), Use("t3", "OldTool")),
            Msg(Role.User, Result("t1", "a"), Result("t2", "b"), Result("t3", "c"))) with { Tools = [Tool("Bash")] };
        var (_, root) = Build(request);
        var tools = CurrentTools(root);
        Assert.Equal(2, tools.Length);
        Assert.Equal("Bash", Spec(tools[0]).GetProperty("name").GetString());
        var placeholder = Spec(tools[1]);
        Assert.Equal("OldTool", placeholder.GetProperty("name").GetString());
        Assert.StartsWith("Tool: OldTool", placeholder.GetProperty("description").GetString());
        Assert.Equal("object", placeholder.GetProperty("inputSchema").GetProperty("json").GetProperty("type").GetString());
    }

    [Fact]
    public void Placeholder_specs_are_sent_even_when_the_client_declares_no_tools()
    {
        var request = Request(User("go"), Msg(Role.Assistant, Use("t1", "Bash")), Msg(Role.User, Result("t1", "ok")));
        var (_, root) = Build(request);
        Assert.Equal("Bash", Spec(Assert.Single(CurrentTools(root))).GetProperty("name").GetString());
    }

    [Fact]
    public void Tools_are_sent_only_on_the_current_message()
    {
        var request = Request(User("a"), Assistant("b"), User("c")) with { Tools = [Tool("Bash")] };
        var (_, root) = Build(request);
        Assert.Single(CurrentTools(root));
        Assert.False(HUser(History(root)[0]).TryGetProperty("userInputMessageContext", out _));
    }

    // ---------- tool choice ----------

    [Fact]
    public void Tool_choice_none_sends_no_tools_and_folds_earlier_calls_into_text()
    {
        var request = Request(
            User("go"),
            Msg(Role.Assistant, new TextBlock("checking"), Use("t1", "Bash", """{"command":"ls"}""")),
            Msg(Role.User, Result("t1", "a.txt"), new TextBlock("now summarise"))) with
        {
            Tools = [Tool("Bash")],
            ToolChoice = new ToolChoice(ToolChoiceKind.None),
        };
        var (_, root) = Build(request);
        Assert.False(Current(root).TryGetProperty("userInputMessageContext", out _));
        var assistant = HAssistant(History(root)[1]);
        Assert.False(assistant.TryGetProperty("toolUses", out _));
        Assert.Equal("checking\n\n[Tool call t1: Bash {\"command\":\"ls\"}]", assistant.GetProperty("content").GetString());
        Assert.Equal("[Result of tool call t1]\na.txt\n\nnow summarise", CurrentContent(root));
    }

    [Fact]
    public void Tool_choice_any_adds_one_instruction_line()
    {
        var (_, root) = Build(Request(User("go")) with { Tools = [Tool("Bash")], ToolChoice = new ToolChoice(ToolChoiceKind.Any) });
        Assert.Equal("go\n\n" + KiroToolSet.AnyToolInstruction, CurrentContent(root));

        var (_, auto) = Build(Request(User("go")) with { Tools = [Tool("Bash")], ToolChoice = new ToolChoice(ToolChoiceKind.Auto) });
        Assert.Equal("go", CurrentContent(auto));
    }

    [Fact]
    public void Tool_choice_naming_an_undeclared_tool_is_a_client_error()
    {
        var e = Assert.Throws<GatewayException>(() =>
            Build(Request(User("go")) with { Tools = [Tool("Bash")], ToolChoice = new ToolChoice(ToolChoiceKind.Tool, "Nope") }));
        Assert.Equal(400, e.Status);
        Assert.Contains("Nope", e.Message);
    }

    // ---------- images ----------

    [Theory]
    [InlineData("image/png", "png")]
    [InlineData("image/jpeg", "jpeg")]
    [InlineData("image/jpg", "jpeg")]
    [InlineData("image/gif", "gif")]
    [InlineData("IMAGE/WEBP", "webp")]
    public void Images_are_sent_with_their_format(string mediaType, string format)
    {
        var (_, root) = Build(Request(Msg(Role.User, new TextBlock("what is this"), new ImageBlock(mediaType, TinyPng))));
        var image = Current(root).GetProperty("images")[0];
        Assert.Equal(format, image.GetProperty("format").GetString());
        Assert.Equal(TinyPng, image.GetProperty("source").GetProperty("bytes").GetString());
    }

    [Fact]
    public void Data_url_images_are_accepted()
    {
        var (_, root) = Build(Request(Msg(Role.User, new TextBlock("x"), new ImageBlock("", "data:image/gif;base64," + TinyPng))));
        Assert.Equal("gif", Current(root).GetProperty("images")[0].GetProperty("format").GetString());
        Assert.Equal(TinyPng, Current(root).GetProperty("images")[0].GetProperty("source").GetProperty("bytes").GetString());
    }

    [Fact]
    public void History_images_stay_on_their_message()
    {
        var (_, root) = Build(Request(Msg(Role.User, new TextBlock("look"), new ImageBlock("image/png", TinyPng)), Assistant("a cat"), User("thanks")));
        Assert.Equal(1, HUser(History(root)[0]).GetProperty("images").GetArrayLength());
        Assert.False(Current(root).TryGetProperty("images", out _));
    }

    [Fact]
    public void Ten_images_pass_and_eleven_are_refused_naming_the_limit()
    {
        ContentBlock[] Images(int n) => [new TextBlock("x"), .. Enumerable.Range(0, n).Select(_ => new ImageBlock("image/png", TinyPng))];
        var (_, root) = Build(Request(Msg(Role.User, Images(10))));
        Assert.Equal(10, Current(root).GetProperty("images").GetArrayLength());

        var e = Assert.Throws<GatewayException>(() => Build(Request(Msg(Role.User, Images(11)))));
        Assert.Equal(400, e.Status);
        Assert.Contains("at most 10", e.Message);
    }

    [Fact]
    public void An_image_over_ten_megabytes_is_refused_naming_the_limit()
    {
        var big = new string('A', (KiroImages.MaxBytes / 3 + 1) * 4);
        var e = Assert.Throws<GatewayException>(() => Build(Request(Msg(Role.User, new ImageBlock("image/png", big)))));
        Assert.Equal(400, e.Status);
        Assert.Contains("10 MB", e.Message);
    }

    [Theory]
    [InlineData("image/png", "https://example.com/cat.png", "URL")]
    [InlineData("image/png", "http://example.com/cat.png", "URL")]
    [InlineData("image/bmp", TinyPng, "image/bmp")]
    public void Url_and_unsupported_images_are_refused(string mediaType, string data, string named)
    {
        var e = Assert.Throws<GatewayException>(() => Build(Request(Msg(Role.User, new TextBlock("x"), new ImageBlock(mediaType, data)))));
        Assert.Equal(400, e.Status);
        Assert.Contains(named, e.Message);
    }

    [Fact]
    public void Images_in_assistant_messages_are_refused()
    {
        var e = Assert.Throws<GatewayException>(() => Build(Request(User("x"), Msg(Role.Assistant, new ImageBlock("image/png", TinyPng)), User("y"))));
        Assert.Equal(400, e.Status);
    }

    // ---------- thinking ----------

    [Fact]
    public void Earlier_assistant_thinking_is_sent_back_before_its_text()
    {
        var (_, root) = Build(Request(User("q"), Msg(Role.Assistant, new ThinkingBlock("hmm", "sig"), new TextBlock("answer")), User("q2")));
        Assert.Equal("<thinking>hmm</thinking>\n\nanswer", HAssistant(History(root)[1]).GetProperty("content").GetString());
    }

    [Theory]
    [InlineData(31_999, 10_000)]
    [InlineData(2_048, 2_048)]
    public void A_thinking_budget_is_capped_by_the_setting(int budget, int expected)
    {
        var request = Request(User("q")) with { Thinking = new ThinkingRequest(ThinkingMode.Enabled, budget), MaxTokens = 64_000 };
        var (built, root) = Build(request);
        Assert.True(built.ThinkingInjected);
        Assert.Equal(KiroThinking.Prefix(expected) + KiroThinking.SystemNote + "\n\nq", CurrentContent(root));
        Assert.Contains($"<max_thinking_length>{expected}</max_thinking_length>", CurrentContent(root));
        Assert.Contains(KiroThinking.Instruction, CurrentContent(root));
    }

    [Theory]
    [InlineData("minimal", 10_000, 1_000)]
    [InlineData("low", 10_000, 2_000)]
    [InlineData("medium", 10_000, 5_000)]
    [InlineData("high", 10_000, 8_000)]
    [InlineData("HIGH", 10_000, 8_000)]
    [InlineData(null, 10_000, 8_000)]
    [InlineData("medium", 32_000, 10_000)]
    public void Effort_is_a_share_of_max_tokens_capped_by_the_setting(string? effort, int maxTokens, int expected)
    {
        var request = Request(User("q")) with { Thinking = new ThinkingRequest(ThinkingMode.Adaptive, Effort: effort), MaxTokens = maxTokens };
        var (_, root) = Build(request);
        Assert.StartsWith(KiroThinking.Prefix(expected), CurrentContent(root));
    }

    [Fact]
    public void Effort_without_max_tokens_uses_the_model_cap_and_a_larger_setting_applies()
    {
        var request = Request(User("q")) with { Thinking = new ThinkingRequest(ThinkingMode.Enabled, Effort: "medium") };
        var (_, root) = Build(request, new KiroOptions { MaxThinkingTokens = 50_000 }, modelMaxOutput: 32_000);
        Assert.StartsWith(KiroThinking.Prefix(16_000), CurrentContent(root));
    }

    [Fact]
    public void Thinking_goes_before_the_system_prompt_and_the_note_joins_the_system_prompt()
    {
        var request = Request(User("q1"), Assistant("a1"), User("q2")) with
        {
            System = "Sys",
            Thinking = new ThinkingRequest(ThinkingMode.Enabled, 4_000),
        };
        var (_, root) = Build(request);
        Assert.Equal("Sys\n\n" + KiroThinking.SystemNote + "\n\nq1", HUser(History(root)[0]).GetProperty("content").GetString());
        Assert.Equal(KiroThinking.Prefix(4_000) + "q2", CurrentContent(root));
    }

    [Theory]
    [InlineData(ThinkingMode.Disabled, null)]
    [InlineData(ThinkingMode.Adaptive, "none")]
    public void No_thinking_is_injected_unless_the_client_asks(ThinkingMode mode, string? effort)
    {
        var (built, root) = Build(Request(User("q")) with { Thinking = new ThinkingRequest(mode, Effort: effort) });
        Assert.False(built.ThinkingInjected);
        Assert.Equal("q", CurrentContent(root));

        var (none, _) = Build(Request(User("q")));
        Assert.False(none.ThinkingInjected);
    }

    [Fact]
    public void A_zero_thinking_setting_turns_injection_off()
    {
        var request = Request(User("q")) with { Thinking = new ThinkingRequest(ThinkingMode.Enabled, 5_000) };
        var (built, root) = Build(request, new KiroOptions { MaxThinkingTokens = 0 });
        Assert.False(built.ThinkingInjected);
        Assert.Equal("q", CurrentContent(root));
    }

    // ---------- payload size guard ----------

    private static Message[] LongConversation(int pairs, int textBytes)
    {
        var messages = new List<Message>();
        for (var i = 0; i < pairs; i++)
        {
            messages.Add(User($"question {i} " + new string('q', textBytes)));
            messages.Add(Assistant($"answer {i} " + new string('a', textBytes)));
        }
        messages.Add(User("final question"));
        return [.. messages];
    }

    [Fact]
    public void Oldest_history_pairs_are_dropped_until_the_body_fits()
    {
        var request = Request(LongConversation(pairs: 20, textBytes: 1_000)) with { System = "Sys" };
        var (full, _) = Build(request);
        Assert.Equal(0, full.TrimmedHistoryMessages);
        Assert.True(full.Body.Length > 30_000);

        var options = new KiroOptions { MaxPayloadBytes = 20_000 };
        var (trimmed, root) = Build(request, options);

        Assert.True(trimmed.Body.Length <= options.MaxPayloadBytes);
        Assert.True(trimmed.TrimmedHistoryMessages > 0);
        Assert.Equal(0, trimmed.TrimmedHistoryMessages % 2);
        var history = History(root);
        Assert.Equal(40 - trimmed.TrimmedHistoryMessages, history.Length);
        var firstKept = trimmed.TrimmedHistoryMessages / 2;
        var first = HUser(history[0]).GetProperty("content").GetString()!;
        Assert.StartsWith("Sys\n\n", first);
        Assert.Contains($"question {firstKept} ", first);
        Assert.StartsWith($"answer {firstKept} ", HAssistant(history[1]).GetProperty("content").GetString());
        Assert.Equal("final question", CurrentContent(root));

        // The fewest pairs were dropped: each pair is over 2,000 bytes, so keeping one more would not fit.
        Assert.True(trimmed.Body.Length + 2_000 > options.MaxPayloadBytes);

        // With room for exactly that body, the same number of pairs is dropped (the guess is not greedy).
        var (same, _) = Build(request, new KiroOptions { MaxPayloadBytes = trimmed.Body.Length });
        Assert.Equal(trimmed.TrimmedHistoryMessages, same.TrimmedHistoryMessages);
    }

    [Fact]
    public void Trimming_folds_tool_results_whose_tool_use_was_dropped()
    {
        var messages = new List<Message> { User("start " + new string('s', 5_000)) };
        for (var i = 0; i < 6; i++)
        {
            messages.Add(Msg(Role.Assistant, Use($"t{i}", "Bash", $$"""{"command":"cat file{{i}}"}""")));
            messages.Add(Msg(Role.User, Result($"t{i}", $"content {i} " + new string('c', 2_000))));
        }
        var request = Request([.. messages]) with { Tools = [Tool("Bash")] };
        var (trimmed, root) = Build(request, new KiroOptions { MaxPayloadBytes = 9_000 });

        Assert.True(trimmed.TrimmedHistoryMessages > 0);
        var history = History(root);
        var first = HUser(history[0]);
        Assert.False(first.TryGetProperty("userInputMessageContext", out _));
        Assert.StartsWith("[Result of tool call t", first.GetProperty("content").GetString());
        Assert.True(Current(root).GetProperty("userInputMessageContext").TryGetProperty("toolResults", out _));
        // AssertKiroInvariants (in Build) checked every remaining result answers the assistant turn before it.
    }

    [Fact]
    public void A_body_too_large_even_without_history_is_refused_naming_the_size()
    {
        var request = Request(User("old"), Assistant("reply"), User(new string('x', 5_000)));
        var e = Assert.Throws<GatewayException>(() => Build(request, new KiroOptions { MaxPayloadBytes = 2_000 }));
        Assert.Equal(ErrorKind.RequestTooLarge, e.Kind);
        Assert.Equal(413, e.Status);
        Assert.Contains("2,000", e.Message);
        Assert.Contains("Kiro:MaxPayloadBytes", e.Message);
    }

    [Fact]
    public void A_non_positive_limit_turns_the_guard_off()
    {
        var (built, _) = Build(Request(LongConversation(5, 1_000)), new KiroOptions { MaxPayloadBytes = 0 });
        Assert.Equal(0, built.TrimmedHistoryMessages);
    }
}
