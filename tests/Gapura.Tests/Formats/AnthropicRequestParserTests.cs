using System.Text.Json;
using Gapura.Conversations;
using Gapura.Formats.Anthropic;
using static Gapura.Tests.Formats.FormatTestKit;

namespace Gapura.Tests.Formats;

public class AnthropicRequestParserTests
{
    private static ChatRequest Parse(string json) => AnthropicMessagesFrontDoor.Instance.ParseRequest(Json(json));

    private const string Hi = """[{"role":"user","content":"hi"}]""";

    [Fact]
    public void Parses_a_claude_code_shaped_request()
    {
        var r = Parse("""
            {"model":"claude-opus-4-8","max_tokens":32000,"stream":true,
             "system":[{"type":"text","text":"x-anthropic-billing-header: cc"},
                       {"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],
             "messages":[{"role":"user","content":[{"type":"text","text":"say hi","cache_control":{"type":"ephemeral"}}]}],
             "thinking":{"type":"adaptive"},"output_config":{"effort":"high"},
             "context_management":{"edits":[]},
             "metadata":{"user_id":"{\"device_id\":\"d\",\"session_id\":\"s\"}"},
             "tools":[{"name":"Bash","description":"Run a command","input_schema":{"type":"object","properties":{"command":{"type":"string"}}}}],
             "tool_choice":{"type":"auto"},"stop_sequences":["\n\nHuman:"],"temperature":1,"top_p":0.95,"top_k":5}
            """);
        Assert.Equal("claude-opus-4-8", r.Model);
        Assert.Equal(32000, r.MaxTokens);
        Assert.True(r.Stream);
        Assert.Equal("x-anthropic-billing-header: cc\n\nYou are Claude Code.", r.System);
        Assert.Equal("say hi", Assert.IsType<TextBlock>(Assert.Single(Assert.Single(r.Messages).Content)).Text);
        Assert.Equal(new ThinkingRequest(ThinkingMode.Adaptive, Effort: "high"), r.Thinking);
        var tool = Assert.Single(r.Tools);
        Assert.Equal(("Bash", "Run a command"), (tool.Name, tool.Description));
        Assert.Equal("object", tool.InputSchema.GetProperty("type").GetString());
        Assert.Equal(ToolChoiceKind.Auto, r.ToolChoice!.Kind);
        Assert.Equal(["\n\nHuman:"], r.StopSequences);
        Assert.Equal(1.0, r.Temperature);
        Assert.Equal(0.95, r.TopP);
        Assert.False(r.IncludeUsage);
    }

    [Fact]
    public void System_as_a_string_and_max_tokens_optional()
    {
        var r = Parse($$$"""{"model":"m","system":"Be brief.","messages":{{{Hi}}}}""");
        Assert.Equal("Be brief.", r.System);
        Assert.Null(r.MaxTokens);
        Assert.Null(r.Thinking);
    }

    [Fact]
    public void Mid_conversation_system_messages_stay_in_place_and_leading_ones_join_the_system_prompt()
    {
        var r = Parse("""
            {"model":"m","system":"Top.","messages":[
              {"role":"system","content":"Lead."},
              {"role":"user","content":"a"},
              {"role":"assistant","content":"b"},
              {"role":"system","content":[{"type":"text","text":"Mid."}]},
              {"role":"user","content":"c"}]}
            """);
        Assert.Equal("Top.\n\nLead.", r.System);
        Assert.Equal([Role.User, Role.Assistant, Role.System, Role.User], r.Messages.Select(m => m.Role));
        Assert.Equal("Mid.", Assert.IsType<TextBlock>(r.Messages[2].Content[0]).Text);
    }

    [Fact]
    public void Tool_round_trip_with_thinking_images_and_errors()
    {
        var r = Parse("""
            {"model":"m","messages":[
              {"role":"user","content":[{"type":"text","text":"look"},{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/4AAQ"}}]},
              {"role":"assistant","content":[
                 {"type":"thinking","thinking":"hmm","signature":"sig1"},
                 {"type":"redacted_thinking","data":"enc"},
                 {"type":"text","text":"Running."},
                 {"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls","description":"list"}}]},
              {"role":"user","content":[
                 {"type":"tool_result","tool_use_id":"toolu_1","content":"a.txt","is_error":false,"cache_control":{"type":"ephemeral"}},
                 {"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":"boom"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}}],"is_error":true},
                 {"type":"tool_result","tool_use_id":"toolu_3"}]}]}
            """);
        var user = r.Messages[0].Content;
        var image = Assert.IsType<ImageBlock>(user[1]);
        Assert.Equal(("image/jpeg", "/9j/4AAQ"), (image.MediaType, image.Data));

        var assistant = r.Messages[1].Content;
        Assert.Equal(new ThinkingBlock("hmm", "sig1"), assistant[0]);
        Assert.Equal(new ThinkingBlock("", "enc"), assistant[1]);
        Assert.Equal("Running.", Assert.IsType<TextBlock>(assistant[2]).Text);
        var use = Assert.IsType<ToolUseBlock>(assistant[3]);
        Assert.Equal(("toolu_1", "Bash", "ls"), (use.Id, use.Name, use.Input.GetProperty("command").GetString()));

        var results = r.Messages[2].Content.Cast<ToolResultBlock>().ToList();
        Assert.Equal("a.txt", Assert.IsType<TextBlock>(Assert.Single(results[0].Content)).Text);
        Assert.False(results[0].IsError);
        Assert.True(results[1].IsError);
        Assert.IsType<ImageBlock>(results[1].Content[1]);
        Assert.Empty(results[2].Content);
    }

    [Theory]
    [InlineData("""{"type":"any"}""", ToolChoiceKind.Any, null)]
    [InlineData("""{"type":"none"}""", ToolChoiceKind.None, null)]
    [InlineData("""{"type":"tool","name":"Bash","disable_parallel_tool_use":true}""", ToolChoiceKind.Tool, "Bash")]
    public void Tool_choice(string choice, ToolChoiceKind kind, string? name)
        => Assert.Equal(new ToolChoice(kind, name), Parse($$$"""{"model":"m","messages":{{{Hi}}},"tool_choice":{{{choice}}}}""").ToolChoice);

    [Theory]
    [InlineData("""{"type":"enabled","budget_tokens":31999}""", ThinkingMode.Enabled, 31999)]
    [InlineData("""{"type":"disabled"}""", ThinkingMode.Disabled, null)]
    public void Thinking(string thinking, ThinkingMode mode, int? budget)
        => Assert.Equal(new ThinkingRequest(mode, budget), Parse($$$"""{"model":"m","messages":{{{Hi}}},"thinking":{{{thinking}}}}""").Thinking);

    [Fact]
    public void Effort_without_thinking_is_kept()
        => Assert.Equal(new ThinkingRequest(ThinkingMode.Disabled, Effort: "low"), Parse($$$"""{"model":"m","messages":{{{Hi}}},"output_config":{"effort":"low"}}""").Thinking);

    [Fact]
    public void Lenient_mode_skips_server_tools_and_unsupported_blocks()
    {
        var r = AnthropicMessagesFrontDoor.Instance.ParseRequest(Json("""
            {"model":"m","messages":[{"role":"user","content":[{"type":"document","source":{}},{"type":"text","text":"t"},{"type":"image","source":{"type":"url","url":"https://x"}}]}],
             "tools":[{"type":"web_search_20250305","name":"web_search","max_uses":5},{"name":"Bash","input_schema":{"type":"object"}}]}
            """), skipUnsupported: true);
        Assert.Single(r.Messages[0].Content);
        Assert.Equal("Bash", Assert.Single(r.Tools).Name);
    }

    [Fact]
    public void Explicit_custom_tool_type_is_a_client_tool()
        => Assert.Single(Parse($$$"""{"model":"m","messages":{{{Hi}}},"tools":[{"type":"custom","name":"a","input_schema":{"type":"object"}}]}""").Tools);

    [Theory]
    [InlineData("""5""", "body: expected a JSON object")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}]}""", "model: required")]
    [InlineData("""{"model":"","messages":[{"role":"user","content":"x"}]}""", "model: must not be empty")]
    [InlineData("""{"model":"m"}""", "messages: required")]
    [InlineData("""{"model":"m","messages":[]}""", "messages: must contain at least one message")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"},{"role":"robot","content":"x"}]}""", "messages[1].role: unknown role 'robot'")]
    [InlineData("""{"model":"m","messages":[{"content":"x"}]}""", "messages[0].role: required")]
    [InlineData("""{"model":"m","messages":[{"role":"user"}]}""", "messages[0].content: required")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":7}]}""", "messages[0].content: expected a string or an array of content blocks, got a number")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]}""", "messages[0].content[0].type: required")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":3}]}]}""", "messages[0].content[0].text: expected a string")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"document","source":{}}]}]}""", "messages[0].content[0].type: content block type 'document' is not supported")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://x/y.png"}}]}]}""", "messages[0].content[0].source.type: images must be inline")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","data":"abc"}}]}]}""", "messages[0].content[0].source.media_type: required")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"image"}]}]}""", "messages[0].content[0].source: required")]
    [InlineData("""{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n","input":"{}"}]}]}""", "messages[0].content[0].input: expected an object, got a string")]
    [InlineData("""{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n"}]}]}""", "messages[0].content[0].input: required")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]}""", "messages[0].content[0].tool_use_id: required")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","is_error":"yes"}]}]}""", "messages[0].content[0].is_error: expected a boolean")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"search_result"}]}]}]}""", "messages[0].content[0].content[0].type: content block type 'search_result' is not supported")]
    [InlineData("""{"model":"m","messages":[{"role":"assistant","content":[{"type":"thinking","signature":"s"}]}]}""", "messages[0].content[0].thinking: required")]
    [InlineData("""{"model":"m","messages":[{"role":"system","content":[{"type":"image"}]}]}""", "messages[0].content[0].type: only text blocks are allowed here")]
    [InlineData("""{"model":"m","system":5,"messages":[{"role":"user","content":"x"}]}""", "system: expected a string or an array of text blocks")]
    [InlineData("""{"model":"m","system":[{"type":"image"}],"messages":[{"role":"user","content":"x"}]}""", "system[0].type: only text blocks are allowed here")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}""", "max_tokens: must be a positive integer")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":"big"}""", "max_tokens: expected an integer")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"stop_sequences":"END"}""", "stop_sequences: expected an array of strings")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"warm"}""", "temperature: expected a number")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"stream":1}""", "stream: expected a boolean")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"name":"a"}]}""", "tools[0].input_schema: required")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"input_schema":{}}]}""", "tools[0].name: required")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search_20250305","name":"web_search"}]}""", "tools[0].type: server tool 'web_search_20250305' ('web_search') is not supported")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"maybe"}}""", "tool_choice.type: unknown value 'maybe'")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"tool"}}""", "tool_choice.name: required")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"auto"}""", "tool_choice: expected an object, got a string")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"thinking":{"type":"enabled"}}""", "thinking.budget_tokens: required when thinking.type is 'enabled'")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"thinking":{"type":"enabled","budget_tokens":-1}}""", "thinking.budget_tokens: must be a positive integer")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"thinking":{"type":"deep"}}""", "thinking.type: unknown value 'deep'")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"output_config":{"effort":9}}""", "output_config.effort: expected a string")]
    public void Bad_input_is_a_400_naming_the_path(string json, string fragment)
        => AssertBadRequest(() => Parse(json), fragment);

    [Fact]
    public void Metadata_user_id_as_a_json_string_or_object_is_ignored()
    {
        Parse($$$"""{"model":"m","messages":{{{Hi}}},"metadata":{"user_id":"{\"a\":1}"}}""");
        Parse("""{"model":"m","messages":""" + Hi + ""","metadata":{"user_id":{"a":1}}}""");
    }

    [Fact]
    public void Tool_inputs_outlive_the_body_document()
    {
        var doc = JsonDocument.Parse("""{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"n","input":{"k":"v"}}]}]}""");
        var r = AnthropicMessagesFrontDoor.Instance.ParseRequest(doc.RootElement);
        doc.Dispose();
        Assert.Equal("v", ((ToolUseBlock)r.Messages[0].Content[0]).Input.GetProperty("k").GetString());
    }
}
