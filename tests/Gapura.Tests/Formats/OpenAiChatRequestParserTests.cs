using System.Text.Json;
using Gapura.Conversations;
using Gapura.Formats.OpenAi;
using static Gapura.Tests.Formats.FormatTestKit;

namespace Gapura.Tests.Formats;

public class OpenAiChatRequestParserTests
{
    private static ChatRequest Parse(string json) => OpenAiChatFrontDoor.Instance.ParseRequest(Json(json));

    private static void Bad(string json, string fragment) => AssertBadRequest(() => Parse(json), fragment);

    [Fact]
    public void Parses_the_scalar_fields()
    {
        var r = Parse("""
            {"model":"gpt-5","messages":[{"role":"user","content":"hi"}],
             "max_tokens":100,"temperature":0.2,"top_p":0.9,"stop":"END","stream":true,
             "stream_options":{"include_usage":true},"reasoning_effort":"medium","some_future_field":{"x":1}}
            """);
        Assert.Equal("gpt-5", r.Model);
        Assert.Equal(100, r.MaxTokens);
        Assert.Equal(0.2, r.Temperature);
        Assert.Equal(0.9, r.TopP);
        Assert.Equal(["END"], r.StopSequences);
        Assert.True(r.Stream);
        Assert.True(r.IncludeUsage);
        Assert.Equal(new ThinkingRequest(ThinkingMode.Enabled, Effort: "medium"), r.Thinking);
        Assert.Null(r.System);
        var m = Assert.Single(r.Messages);
        Assert.Equal(Role.User, m.Role);
        Assert.Equal("hi", Assert.IsType<TextBlock>(Assert.Single(m.Content)).Text);
    }

    [Fact]
    public void Nulls_count_as_absent()
    {
        var r = Parse("""{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":null,"tools":null,"stop":null,"max_tokens":null,"stream_options":null}""");
        Assert.Null(r.Temperature);
        Assert.Empty(r.Tools);
        Assert.Empty(r.StopSequences);
        Assert.Null(r.MaxTokens);
        Assert.False(r.Stream);
        Assert.False(r.IncludeUsage);
    }

    [Fact]
    public void Max_completion_tokens_wins_over_max_tokens()
        => Assert.Equal(7, Parse("""{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":100,"max_completion_tokens":7}""").MaxTokens);

    [Fact]
    public void Stop_accepts_an_array()
        => Assert.Equal(["a", "b"], Parse("""{"model":"m","messages":[{"role":"user","content":"x"}],"stop":["a","b"]}""").StopSequences);

    [Fact]
    public void Reasoning_effort_none_disables_thinking()
        => Assert.Equal(ThinkingMode.Disabled, Parse("""{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":"none"}""").Thinking!.Mode);

    [Fact]
    public void Leading_system_and_developer_text_becomes_the_system_prompt_and_later_ones_stay_in_place()
    {
        var r = Parse("""
            {"model":"m","messages":[
              {"role":"system","content":"You are terse."},
              {"role":"developer","content":[{"type":"text","text":"Use "},{"type":"text","text":"tools."}]},
              {"role":"user","content":"hi"},
              {"role":"system","content":"Now be verbose."},
              {"role":"user","content":"again"}]}
            """);
        Assert.Equal("You are terse.\n\nUse tools.", r.System);
        Assert.Equal([Role.User, Role.System, Role.User], r.Messages.Select(m => m.Role));
        Assert.Equal("Now be verbose.", Assert.IsType<TextBlock>(r.Messages[1].Content[0]).Text);
    }

    [Fact]
    public void User_parts_with_text_and_data_url_images()
    {
        var r = Parse("""
            {"model":"m","messages":[{"role":"user","content":[
              {"type":"text","text":"what is this?"},
              {"type":"image_url","image_url":{"url":"data:image/PNG;base64,iVBORw0KGgo=","detail":"high"}}]}]}
            """);
        var content = r.Messages[0].Content;
        Assert.Equal("what is this?", Assert.IsType<TextBlock>(content[0]).Text);
        var image = Assert.IsType<ImageBlock>(content[1]);
        Assert.Equal("image/png", image.MediaType);
        Assert.Equal("iVBORw0KGgo=", image.Data);
    }

    [Fact]
    public void Remote_image_urls_are_refused_with_a_clear_message()
    {
        var e = AssertBadRequest(() => Parse("""{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}"""),
            "messages[0].content[0].image_url.url");
        Assert.Contains("inline", e.Message);
    }

    [Fact]
    public void Remote_image_urls_are_skipped_in_lenient_mode()
    {
        var r = OpenAiChatFrontDoor.Instance.ParseRequest(Json("""{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"t"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}],"tools":[{"type":"custom","custom":{"name":"x"}}]}"""), skipUnsupported: true);
        Assert.Single(r.Messages[0].Content);
        Assert.Empty(r.Tools);
    }

    [Fact]
    public void Assistant_tool_calls_reasoning_and_consecutive_tool_results()
    {
        var r = Parse("""
            {"model":"m","messages":[
              {"role":"user","content":"list files"},
              {"role":"assistant","content":"Let me look.","reasoning_content":"I should call ls.","tool_calls":[
                 {"id":"call_1","type":"function","function":{"name":"ls","arguments":"{\"path\":\".\"}"}},
                 {"id":"call_2","type":"function","function":{"name":"pwd","arguments":""}}]},
              {"role":"tool","tool_call_id":"call_1","content":"a.txt"},
              {"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"/home"}]},
              {"role":"user","content":"thanks"}]}
            """);
        Assert.Equal([Role.User, Role.Assistant, Role.User, Role.User], r.Messages.Select(m => m.Role));
        var assistant = r.Messages[1].Content;
        Assert.Equal("I should call ls.", Assert.IsType<ThinkingBlock>(assistant[0]).Text);
        Assert.Equal("Let me look.", Assert.IsType<TextBlock>(assistant[1]).Text);
        var call = Assert.IsType<ToolUseBlock>(assistant[2]);
        Assert.Equal(("call_1", "ls", "."), (call.Id, call.Name, call.Input.GetProperty("path").GetString()));
        Assert.Equal(JsonValueKind.Object, Assert.IsType<ToolUseBlock>(assistant[3]).Input.ValueKind);

        var results = r.Messages[2].Content.Cast<ToolResultBlock>().ToList();
        Assert.Equal(["call_1", "call_2"], results.Select(x => x.ToolUseId));
        Assert.Equal("/home", Assert.IsType<TextBlock>(results[1].Content[0]).Text);
        Assert.False(results[0].IsError);
    }

    [Fact]
    public void Assistant_content_may_be_null()
        => Assert.Empty(Parse("""{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","content":null}]}""").Messages[1].Content);

    [Fact]
    public void Tools_and_tool_choice()
    {
        var r = Parse("""
            {"model":"m","messages":[{"role":"user","content":"x"}],
             "tools":[{"type":"function","function":{"name":"read","description":"Read a file","parameters":{"type":"object","properties":{"path":{"type":"string"}}},"strict":false}},
                      {"type":"function","function":{"name":"now"}}],
             "tool_choice":{"type":"function","function":{"name":"read"}}}
            """);
        Assert.Equal(2, r.Tools.Count);
        Assert.Equal(("read", "Read a file"), (r.Tools[0].Name, r.Tools[0].Description));
        Assert.Equal("string", r.Tools[0].InputSchema.GetProperty("properties").GetProperty("path").GetProperty("type").GetString());
        Assert.Equal("object", r.Tools[1].InputSchema.GetProperty("type").GetString());
        Assert.Equal(new ToolChoice(ToolChoiceKind.Tool, "read"), r.ToolChoice);
    }

    [Theory]
    [InlineData("auto", ToolChoiceKind.Auto)]
    [InlineData("none", ToolChoiceKind.None)]
    [InlineData("required", ToolChoiceKind.Any)]
    public void Tool_choice_words(string word, ToolChoiceKind kind)
        => Assert.Equal(kind, Parse($$"""{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"{{word}}"}""").ToolChoice!.Kind);

    [Fact]
    public void Tool_inputs_outlive_the_body_document()
    {
        using var doc = JsonDocument.Parse("""{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a","parameters":{"type":"object"}}}]}""");
        var r = OpenAiChatFrontDoor.Instance.ParseRequest(doc.RootElement);
        doc.Dispose();
        Assert.Equal("object", r.Tools[0].InputSchema.GetProperty("type").GetString());
    }

    [Theory]
    [InlineData("""[]""", "body: expected a JSON object")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}]}""", "model: required")]
    [InlineData("""{"model":5,"messages":[{"role":"user","content":"x"}]}""", "model: expected a string, got a number")]
    [InlineData("""{"model":"m"}""", "messages: required")]
    [InlineData("""{"model":"m","messages":[]}""", "messages: must contain at least one message")]
    [InlineData("""{"model":"m","messages":{}}""", "messages: expected an array")]
    [InlineData("""{"model":"m","messages":["hi"]}""", "messages[0]: expected an object, got a string")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"},{"role":"user","content":"y"},{"role":"foo","content":"z"}]}""", "messages[2].role: unknown role 'foo'")]
    [InlineData("""{"model":"m","messages":[{"role":"function","content":"z"}]}""", "messages[0].role: unknown role 'function'")]
    [InlineData("""{"model":"m","messages":[{"role":"user"}]}""", "messages[0].content: required")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":5}]}""", "messages[0].content: expected a string or an array")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"video"}]}]}""", "messages[0].content[0].type: unknown content part type 'video'")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}""", "messages[0].content[0].type: 'input_audio' content parts are not supported")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}""", "messages[0].content[0].text: required")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}""", "messages[0].content[0].image_url.url: a data URL must look like")]
    [InlineData("""{"model":"m","messages":[{"role":"system","content":[{"type":"image_url"}]}]}""", "messages[0].content[0].type: only text parts are allowed here")]
    [InlineData("""{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}""", "messages[0].tool_calls[0].function.arguments: is not valid JSON")]
    [InlineData("""{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}""", "messages[0].tool_calls[0].function.arguments: must be a JSON object")]
    [InlineData("""{"model":"m","messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f"}}]}]}""", "messages[0].tool_calls[0].id: required")]
    [InlineData("""{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function"}]}]}""", "messages[0].tool_calls[0].function: required")]
    [InlineData("""{"model":"m","messages":[{"role":"tool","content":"x"}]}""", "messages[0].tool_call_id: required")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}""", "max_tokens: must be a positive integer")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":-5}""", "max_completion_tokens: must be a positive integer")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1.5}""", "max_tokens: expected an integer")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":"100"}""", "max_tokens: expected an integer, got a string")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}""", "temperature: expected a number")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}""", "stream: expected a boolean")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"stop":[1]}""", "stop[0]: expected a string")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":1}}""", "stream_options.include_usage: expected a boolean")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"custom","custom":{"name":"x"}}]}""", "tools[0].type: only function tools are supported, got 'custom'")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"description":"d"}}]}""", "tools[0].function.name: required")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a","parameters":"{}"}}]}""", "tools[0].function.parameters: expected an object")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"sometimes"}""", "tool_choice: unknown value 'sometimes'")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"function"}}""", "tool_choice.function: required")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"reasoning_effort":3}""", "reasoning_effort: expected a string")]
    [InlineData("""{"model":"m","messages":[{"role":"user","content":"x"}],"n":2}""", "n: only n = 1 is supported")]
    public void Bad_input_is_a_400_naming_the_field(string json, string fragment) => Bad(json, fragment);
}
