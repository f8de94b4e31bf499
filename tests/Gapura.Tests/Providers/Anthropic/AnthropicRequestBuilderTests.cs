using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Conversations;
using Gapura.Providers.Anthropic;
using static Gapura.Tests.Providers.Anthropic.AnthropicTestKit;

namespace Gapura.Tests.Providers.Anthropic;

public class AnthropicRequestBuilderTests
{
    private static JsonObject Build(ChatRequest request, int maxOutput = 64_000)
        => JsonNode.Parse(AnthropicRequestBuilder.Build(request, Resolved(maxOutput: maxOutput).Model))!.AsObject();

    [Fact]
    public void Writes_the_model_id_max_tokens_system_and_always_streams()
    {
        var body = Build(Ask("hi", maxTokens: 300) with { System = "Be brief.", Temperature = 0.5, TopP = 0.9, StopSequences = ["END"] });
        Assert.Equal(Model, (string?)body["model"]);
        Assert.Equal(300, (int)body["max_tokens"]!);
        Assert.Equal("Be brief.", (string?)body["system"]);
        Assert.True((bool)body["stream"]!);
        Assert.Equal(0.5, (double)body["temperature"]!);
        Assert.Equal(0.9, (double)body["top_p"]!);
        Assert.Equal("END", (string?)body["stop_sequences"]![0]);
        Assert.Equal("""[{"role":"user","content":[{"type":"text","text":"hi"}]}]""", body["messages"]!.ToJsonString());
        Assert.Null(body["cache_control"]);
    }

    [Fact]
    public void Without_max_tokens_the_models_cap_is_sent_because_anthropic_requires_it()
        => Assert.Equal(8192, (int)Build(Ask("hi", maxTokens: null), maxOutput: 8192)["max_tokens"]!);

    [Fact]
    public void Every_block_type_is_written_in_anthropic_shape()
    {
        var request = new ChatRequest
        {
            Model = Model,
            MaxTokens = 4000,
            Messages =
            [
                new Message(Role.User, [new TextBlock("look"), new ImageBlock("image/png", "iVBORw0KGgo=")]),
                new Message(Role.Assistant,
                [
                    new ThinkingBlock("pondering", "sig-abc"),
                    new ThinkingBlock("", "redacted-data"),
                    new TextBlock("calling"),
                    new ToolUseBlock("toolu_1", "read_file", Json("""{"path":"a.txt"}""")),
                    new ToolUseBlock("toolu_2", "grep", Json("""{"q":"x"}""")),
                ]),
                new Message(Role.User,
                [
                    new ToolResultBlock("toolu_1", [new TextBlock("contents"), new ImageBlock("image/jpeg", "/9j/")], false),
                    new ToolResultBlock("toolu_2", [new TextBlock("no such pattern")], true),
                ]),
            ],
            Tools = [new ToolDefinition("read_file", "Reads a file", Json("""{"type":"object","properties":{"path":{"type":"string"}}}"""))],
            ToolChoice = new ToolChoice(ToolChoiceKind.Tool, "read_file"),
        };
        var body = Build(request);
        var messages = body["messages"]!.AsArray();
        Assert.Equal("""{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}""", messages[0]!["content"]![1]!.ToJsonString());

        var assistant = messages[1]!["content"]!.AsArray();
        Assert.Equal("""{"type":"thinking","thinking":"pondering","signature":"sig-abc"}""", assistant[0]!.ToJsonString());
        Assert.Equal("""{"type":"redacted_thinking","data":"redacted-data"}""", assistant[1]!.ToJsonString());
        Assert.Equal("""{"type":"tool_use","id":"toolu_1","name":"read_file","input":{"path":"a.txt"}}""", assistant[3]!.ToJsonString());

        var results = messages[2]!["content"]!.AsArray();
        Assert.Equal("""{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"contents"},{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"/9j/"}}]}""", results[0]!.ToJsonString());
        Assert.True((bool)results[1]!["is_error"]!);

        Assert.Equal("""[{"name":"read_file","description":"Reads a file","input_schema":{"type":"object","properties":{"path":{"type":"string"}}}}]""", body["tools"]!.ToJsonString());
        Assert.Equal("""{"type":"tool","name":"read_file"}""", body["tool_choice"]!.ToJsonString());
    }

    [Fact]
    public void Unsigned_reasoning_from_another_upstream_is_left_out_since_anthropic_would_refuse_it()
    {
        var request = Ask("next") with
        {
            Messages = [Message.Text(Role.User, "q"), new Message(Role.Assistant, [new ThinkingBlock("kiro thoughts"), new TextBlock("a")]), Message.Text(Role.User, "next")],
        };
        var assistant = Build(request)["messages"]![1]!["content"]!.AsArray();
        Assert.Single(assistant);
        Assert.Equal("text", (string?)assistant[0]!["type"]);
    }

    [Fact]
    public void Mid_conversation_system_messages_become_user_text_and_turns_stay_alternating()
    {
        var request = Ask("x") with
        {
            Messages = [Message.Text(Role.User, "one"), Message.Text(Role.System, "remember X"), Message.Text(Role.Assistant, "ok"), Message.Text(Role.User, "two")],
        };
        var messages = Build(request)["messages"]!.AsArray();
        Assert.Equal(3, messages.Count);
        Assert.Equal(["user", "assistant", "user"], messages.Select(m => (string?)m!["role"]));
        var merged = messages[0]!["content"]!.AsArray();
        Assert.Equal(2, merged.Count);
        Assert.Contains("remember X", (string?)merged[1]!["text"]);
    }

    [Theory]
    [InlineData(ThinkingMode.Enabled, 5000, null, """{"type":"enabled","budget_tokens":5000}""", null)]
    [InlineData(ThinkingMode.Enabled, 5000, "high", """{"type":"enabled","budget_tokens":5000}""", "high")]
    [InlineData(ThinkingMode.Adaptive, null, "medium", """{"type":"adaptive"}""", "medium")]
    [InlineData(ThinkingMode.Enabled, null, "high", """{"type":"enabled","budget_tokens":16384}""", null)]
    [InlineData(ThinkingMode.Enabled, null, "minimal", """{"type":"enabled","budget_tokens":2048}""", null)]
    [InlineData(ThinkingMode.Disabled, null, null, null, null)]
    public void Thinking_budget_adaptive_and_effort(ThinkingMode mode, int? budget, string? effort, string? thinking, string? outputEffort)
    {
        var body = Build(Ask("think", maxTokens: 32_000) with { Thinking = new ThinkingRequest(mode, budget, effort) });
        Assert.Equal(thinking, body["thinking"]?.ToJsonString());
        Assert.Equal(outputEffort, (string?)body["output_config"]?["effort"]);
    }

    [Fact]
    public void A_budget_is_kept_below_max_tokens_as_anthropic_requires()
    {
        var body = Build(Ask("think", maxTokens: 3000) with { Thinking = new ThinkingRequest(ThinkingMode.Enabled, 10_000) });
        Assert.Equal(2999, (int)body["thinking"]!["budget_tokens"]!);
    }

    [Fact]
    public void Tool_choice_kinds()
    {
        foreach (var (kind, expected) in new[] { (ToolChoiceKind.Auto, "auto"), (ToolChoiceKind.Any, "any"), (ToolChoiceKind.None, "none") })
        {
            var body = Build(Ask("x") with { Tools = [new ToolDefinition("t", null, Json("""{"type":"object"}"""))], ToolChoice = new ToolChoice(kind) });
            Assert.Equal($$"""{"type":"{{expected}}"}""", body["tool_choice"]!.ToJsonString());
            Assert.Null(body["tools"]![0]!["description"]);
        }
    }
}
