using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Conversations;
using Gapura.Providers.OpenAi;

namespace Gapura.Tests.Providers.OpenAi;

public class ChatCompletionsRequestBuilderTests
{
    private static JsonNode Build(ChatRequest request, string model = "gpt-5", ChatCompletionsDialect? dialect = null)
        => JsonNode.Parse(ChatCompletionsRequestBuilder.Build(request, model, dialect ?? ChatCompletionsDialect.OpenAi))!;

    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    [Fact]
    public void Full_conversation_maps_to_chat_completions_messages()
    {
        var request = new ChatRequest
        {
            Model = "x",
            System = "Be brief.",
            Messages =
            [
                new Message(Role.User, [new TextBlock("Look: "), new ImageBlock("image/png", "iVBORw0KGgo=")]),
                new Message(Role.Assistant, [new ThinkingBlock("hmm"), new TextBlock("Calling."), new ToolUseBlock("call_1", "weather", Json("""{"city":"Oslo"}"""))]),
                new Message(Role.User, [new ToolResultBlock("call_1", [new TextBlock("sunny")], false), new TextBlock("And now?")]),
                Message.Text(Role.System, "mid-conversation note"),
                new Message(Role.Assistant, [new ToolUseBlock("call_2", "weather", Json("{}"))]),
                new Message(Role.User, [new ToolResultBlock("call_2", [new TextBlock("boom")], true)]),
            ],
            Tools = [OpenAiTestKit.Tool("weather")],
            ToolChoice = new ToolChoice(ToolChoiceKind.Tool, "weather"),
            MaxTokens = 100,
            Temperature = 0.5,
            StopSequences = ["END"],
            Thinking = new ThinkingRequest(ThinkingMode.Enabled, Effort: "high"),
        };
        var body = Build(request);
        Assert.Equal("gpt-5", (string?)body["model"]);
        Assert.True((bool)body["stream"]!);
        Assert.True((bool)body["stream_options"]!["include_usage"]!);
        Assert.Equal(100, (int)body["max_completion_tokens"]!);
        Assert.Null(body["max_tokens"]);
        Assert.Equal(0.5, (double)body["temperature"]!);
        Assert.Equal("END", (string?)body["stop"]![0]);
        Assert.Equal("high", (string?)body["reasoning_effort"]);
        Assert.Equal("weather", (string?)body["tool_choice"]!["function"]!["name"]);
        Assert.Equal("string", (string?)body["tools"]![0]!["function"]!["parameters"]!["properties"]!["city"]!["type"]);
        Assert.Equal("function", (string?)body["tools"]![0]!["type"]);

        var m = body["messages"]!.AsArray();
        Assert.Equal(["system", "user", "assistant", "tool", "user", "system", "assistant", "tool"], m.Select(x => (string)x!["role"]!).ToArray());
        Assert.Equal("Be brief.", (string?)m[0]!["content"]);
        Assert.Equal("text", (string?)m[1]!["content"]![0]!["type"]);
        Assert.Equal("data:image/png;base64,iVBORw0KGgo=", (string?)m[1]!["content"]![1]!["image_url"]!["url"]);
        Assert.Equal("Calling.", (string?)m[2]!["content"]);
        Assert.Null(m[2]!["reasoning_content"]); // earlier reasoning is not resent
        Assert.Equal("call_1", (string?)m[2]!["tool_calls"]![0]!["id"]);
        Assert.Equal("""{"city":"Oslo"}""", (string?)m[2]!["tool_calls"]![0]!["function"]!["arguments"]);
        Assert.Equal("call_1", (string?)m[3]!["tool_call_id"]);
        Assert.Equal("sunny", (string?)m[3]!["content"]);
        Assert.Equal("And now?", (string?)m[4]!["content"]);
        Assert.Equal(JsonValueKind.Null, m[6]!["content"]?.GetValueKind() ?? JsonValueKind.Null);
        Assert.Equal("Error: boom", (string?)m[7]!["content"]);
    }

    [Fact]
    public void Images_a_tool_returned_follow_in_a_user_message()
    {
        var request = new ChatRequest
        {
            Model = "x",
            Messages =
            [
                new Message(Role.Assistant, [new ToolUseBlock("c", "shot", Json("{}"))]),
                new Message(Role.User, [new ToolResultBlock("c", [new TextBlock("here"), new ImageBlock("image/jpeg", "AAAA")], false)]),
            ],
        };
        var m = Build(request)["messages"]!.AsArray();
        Assert.Equal("tool", (string?)m[1]!["role"]);
        Assert.Equal("here", (string?)m[1]!["content"]);
        Assert.Equal("user", (string?)m[2]!["role"]);
        Assert.Equal("data:image/jpeg;base64,AAAA", (string?)m[2]!["content"]![0]!["image_url"]!["url"]);
    }

    [Theory]
    [InlineData("gpt-4o", null)]          // not a reasoning model: OpenAI would answer 400 to the field
    [InlineData("o4-mini", "medium")]
    [InlineData("gpt-5-mini", "medium")]
    public void Reasoning_effort_goes_only_to_models_that_reason(string model, string? expected)
    {
        var request = OpenAiTestKit.Ask("hi", thinking: new ThinkingRequest(ThinkingMode.Enabled, BudgetTokens: 10_000));
        Assert.Equal(expected, (string?)Build(request, model)["reasoning_effort"]);
    }

    [Fact]
    public void Compatible_dialect_uses_max_tokens_and_always_passes_effort()
    {
        var request = OpenAiTestKit.Ask("hi", maxTokens: 50, thinking: new ThinkingRequest(ThinkingMode.Enabled, Effort: "low"));
        var body = Build(request, "llama3.2", ChatCompletionsDialect.Compatible);
        Assert.Equal(50, (int)body["max_tokens"]!);
        Assert.Null(body["max_completion_tokens"]);
        Assert.Equal("low", (string?)body["reasoning_effort"]);
    }

    [Theory]
    [InlineData(ToolChoiceKind.Auto, "auto")]
    [InlineData(ToolChoiceKind.None, "none")]
    [InlineData(ToolChoiceKind.Any, "required")]
    public void Tool_choice_words(ToolChoiceKind kind, string expected)
    {
        var request = OpenAiTestKit.Ask("hi", tools: [OpenAiTestKit.Tool("t")]) with { ToolChoice = new ToolChoice(kind) };
        Assert.Equal(expected, (string?)Build(request)["tool_choice"]);
    }

    [Fact]
    public void Disabled_thinking_and_no_tools_send_neither_field()
    {
        var request = OpenAiTestKit.Ask("hi", thinking: new ThinkingRequest(ThinkingMode.Disabled)) with { ToolChoice = new ToolChoice(ToolChoiceKind.Auto) };
        var body = Build(request);
        Assert.Null(body["reasoning_effort"]);
        Assert.Null(body["tool_choice"]);
        Assert.Null(body["tools"]);
    }
}
