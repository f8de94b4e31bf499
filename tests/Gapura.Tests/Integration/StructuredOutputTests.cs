using System.ClientModel;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Simulators.Kiro;
using OpenAI;
using OpenAI.Chat;
using static Gapura.Tests.Integration.Wire;

namespace Gapura.Tests.Integration;

/// <summary>
/// Structured output over Kiro, which has no field for it: every door's format becomes a forced tool whose schema is the
/// requested one, and the tool's input comes back as the answer's JSON text, checked against the schema first.
/// </summary>
public class StructuredOutputTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private const string Schema = """{"type":"object","properties":{"city":{"type":"string"},"celsius":{"type":"number"}},"required":["city","celsius"],"additionalProperties":false}""";
    private const string ChatFormat = $$$"""
        "response_format":{"type":"json_schema","json_schema":{"name":"weather_report","strict":true,"schema":{{{Schema}}}}}
        """;

    private ChatClient Chat() => new(Model, new ApiKeyCredential(GatewayFixture.ApiKey), new OpenAIClientOptions { Endpoint = new Uri(gateway.BaseUrl + "/v1") });

    /// <summary>The tools Kiro received on the last request, and the text of its current message.</summary>
    private (JsonArray Tools, string Content) SentToKiro()
    {
        var current = gateway.Kiro.ChatRequests[^1].Json!["conversationState"]!["currentMessage"]!["userInputMessage"]!;
        return (current["userInputMessageContext"]?["tools"]?.AsArray() ?? [], current["content"]!.GetValue<string>());
    }

    private static JsonNode? SpecNamed(JsonArray tools, string name)
        => tools.Select(t => t!["toolSpecification"]!).SingleOrDefault(s => s["name"]!.GetValue<string>() == name);

    [Fact]
    public async Task OpenAI_sdk_json_schema_gets_the_tool_input_as_its_answer()
    {
        gateway.Kiro.Enqueue(KiroScenario.ToolCall("tooluse_1", "weather_report", """{"city":"Jakarta","celsius":31}"""));
        var options = new ChatCompletionOptions
        {
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("weather_report", BinaryData.FromString(Schema), jsonSchemaIsStrict: true),
        };
        ChatCompletion completion = await Chat().CompleteChatAsync([new UserChatMessage("Weather in Jakarta?")], options);

        using var answer = JsonDocument.Parse(completion.Content[0].Text);
        Assert.Equal("Jakarta", answer.RootElement.GetProperty("city").GetString());
        Assert.Equal(31, answer.RootElement.GetProperty("celsius").GetInt32());
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        Assert.Empty(completion.ToolCalls);

        // Kiro was offered exactly the requested schema as a tool, and told to answer through it.
        var (tools, content) = SentToKiro();
        var spec = SpecNamed(tools, "weather_report")!;
        Assert.Equal(["celsius", "city"], spec["inputSchema"]!["json"]!["required"]!.AsArray().Select(n => n!.GetValue<string>()).Order());
        Assert.Contains("Answer by calling the tool \"weather_report\"", content);
    }

    [Fact]
    public async Task Streamed_answer_is_the_json_as_text_with_finish_reason_stop()
    {
        gateway.Kiro.Enqueue(KiroScenario.ToolCall("tooluse_2", "weather_report", """{"city":"Oslo","celsius":-3.5}""", fragments: 5));
        var (response, items, _) = await StreamAsync(gateway.Http(), OpenAi(OpenAiBody("Weather in Oslo?", stream: true, extra: ChatFormat)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"city":"Oslo","celsius":-3.5}""", OpenAiText(items));
        Assert.Equal("stop", OpenAiFinishReason(items));
        Assert.DoesNotContain(items, i => i.Data?.Contains("tool_calls") == true);
    }

    [Fact]
    public async Task A_text_answer_in_a_code_fence_is_taken_when_it_matches()
    {
        gateway.Kiro.Enqueue(KiroScenario.Text("Here it is:\n```json\n{\"city\":\"Lima\",", "\"celsius\":18}\n```"));
        var (response, body) = await SendAsync(gateway.Http(), OpenAi(OpenAiBody("Weather in Lima?", extra: ChatFormat)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var message = JsonNode.Parse(body)!["choices"]![0]!["message"]!;
        Assert.Equal("""{"city":"Lima","celsius":18}""", message["content"]!.GetValue<string>());
    }

    [Fact]
    public async Task An_answer_that_breaks_the_schema_is_an_error_not_a_success()
    {
        gateway.Kiro.Enqueue(KiroScenario.ToolCall("tooluse_3", "weather_report", """{"city":"Quito"}"""));
        var (response, body) = await SendAsync(gateway.Http(), OpenAi(OpenAiBody("Weather in Quito?", extra: ChatFormat)));
        AssertOpenAiError(response, body, HttpStatusCode.BadGateway, "did not answer with JSON matching the requested schema 'weather_report'", "celsius");

        gateway.Kiro.Enqueue(KiroScenario.Text("It is sunny and warm."));
        (response, body) = await SendAsync(gateway.Http(), Wire.Anthropic(AnthropicBody("Weather?",
            extra: $$$"""
            "output_config":{"format":{"type":"json_schema","schema":{{{Schema}}}}}
            """)));
        AssertAnthropicError(response, body, HttpStatusCode.BadGateway, "the answer is not JSON");
    }

    [Fact]
    public async Task A_streamed_answer_that_breaks_the_schema_is_an_error_before_any_text()
    {
        gateway.Kiro.Enqueue(KiroScenario.ToolCall("tooluse_4", "response", """{"city":"Rome","celsius":"hot"}"""));
        var (response, raw) = await SendAsync(gateway.Http(), Wire.Anthropic(AnthropicBody("Weather in Rome?", stream: true,
            extra: $$$"""
            "output_config":{"format":{"type":"json_schema","schema":{{{Schema}}}}}
            """)));

        // Nothing had been sent before the check, so the refusal is a plain HTTP error rather than a half answer.
        AssertAnthropicError(response, raw, HttpStatusCode.BadGateway, "/celsius");
        Assert.DoesNotContain("Rome", raw);
    }

    [Fact]
    public async Task Anthropic_output_config_and_the_beta_output_format_are_served()
    {
        foreach (var field in new[] { "output_config\":{\"format\"", "output_format\"" })
        {
            gateway.Kiro.Enqueue(KiroScenario.ToolCall("tooluse_5", "response", """{"city":"Cairo","celsius":35}"""));
            var format = field.StartsWith("output_config") ? $$$"""
                "output_config":{"format":{"type":"json_schema","schema":{{{Schema}}}}}
                """ : $$$"""
                "output_format":{"type":"json_schema","schema":{{{Schema}}}}
                """;
            var (response, body) = await SendAsync(gateway.Http(), Wire.Anthropic(AnthropicBody("Weather in Cairo?", extra: format)));

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var answer = JsonNode.Parse(body)!;
            Assert.Equal("end_turn", answer["stop_reason"]!.GetValue<string>());
            var content = answer["content"]!.AsArray();
            Assert.Equal("text", Assert.Single(content)!["type"]!.GetValue<string>());
            Assert.Equal("""{"city":"Cairo","celsius":35}""", content[0]!["text"]!.GetValue<string>());
            Assert.NotNull(SpecNamed(SentToKiro().Tools, "response"));
        }
    }

    [Fact]
    public async Task Responses_text_format_json_schema_is_served()
    {
        gateway.Kiro.Enqueue(KiroScenario.ToolCall("tooluse_6", "weather_report", """{"city":"Lagos","celsius":29}"""));
        var (response, body) = await SendAsync(gateway.Http(), Post("/v1/responses", $$$"""
            {"model":"{{{Model}}}","input":"Weather in Lagos?","text":{"format":{"type":"json_schema","name":"weather_report","strict":true,"schema":{{{Schema}}} } } }
            """));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var output = JsonNode.Parse(body)!["output"]!.AsArray();
        var message = Assert.Single(output, o => o!["type"]!.GetValue<string>() == "message")!;
        Assert.Equal("""{"city":"Lagos","celsius":29}""", message["content"]![0]!["text"]!.GetValue<string>());
        Assert.DoesNotContain(output, o => o!["type"]!.GetValue<string>() == "function_call");
    }

    [Fact]
    public async Task Json_object_takes_any_object_and_refuses_an_array()
    {
        gateway.Kiro.Enqueue(KiroScenario.ToolCall("tooluse_7", "response", """{"anything":[1,2]}"""));
        var (response, body) = await SendAsync(gateway.Http(), OpenAi(OpenAiBody("Give me JSON", extra: "\"response_format\":{\"type\":\"json_object\"}")));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"anything":[1,2]}""", JsonNode.Parse(body)!["choices"]![0]!["message"]!["content"]!.GetValue<string>());

        gateway.Kiro.Enqueue(KiroScenario.Text("[1, 2, 3]"));
        (response, body) = await SendAsync(gateway.Http(), OpenAi(OpenAiBody("Give me JSON", extra: "\"response_format\":{\"type\":\"json_object\"}")));
        AssertOpenAiError(response, body, HttpStatusCode.BadGateway, "not a JSON object");
    }

    [Fact]
    public async Task The_callers_own_tool_calls_pass_through_beside_a_format()
    {
        gateway.Kiro.Enqueue(KiroScenario.ToolCall("tooluse_8", "get_time", """{"zone":"UTC"}"""));
        var (response, body) = await SendAsync(gateway.Http(), OpenAi(OpenAiBody("What time is it?", extra: ChatFormat + """
            ,"tools":[{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{"zone":{"type":"string"}}}}}]
            """)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var choice = JsonNode.Parse(body)!["choices"]![0]!;
        Assert.Equal("tool_calls", choice["finish_reason"]!.GetValue<string>());
        Assert.Equal("get_time", choice["message"]!["tool_calls"]![0]!["function"]!["name"]!.GetValue<string>());
        // Both tools were offered, and the model was told it must call one (it may not answer in plain text).
        var tools = SentToKiro().Tools;
        Assert.NotNull(SpecNamed(tools, "get_time"));
        Assert.NotNull(SpecNamed(tools, "weather_report"));
    }

    [Fact]
    public async Task A_model_left_to_itself_answers_through_the_forced_tool_with_valid_json()
    {
        // No script: the simulated model obeys the forced-tool instruction as a real one does; the answer matches the schema.
        const string nested = """
            {"type":"object","properties":{"title":{"type":"string"},"tags":{"type":"array","items":{"type":"string","enum":["bug","feature"]},"minItems":1},
             "meta":{"type":"object","properties":{"score":{"type":"integer","minimum":3}},"required":["score"]}},"required":["title","tags","meta"]}
            """;
        var (response, body) = await SendAsync(gateway.Http(), OpenAi(OpenAiBody("Classify this issue", stream: false,
            extra: $$$"""
            "response_format":{"type":"json_schema","json_schema":{"name":"issue","schema":{{{nested}}} } }
            """)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var answer = JsonDocument.Parse(JsonNode.Parse(body)!["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        Assert.Equal("bug", answer.RootElement.GetProperty("tags")[0].GetString());
        Assert.Equal(3, answer.RootElement.GetProperty("meta").GetProperty("score").GetInt32());
    }

    [Theory]
    [InlineData("\"response_format\":{\"type\":\"json_schema\"}", "response_format.json_schema: required")]
    [InlineData("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{}}}", "response_format.json_schema.name: required")]
    [InlineData("\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"x\",\"schema\":{\"type\":\"bogus\"}}}", "response_format.json_schema.schema: not a valid JSON schema")]
    [InlineData("\"response_format\":{\"type\":\"yaml\"}", "response_format.type: unknown value 'yaml'")]
    public async Task A_bad_format_is_a_400_naming_the_field_before_anything_goes_upstream(string format, string message)
    {
        var before = gateway.Kiro.ChatRequests.Count;
        var (response, body) = await SendAsync(gateway.Http(), OpenAi(OpenAiBody("hi", extra: format)));
        AssertOpenAiError(response, body, HttpStatusCode.BadRequest, message);
        Assert.Equal(before, gateway.Kiro.ChatRequests.Count);
    }
}
