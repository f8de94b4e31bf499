using System.ClientModel;
using System.Text.Json;
using Gapura.Simulators.Kiro;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Models;

namespace Gapura.Tests.Integration;

/// <summary>The official OpenAI .NET client against the running gateway, backed by the Kiro simulator.</summary>
public class OpenAiSdkTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private ChatClient Chat(string model = "claude-sonnet-4-5") =>
        new(model, new ApiKeyCredential(GatewayFixture.ApiKey), new OpenAIClientOptions { Endpoint = new Uri(gateway.BaseUrl + "/v1") });

    private static readonly ChatTool Weather = ChatTool.CreateFunctionTool("get_weather", "Current weather for a city",
        BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}"""));

    [Fact]
    public async Task Completes_a_chat_turn()
    {
        gateway.Kiro.Enqueue(KiroScenario.Stream(KiroFrame.Text("Hello "), KiroFrame.Text("from Kiro"), KiroFrame.Metadata(120, 4), KiroFrame.Metering()));
        ChatCompletion completion = await Chat().CompleteChatAsync([new SystemChatMessage("Be brief."), new UserChatMessage("Say hello")]);

        Assert.Equal("Hello from Kiro", completion.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        Assert.Equal(120, completion.Usage.InputTokenCount);
        Assert.Equal(4, completion.Usage.OutputTokenCount);
        // The system prompt reached Kiro prepended to the first user message (kiro.md §3).
        var sent = gateway.Kiro.ChatRequests[^1].Json!;
        var content = sent["conversationState"]!["currentMessage"]!["userInputMessage"]!["content"]!.GetValue<string>();
        Assert.StartsWith("Be brief.", content);
        Assert.Contains("Say hello", content);
        Assert.Contains(gateway.UsageRecords.Values, r => r.Client == "openai-sdk-dotnet" && r.ClientVersion is { Length: > 0 } && (r.InputTokens, r.OutputTokens) == (120, 4));
    }

    [Fact]
    public async Task Streams_text_as_it_arrives_with_usage()
    {
        gateway.Kiro.Enqueue(KiroScenario.Stream(KiroFrame.Text("one "), KiroFrame.Text("two "), KiroFrame.Text("three"), KiroFrame.Metadata(50, 3), KiroFrame.Metering()));
        var updates = new List<StreamingChatCompletionUpdate>();
        await foreach (var u in Chat().CompleteChatStreamingAsync([new UserChatMessage("count")]))
            updates.Add(u);

        Assert.Equal("one two three", string.Concat(updates.SelectMany(u => u.ContentUpdate).Select(p => p.Text)));
        Assert.True(updates.Count(u => u.ContentUpdate.Count > 0) >= 3, "each upstream delta is its own chunk");
        Assert.Equal(ChatFinishReason.Stop, updates.Single(u => u.FinishReason is not null).FinishReason);
        Assert.Equal(53, updates.Last(u => u.Usage is not null).Usage.TotalTokenCount);
    }

    [Fact]
    public async Task Tool_round_trip_streams_arguments_incrementally()
    {
        gateway.Kiro.Enqueue(KiroScenario.ToolCall("tooluse_abc", "get_weather", """{"city":"Jakarta"}""", fragments: 4));
        var options = new ChatCompletionOptions { Tools = { Weather } };
        var updates = new List<StreamingChatCompletionUpdate>();
        await foreach (var u in Chat().CompleteChatStreamingAsync([new UserChatMessage("Weather in Jakarta?")], options)) updates.Add(u);

        var toolUpdates = updates.SelectMany(u => u.ToolCallUpdates).ToList();
        Assert.True(toolUpdates.Count(t => t.FunctionArgumentsUpdate is { } a && a.ToMemory().Length > 0) >= 2, "arguments arrive in several deltas");
        Assert.Equal("get_weather", toolUpdates[0].FunctionName);
        Assert.Equal("tooluse_abc", toolUpdates[0].ToolCallId);
        var arguments = string.Concat(toolUpdates.Select(t => t.FunctionArgumentsUpdate?.ToString()));
        Assert.Equal("Jakarta", JsonDocument.Parse(arguments).RootElement.GetProperty("city").GetString());
        Assert.Equal(ChatFinishReason.ToolCalls, updates.Single(u => u.FinishReason is not null).FinishReason);

        // Second leg: the tool result goes back, the simulator's default answer quotes it.
        var history = new List<ChatMessage>
        {
            new UserChatMessage("Weather in Jakarta?"),
            new AssistantChatMessage([ChatToolCall.CreateFunctionToolCall("tooluse_abc", "get_weather", BinaryData.FromString(arguments))]),
            new ToolChatMessage("tooluse_abc", "31°C and humid"),
        };
        ChatCompletion answer = await Chat().CompleteChatAsync(history, options);
        Assert.Contains("31°C and humid", answer.Content[0].Text);
        var sent = gateway.Kiro.ChatRequests[^1].Json!["conversationState"]!;
        var result = sent["currentMessage"]!["userInputMessage"]!["userInputMessageContext"]!["toolResults"]![0]!;
        Assert.Equal("tooluse_abc", result["toolUseId"]!.GetValue<string>());
        Assert.Equal("get_weather", sent["history"]![1]!["assistantResponseMessage"]!["toolUses"]![0]!["name"]!.GetValue<string>());
    }

    [Fact]
    public async Task Reasoning_effort_brings_back_reasoning_content()
    {
        // Default simulator answer: it thinks in <thinking> tags when the gateway injected thinking mode.
        var http = gateway.Http();
        var response = await http.PostAsync("/v1/chat/completions", Json("""
            {"model":"claude-sonnet-4-5","reasoning_effort":"medium","max_tokens":4000,"messages":[{"role":"user","content":"think first"}]}
            """));
        response.EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var message = doc.RootElement.GetProperty("choices")[0].GetProperty("message");
        Assert.False(string.IsNullOrWhiteSpace(message.GetProperty("reasoning_content").GetString()));
        Assert.DoesNotContain("<thinking>", message.GetProperty("content").GetString());
        var sent = gateway.Kiro.ChatRequests[^1].Json!["conversationState"]!["currentMessage"]!["userInputMessage"]!["content"]!.GetValue<string>();
        Assert.Contains("<max_thinking_length>2000</max_thinking_length>", sent); // medium = 50 % of max_tokens
    }

    [Fact]
    public async Task Max_tokens_cuts_the_answer_with_length()
    {
        gateway.Kiro.Enqueue(KiroScenario.Stream(
            Enumerable.Range(0, 50).Select(i => KiroFrame.Text($"word{i} ")).Append(KiroFrame.Metering()).ToArray()));
        ChatCompletion completion = await Chat().CompleteChatAsync([new UserChatMessage("long please")], new ChatCompletionOptions { MaxOutputTokenCount = 10 });
        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.InRange(completion.Usage.OutputTokenCount, 1, 10);
        Assert.True(completion.Content[0].Text.Length < "word0 ".Length * 50);
    }

    [Fact]
    public async Task Lists_models_and_upstream_errors_surface_as_exceptions()
    {
        var models = new OpenAIModelClient(new ApiKeyCredential(GatewayFixture.ApiKey), new OpenAIClientOptions { Endpoint = new Uri(gateway.BaseUrl + "/v1") });
        var list = (await models.GetModelsAsync()).Value;
        Assert.Contains(list, m => m.Id == "kiro/claude-sonnet-4.5"); // provider/model: the name that picks Kiro explicitly

        gateway.Kiro.Enqueue(KiroScenario.ImproperlyFormed());
        var error = await Assert.ThrowsAsync<ClientResultException>(() => Chat().CompleteChatAsync([new UserChatMessage("x")]));
        Assert.Equal(400, error.Status);
        Assert.Contains("Improperly formed request", error.Message);
    }

    private static StringContent Json(string body) => new(body, System.Text.Encoding.UTF8, "application/json");
}
