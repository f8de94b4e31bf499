using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Conversations;
using Gapura.Formats.Anthropic;
using Gapura.Providers.Bedrock;

namespace Gapura.Tests.Providers.Bedrock;

public sealed class BedrockRequestBuilderTests
{
    private static readonly BedrockOptions Options = new() { Region = "us-east-1" };

    private static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    private static JsonNode Build(ChatRequest request, int cap = 64_000)
        => JsonNode.Parse(BedrockRequestBuilder.Build(request, cap, Options))!;

    private static ChatRequest Request(params Message[] messages) => new() { Model = "m", Messages = messages };

    [Fact]
    public void Writes_every_block_type_in_bedrock_shape()
    {
        var request = Request(
                new Message(Role.User, [new TextBlock("look"), new ImageBlock("image/png", "iVBORw0KGgo=")]),
                new Message(Role.Assistant, [new ThinkingBlock("hmm", "sig-1"), new ThinkingBlock("", "REDACTED"), new TextBlock("calling"), new ToolUseBlock("tu_1", "get_weather", Json("""{"city":"Oslo"}"""))]),
                new Message(Role.User, [new ToolResultBlock("tu_1", [new TextBlock("boom")], IsError: true)]))
            with { Tools = [new ToolDefinition("get_weather", "Weather", Json("""{"type":"object","properties":{"city":{"type":"string"}}}"""))] };
        var body = Build(request);

        var messages = body["messages"]!.AsArray();
        Assert.Equal(3, messages.Count);
        Assert.Equal("""{"text":"look"}""", messages[0]!["content"]![0]!.ToJsonString());
        Assert.Equal("""{"image":{"format":"png","source":{"bytes":"iVBORw0KGgo="}}}""", messages[0]!["content"]![1]!.ToJsonString());
        var assistant = messages[1]!["content"]!.AsArray();
        Assert.Equal("""{"reasoningContent":{"reasoningText":{"text":"hmm","signature":"sig-1"}}}""", assistant[0]!.ToJsonString());
        Assert.Equal("""{"reasoningContent":{"redactedContent":"REDACTED"}}""", assistant[1]!.ToJsonString());
        Assert.Equal("""{"toolUse":{"toolUseId":"tu_1","name":"get_weather","input":{"city":"Oslo"}}}""", assistant[3]!.ToJsonString());
        Assert.Equal("""{"toolResult":{"toolUseId":"tu_1","content":[{"text":"boom"}],"status":"error"}}""", messages[2]!["content"]![0]!.ToJsonString());
        Assert.Equal("""{"toolSpec":{"name":"get_weather","description":"Weather","inputSchema":{"json":{"type":"object","properties":{"city":{"type":"string"}}}}}}""",
            body["toolConfig"]!["tools"]![0]!.ToJsonString());
    }

    [Fact]
    public void Inference_config_is_clamped_to_the_model_cap_and_carries_sampling_and_stops()
    {
        var body = Build(Request(Message.Text(Role.User, "hi")) with { MaxTokens = 100_000, Temperature = 0.5, TopP = 0.9, StopSequences = ["END"] }, cap: 8_192);
        Assert.Equal("""{"maxTokens":8192,"temperature":0.5,"topP":0.9,"stopSequences":["END"]}""", body["inferenceConfig"]!.ToJsonString());
        Assert.Equal("""["/stop_sequence"]""", body["additionalModelResponseFieldPaths"]!.ToJsonString());
    }

    [Theory]
    [InlineData(ToolChoiceKind.Auto, null, """{"auto":{}}""")]
    [InlineData(ToolChoiceKind.Any, null, """{"any":{}}""")]
    [InlineData(ToolChoiceKind.Tool, "t", """{"tool":{"name":"t"}}""")]
    public void Tool_choice_maps(ToolChoiceKind kind, string? name, string expected)
    {
        var body = Build(Request(Message.Text(Role.User, "hi")) with { Tools = [new("t", null, Json("{}"))], ToolChoice = new ToolChoice(kind, name) });
        Assert.Equal(expected, body["toolConfig"]!["toolChoice"]!.ToJsonString());
    }

    [Fact]
    public void Tool_choice_none_without_tool_history_leaves_the_tools_out()
    {
        var body = Build(Request(Message.Text(Role.User, "hi")) with { Tools = [new("t", null, Json("{}"))], ToolChoice = new ToolChoice(ToolChoiceKind.None) });
        Assert.Null(body["toolConfig"]);
    }

    [Fact]
    public void Tool_blocks_without_tool_definitions_are_a_400_naming_it()
    {
        var request = Request(Message.Text(Role.User, "hi"), new Message(Role.Assistant, [new ToolUseBlock("a", "t", Json("{}"))]),
            new Message(Role.User, [new ToolResultBlock("a", [new TextBlock("x")], false)]));
        var e = Assert.Throws<GatewayException>(() => Build(request));
        Assert.Equal(400, e.Status);
        Assert.Contains("tool", e.Message);
    }

    [Fact]
    public void Unsupported_image_type_is_a_400()
    {
        var e = Assert.Throws<GatewayException>(() => Build(Request(new Message(Role.User, [new ImageBlock("image/bmp", "AAAA")]))));
        Assert.Equal(400, e.Status);
        Assert.Contains("image/bmp", e.Message);
    }

    [Fact]
    public void Thinking_budget_goes_to_additional_model_request_fields()
    {
        var body = Build(Request(Message.Text(Role.User, "hi")) with { Thinking = new ThinkingRequest(ThinkingMode.Enabled, 4096) });
        Assert.Equal("""{"thinking":{"type":"enabled","budget_tokens":4096}}""", body["additionalModelRequestFields"]!.ToJsonString());
        var effort = Build(Request(Message.Text(Role.User, "hi")) with { Thinking = new ThinkingRequest(ThinkingMode.Enabled, Effort: "high") });
        Assert.Equal(16_384, effort["additionalModelRequestFields"]!["thinking"]!["budget_tokens"]!.GetValue<int>());
        Assert.Null(Build(Request(Message.Text(Role.User, "hi")) with { Thinking = new ThinkingRequest(ThinkingMode.Disabled, Effort: "high") })["additionalModelRequestFields"]);
    }

    [Theory]
    [InlineData("medium", 4096, null, 4095)]
    [InlineData("high", null, 8192, 8191)]
    [InlineData("low", 1500, null, 1499)]
    public void An_effort_budget_stays_below_max_tokens(string effort, int? maxTokens, int? modelCap, int expected)
    {
        // Bedrock refuses budget_tokens >= maxTokens; the budget for an effort word is the gateway's choice, so it must fit.
        var body = Build(Request(Message.Text(Role.User, "hi")) with { MaxTokens = maxTokens, Thinking = new ThinkingRequest(ThinkingMode.Enabled, Effort: effort) },
            modelCap ?? 64_000);
        Assert.Equal(expected, body["additionalModelRequestFields"]!["thinking"]!["budget_tokens"]!.GetValue<int>());
    }

    [Fact]
    public void Same_role_turns_merge_and_mid_conversation_system_text_is_kept_as_user_text()
    {
        var body = Build(Request(Message.Text(Role.User, "a"), Message.Text(Role.System, "be brief"), Message.Text(Role.User, "b"), Message.Text(Role.Assistant, "c"))
            with { System = "sys" });
        var messages = body["messages"]!.AsArray();
        Assert.Equal(2, messages.Count);
        Assert.Equal(3, messages[0]!["content"]!.AsArray().Count);
        Assert.Contains("be brief", messages[0]!["content"]![1]!["text"]!.GetValue<string>());
        Assert.Equal("""[{"text":"sys"}]""", body["system"]!.ToJsonString());
    }

    [Fact]
    public void Anthropic_cache_control_becomes_cache_points_after_system_tools_and_blocks()
    {
        var anthropic = Json("""
        {
          "model": "claude-sonnet-4-5", "max_tokens": 100,
          "system": [{"type":"text","text":"long system","cache_control":{"type":"ephemeral"}}],
          "tools": [{"name":"a","input_schema":{"type":"object"}},{"name":"b","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}],
          "messages": [
            {"role":"user","content":[{"type":"text","text":"doc","cache_control":{"type":"ephemeral","ttl":"5m"}},{"type":"text","text":"question"}]}
          ]
        }
        """);
        var request = AnthropicRequestParser.Parse(anthropic);
        Assert.True(request.SystemCacheBreakpoint);
        Assert.True(((TextBlock)request.Messages[0].Content[0]).CacheBreakpoint);
        Assert.False(request.Messages[0].Content[1].CacheBreakpoint);

        var body = Build(request);
        Assert.Equal("""[{"text":"long system"},{"cachePoint":{"type":"default"}}]""", body["system"]!.ToJsonString());
        var tools = body["toolConfig"]!["tools"]!.AsArray();
        Assert.Equal(3, tools.Count);
        Assert.Equal("""{"cachePoint":{"type":"default"}}""", tools[2]!.ToJsonString());
        Assert.Equal("""[{"text":"doc"},{"cachePoint":{"type":"default"}},{"text":"question"}]""", body["messages"]![0]!["content"]!.ToJsonString());
    }

    [Fact]
    public void Without_cache_control_no_cache_point_is_written()
    {
        var body = BedrockRequestBuilder.Build(Request(Message.Text(Role.User, "hi")) with { System = "s" }, 100, Options);
        Assert.DoesNotContain("cachePoint", System.Text.Encoding.UTF8.GetString(body));
    }
}
