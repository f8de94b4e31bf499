#pragma warning disable OPENAI001 // the Responses client is marked experimental in the SDK
using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using Gapura.Simulators.Kiro;
using OpenAI;
using OpenAI.Responses;

namespace Gapura.Tests.Integration;

/// <summary>The official OpenAI .NET SDK's Responses client against the running gateway and the Kiro simulator.</summary>
public class ResponsesSdkTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private ResponsesClient Client() =>
        new(new ApiKeyCredential(GatewayFixture.ApiKey), new ResponsesClientOptions { Endpoint = new Uri(gateway.BaseUrl + "/v1") });

    private static readonly ResponseTool Weather = ResponseTool.CreateFunctionTool("get_weather",
        BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"""),
        strictModeEnabled: false, functionDescription: "Current weather for a city");

    [Fact]
    public async Task Sdk_reads_a_whole_response()
    {
        gateway.Kiro.Enqueue(KiroScenario.Stream(KiroFrame.Text("Hello "), KiroFrame.Text("from Kiro"), KiroFrame.Metadata(120, 4), KiroFrame.Metering()));
        var options = new CreateResponseOptions { Model = "claude-sonnet-4-5", Instructions = "Be brief.", InputItems = { ResponseItem.CreateUserMessageItem("Say hello") } };
        ResponseResult response = await Client().CreateResponseAsync(options);

        Assert.Equal("Hello from Kiro", response.GetOutputText());
        Assert.Equal(ResponseStatus.Completed, response.Status);
        Assert.StartsWith("resp_", response.Id);
        Assert.Equal(120, response.Usage.InputTokenCount);
        Assert.Equal(4, response.Usage.OutputTokenCount);
        Assert.Equal(124, response.Usage.TotalTokenCount);
        var content = gateway.Kiro.ChatRequests[^1].Json!["conversationState"]!["currentMessage"]!["userInputMessage"]!["content"]!.GetValue<string>();
        Assert.StartsWith("Be brief.", content);
    }

    [Fact]
    public async Task Sdk_reads_a_streamed_text_answer()
    {
        gateway.Kiro.Enqueue(KiroScenario.Stream(KiroFrame.Text("one "), KiroFrame.Text("two "), KiroFrame.Text("three"), KiroFrame.Metadata(50, 3), KiroFrame.Metering()));
        var options = new CreateResponseOptions { Model = "claude-sonnet-4-5", InputItems = { ResponseItem.CreateUserMessageItem("count") }, StreamingEnabled = true };
        var updates = new List<StreamingResponseUpdate>();
        await foreach (var u in await Client().CreateResponseStreamingAsync(options)) updates.Add(u);

        Assert.IsType<StreamingResponseCreatedUpdate>(updates[0]);
        var deltas = updates.OfType<StreamingResponseOutputTextDeltaUpdate>().ToList();
        Assert.True(deltas.Count >= 3, "each upstream delta is its own event");
        Assert.Equal("one two three", string.Concat(deltas.Select(d => d.Delta)));
        var completed = Assert.IsType<StreamingResponseCompletedUpdate>(updates[^1]);
        Assert.Equal("one two three", completed.Response.GetOutputText());
        Assert.Equal(53, completed.Response.Usage.TotalTokenCount);
        Assert.Equal(Enumerable.Range(0, updates.Count), updates.Select(u => u.SequenceNumber));
    }

    [Fact]
    public async Task Sdk_streams_a_function_call_and_sends_its_output_back()
    {
        gateway.Kiro.Enqueue(KiroScenario.ToolCall("tooluse_abc", "get_weather", """{"city":"Jakarta"}""", fragments: 4));
        var options = new CreateResponseOptions { Model = "claude-sonnet-4-5", InputItems = { ResponseItem.CreateUserMessageItem("Weather in Jakarta?") }, Tools = { Weather }, StreamingEnabled = true };
        var updates = new List<StreamingResponseUpdate>();
        await foreach (var u in await Client().CreateResponseStreamingAsync(options)) updates.Add(u);

        Assert.True(updates.OfType<StreamingResponseFunctionCallArgumentsDeltaUpdate>().Count() >= 2, "arguments arrive in several deltas");
        var done = updates.OfType<StreamingResponseOutputItemDoneUpdate>().Select(u => u.Item).OfType<FunctionCallResponseItem>().Single();
        Assert.Equal("get_weather", done.FunctionName);
        Assert.Equal("tooluse_abc", done.CallId);
        Assert.Equal("Jakarta", JsonDocument.Parse(done.FunctionArguments).RootElement.GetProperty("city").GetString());
        Assert.IsType<StreamingResponseCompletedUpdate>(updates[^1]);

        // Second turn: the whole history goes back (stateless), with the call's output.
        var followUp = new CreateResponseOptions
        {
            Model = "claude-sonnet-4-5",
            InputItems = { ResponseItem.CreateUserMessageItem("Weather in Jakarta?"), done, ResponseItem.CreateFunctionCallOutputItem(done.CallId, "31 C and humid") },
            Tools = { Weather },
        };
        ResponseResult answer = await Client().CreateResponseAsync(followUp);
        Assert.Contains("31 C and humid", answer.GetOutputText());
    }

    [Fact]
    public async Task An_unknown_previous_response_id_is_a_400_in_openai_shape()
    {
        using var http = gateway.Http();
        var body = """{"model":"claude-sonnet-4-5","input":"hi","previous_response_id":"resp_123"}""";
        using var response = await http.PostAsync("/v1/responses", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal("previous_response_not_found", error.GetProperty("code").GetString());
        Assert.Equal("Previous response with id 'resp_123' not found.", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Missing_key_is_a_401_in_openai_shape()
    {
        using var http = gateway.Http(apiKey: null);
        using var response = await http.PostAsync("/v1/responses", new StringContent("""{"model":"claude-sonnet-4-5","input":"hi"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("authentication_error", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error").GetProperty("type").GetString());
    }
}
