using System.Text.Json;
using Gapura.Conversations;
using Gapura.Formats.Responses;
using static Gapura.Tests.Formats.FormatTestKit;

namespace Gapura.Tests.Formats;

public class ResponsesRequestParserTests
{
    private static ChatRequest Parse(string json) => ResponsesFrontDoor.Instance.ParseRequest(Json(json));

    [Fact]
    public void String_input_is_one_user_message_and_instructions_are_the_system_prompt()
    {
        var r = Parse("""{"model":"m","input":"hi","instructions":"Be brief.","max_output_tokens":99,"stream":true,"temperature":0.5,"top_p":0.9}""");
        Assert.Equal("m", r.Model);
        Assert.Equal("Be brief.", r.System);
        var message = Assert.Single(r.Messages);
        Assert.Equal(Role.User, message.Role);
        Assert.Equal("hi", Assert.IsType<TextBlock>(Assert.Single(message.Content)).Text);
        Assert.Equal(99, r.MaxTokens);
        Assert.True(r.Stream);
        Assert.Equal(0.5, r.Temperature);
        Assert.Equal(0.9, r.TopP);
    }

    [Fact]
    public void Codex_shaped_request_parses_with_unservable_tools_dropped()
    {
        var r = Parse("""
            {"model":"gpt-5","stream":true,"store":false,"parallel_tool_calls":true,"tool_choice":"auto",
             "reasoning":{"summary":"auto"},"include":["reasoning.encrypted_content"],"prompt_cache_key":"abc","metadata":{"a":"b"},
             "input":[
               {"type":"message","role":"developer","content":[{"type":"input_text","text":"You are Codex."}]},
               {"type":"message","role":"user","content":[{"type":"input_text","text":"<env/>"},{"type":"input_text","text":"say hi"}]}],
             "tools":[
               {"type":"function","name":"exec_command","description":"Run","strict":false,"parameters":{"type":"object","properties":{"cmd":{"type":"string"}}}},
               {"type":"namespace","name":"mcp","tools":[{"type":"function","name":"inner","parameters":{"type":"object"}}]},
               {"type":"web_search"},
               {"type":"custom","name":"apply_patch","format":{"type":"grammar"}},
               {"type":"function","name":"no_params"}]}
            """);
        Assert.Equal("You are Codex.", r.System);
        var user = Assert.Single(r.Messages);
        Assert.Equal(["<env/>", "say hi"], user.Content.Cast<TextBlock>().Select(t => t.Text));
        Assert.Equal(["exec_command", "no_params"], r.Tools.Select(t => t.Name));
        Assert.Equal("Run", r.Tools[0].Description);
        Assert.Equal("string", r.Tools[0].InputSchema.GetProperty("properties").GetProperty("cmd").GetProperty("type").GetString());
        Assert.Equal("object", r.Tools[1].InputSchema.GetProperty("type").GetString());
        Assert.Equal(ToolChoiceKind.Auto, r.ToolChoice!.Kind);
        Assert.Null(r.Thinking);
    }

    [Fact]
    public void Tool_round_trip_items_group_into_assistant_and_user_turns()
    {
        var r = Parse("""
            {"model":"m","input":[
              {"role":"user","content":"weather?"},
              {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Need a tool."}],"encrypted_content":"sig-1"},
              {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Checking."}]},
              {"type":"function_call","id":"fc_1","call_id":"call_a","name":"get_weather","arguments":"{\"city\":\"Jakarta\"}"},
              {"type":"function_call","call_id":"call_b","name":"get_time","arguments":""},
              {"type":"function_call_output","call_id":"call_a","output":"31 C"},
              {"type":"function_call_output","call_id":"call_b","output":[{"type":"input_text","text":"noon"}]},
              {"type":"message","role":"developer","content":"mid-conversation note"},
              {"role":"user","content":[{"type":"input_text","text":"thanks"}]}]}
            """);
        Assert.Null(r.System);
        Assert.Equal([Role.User, Role.Assistant, Role.User, Role.System, Role.User], r.Messages.Select(m => m.Role));

        var assistant = r.Messages[1].Content;
        var thinking = Assert.IsType<ThinkingBlock>(assistant[0]);
        Assert.Equal("Need a tool.", thinking.Text);
        Assert.Equal("sig-1", thinking.Signature);
        Assert.Equal("Checking.", Assert.IsType<TextBlock>(assistant[1]).Text);
        var call = Assert.IsType<ToolUseBlock>(assistant[2]);
        Assert.Equal(("call_a", "get_weather", "Jakarta"), (call.Id, call.Name, call.Input.GetProperty("city").GetString()));
        var noArgs = Assert.IsType<ToolUseBlock>(assistant[3]);
        Assert.Equal(JsonValueKind.Object, noArgs.Input.ValueKind);

        var results = r.Messages[2].Content.Cast<ToolResultBlock>().ToList();
        Assert.Equal(["call_a", "call_b"], results.Select(x => x.ToolUseId));
        Assert.Equal("31 C", Assert.IsType<TextBlock>(Assert.Single(results[0].Content)).Text);
        Assert.Equal("noon", Assert.IsType<TextBlock>(Assert.Single(results[1].Content)).Text);
        Assert.Equal("mid-conversation note", Assert.IsType<TextBlock>(Assert.Single(r.Messages[3].Content)).Text);
    }

    [Fact]
    public void Reasoning_with_only_encrypted_content_is_skipped()
    {
        var r = Parse("""
            {"model":"m","input":[{"role":"user","content":"hi"},
              {"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"opaque"},
              {"type":"message","role":"assistant","content":[{"type":"output_text","text":"hello"}]}]}
            """);
        Assert.Equal("hello", Assert.IsType<TextBlock>(Assert.Single(r.Messages[1].Content)).Text);
    }

    [Fact]
    public void Images_come_as_data_urls()
    {
        var r = Parse("""{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"what?"},{"type":"input_image","image_url":"data:image/PNG;base64,AAAA","detail":"auto"}]}]}""");
        var image = Assert.IsType<ImageBlock>(r.Messages[0].Content[1]);
        Assert.Equal(("image/png", "AAAA"), (image.MediaType, image.Data));
    }

    [Theory]
    [InlineData("""{"type":"function","name":"read"}""", ToolChoiceKind.Tool, "read")]
    [InlineData("\"required\"", ToolChoiceKind.Any, null)]
    [InlineData("\"none\"", ToolChoiceKind.None, null)]
    [InlineData("""{"type":"allowed_tools","mode":"required","tools":[]}""", ToolChoiceKind.Any, null)]
    public void Tool_choice_maps(string json, ToolChoiceKind kind, string? name)
    {
        var choice = Parse($$"""{"model":"m","input":"x","tool_choice":{{json}}}""").ToolChoice!;
        Assert.Equal((kind, name), (choice.Kind, choice.Name));
    }

    [Fact]
    public void Reasoning_effort_becomes_a_thinking_request()
    {
        var thinking = Parse("""{"model":"m","input":"x","reasoning":{"effort":"high","summary":"auto"}}""").Thinking!;
        Assert.Equal((ThinkingMode.Enabled, "high"), (thinking.Mode, thinking.Effort));
        Assert.Equal(ThinkingMode.Disabled, Parse("""{"model":"m","input":"x","reasoning":{"effort":"none"}}""").Thinking!.Mode);
    }

    [Fact]
    public void Store_true_is_accepted_as_a_no_op()
    {
        Assert.Single(Parse("""{"model":"m","input":"x","store":true,"text":{"format":{"type":"text"},"verbosity":"low"}}""").Messages);
    }

    [Theory]
    [InlineData("""{"model":"m","input":"x","previous_response_id":"resp_1"}""", "previous_response_id: this gateway keeps no responses here: send the full input")]
    [InlineData("""{"model":"m","input":"x","conversation":"conv_1"}""", "conversation: this gateway is stateless")]
    [InlineData("""{"model":"m","input":"x","background":true}""", "background:")]
    [InlineData("""{"input":"x"}""", "model: required")]
    [InlineData("""{"model":"m"}""", "input: required")]
    [InlineData("""{"model":"m","input":[]}""", "input: must contain at least one item")]
    [InlineData("""{"model":"m","input":42}""", "input: expected a string or an array of input items, got a number")]
    [InlineData("""{"model":"m","input":[{"role":"tool","content":"x"}]}""", "input[0].role: unknown role 'tool'")]
    [InlineData("""{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}""", "input[0].type: this gateway keeps no responses here")]
    [InlineData("""{"model":"m","input":[{"type":"web_search_call","id":"ws_1"}]}""", "input[0].type: unsupported input item type 'web_search_call'")]
    [InlineData("""{"model":"m","input":[{"role":"user","content":[{"type":"input_image","image_url":"https://x/y.png"}]}]}""", "input[0].content[0].image_url: images must be inline")]
    [InlineData("""{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file_1"}]}]}""", "input[0].content[0].file_id:")]
    [InlineData("""{"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_id":"f"}]}]}""", "input[0].content[0].type: 'input_file'")]
    [InlineData("""{"model":"m","input":[{"role":"user","content":"x"},{"type":"function_call","call_id":"c","name":"f","arguments":"[1]"}]}""", "input[1].arguments: must be a JSON object")]
    [InlineData("""{"model":"m","input":[{"type":"function_call_output","output":"x"}]}""", "input[0].call_id: required")]
    [InlineData("""{"model":"m","input":[{"role":"developer","content":"only system"}]}""", "input: must contain at least one user")]
    [InlineData("""{"model":"m","input":"x","max_output_tokens":0}""", "max_output_tokens: must be a positive integer")]
    [InlineData("""{"model":"m","input":"x","tools":[{"type":"function"}]}""", "tools[0].name: required")]
    [InlineData("""{"model":"m","input":"x","tool_choice":"maybe"}""", "tool_choice: unknown value 'maybe'")]
    [InlineData("""{"model":"m","input":"x","tool_choice":{"type":"web_search"}}""", "tool_choice.type:")]
    [InlineData("""{"model":"m","input":"x","text":{"format":{"type":"json_schema","schema":{}}}}""", "text.format.name: required")]
    [InlineData("""{"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"a b","schema":{}}}}""", "text.format.name: must be 1 to 64")]
    [InlineData("""{"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"a","schema":{"type":7}}}}""", "text.format.schema: not a valid JSON schema")]
    [InlineData("""{"model":"m","input":"x","text":{"format":{"type":"xml"}}}""", "text.format.type: unknown value 'xml'")]
    [InlineData("""{"model":"m","input":"x","stream":"yes"}""", "stream: expected a boolean")]
    public void Bad_input_is_a_400_naming_the_field(string json, string expected)
        => AssertBadRequest(() => Parse(json), expected);
}
