using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Conversations;
using Gapura.Providers.Anthropic;
using Gapura.Providers.Bedrock;
using Gapura.Providers.OpenAi;

namespace Gapura.Tests.Providers;

/// <summary>
/// What each upstream receives for a structured-output request: its own field where it has one (Anthropic, OpenAI chat
/// and Responses, which compatible servers and Copilot share), the forced answer tool where it has none (Bedrock).
/// </summary>
public class StructuredOutputUpstreamTests
{
    private const string Schema = """{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}""";

    private static readonly OutputFormat Named = new(OutputFormatKind.JsonSchema, "place", JsonDocument.Parse(Schema).RootElement, Strict: true, Description: "Where it is");

    private static ChatRequest Ask(OutputFormat? format) => new()
    {
        Model = "m",
        Messages = [Message.Text(Role.User, "Where?")],
        OutputFormat = format,
        Thinking = new ThinkingRequest(ThinkingMode.Adaptive, Effort: "high"),
    };

    [Fact]
    public void Anthropic_gets_output_config_format_beside_the_effort()
    {
        var body = JsonNode.Parse(AnthropicRequestBuilder.Build(Ask(Named), Anthropic.AnthropicTestKit.Resolved().Model))!;
        Assert.Equal("high", (string?)body["output_config"]!["effort"]);
        Assert.Equal("json_schema", (string?)body["output_config"]!["format"]!["type"]);
        Assert.Equal(Schema, body["output_config"]!["format"]!["schema"]!.ToJsonString());
        Assert.Null(body["tools"]);
    }

    [Fact]
    public void OpenAI_chat_gets_response_format_with_name_schema_strict_and_description()
    {
        var body = JsonNode.Parse(ChatCompletionsRequestBuilder.Build(Ask(Named), "gpt-5", ChatCompletionsDialect.OpenAi))!;
        var format = body["response_format"]!;
        Assert.Equal("json_schema", (string?)format["type"]);
        Assert.Equal("place", (string?)format["json_schema"]!["name"]);
        Assert.Equal("Where it is", (string?)format["json_schema"]!["description"]);
        Assert.True((bool)format["json_schema"]!["strict"]!);
        Assert.Equal(Schema, format["json_schema"]!["schema"]!.ToJsonString());

        body = JsonNode.Parse(ChatCompletionsRequestBuilder.Build(Ask(OutputFormat.AnyObject), "gpt-5", ChatCompletionsDialect.OpenAi))!;
        Assert.Equal("""{"type":"json_object"}""", body["response_format"]!.ToJsonString());
    }

    [Fact]
    public void OpenAI_responses_gets_a_flat_text_format()
    {
        var endpoint = new OpenAiEndpoint("http://127.0.0.1:1/v1", "sk-x", new Dictionary<string, string>()) { Api = OpenAiApi.Responses };
        var body = JsonNode.Parse(ResponsesRequestBuilder.Build(Ask(Named), "gpt-5", ChatCompletionsDialect.OpenAi, endpoint))!;
        var format = body["text"]!["format"]!;
        Assert.Equal("json_schema", (string?)format["type"]);
        Assert.Equal("place", (string?)format["name"]);
        Assert.Equal(Schema, format["schema"]!.ToJsonString());
    }

    [Fact]
    public void Without_a_native_field_the_answer_tool_is_declared_and_forced()
    {
        var constrained = StructuredOutput.Constrain(Ask(Named), out var tool);
        Assert.Equal("place", tool);
        Assert.Null(constrained.OutputFormat);
        var body = JsonNode.Parse(BedrockRequestBuilder.Build(constrained, 4096, new BedrockOptions { Region = "us-east-1" }))!;
        var spec = body["toolConfig"]!["tools"]![0]!["toolSpec"]!;
        Assert.Equal("place", (string?)spec["name"]);
        Assert.Equal(Schema, spec["inputSchema"]!["json"]!.ToJsonString());
        Assert.Equal("place", (string?)body["toolConfig"]!["toolChoice"]!["tool"]!["name"]);
    }

    [Fact]
    public void The_answer_tool_never_takes_a_callers_tool_name_and_leaves_a_callers_tools_callable()
    {
        var request = Ask(Named) with { Tools = [new ToolDefinition("place", null, JsonDocument.Parse("{}").RootElement)] };
        var constrained = StructuredOutput.Constrain(request, out var tool);
        Assert.Equal("place_answer", tool);
        Assert.Equal(["place", "place_answer"], constrained.Tools.Select(t => t.Name));
        // The model may call the caller's tool first, but it must call some tool: plain text is not an answer.
        Assert.Equal(ToolChoiceKind.Any, constrained.ToolChoice!.Kind);
    }
}
