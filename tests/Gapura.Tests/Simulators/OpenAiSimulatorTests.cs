using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Simulators.OpenAi;
using OpenAI;
using OpenAI.Chat;

namespace Gapura.Tests.Simulators;

/// <summary>
/// The OpenAI simulator is only useful if it is faithful: the official OpenAI .NET SDK must read its chat
/// answers, and its Responses stream must carry the documented event sequence.
/// </summary>
public class OpenAiSimulatorTests
{
    private static ChatClient Chat(OpenAiSimulator sim, string model = "gpt-4o", string key = OpenAiSimulatorOptions.DefaultApiKey)
        => new(model, new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(sim.ApiBaseUrl) });

    private static readonly ChatTool Weather = ChatTool.CreateFunctionTool("get_weather", "Weather",
        BinaryData.FromString("""{"type":"object","properties":{"city":{"type":"string"}}}"""));

    [Fact]
    public async Task Sdk_reads_a_completion_with_usage()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        ChatCompletion completion = await Chat(sim).CompleteChatAsync([new UserChatMessage("hello")]);
        Assert.Equal(OpenAiDefaultResponder.Greeting + "hello", completion.Content[0].Text);
        Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
        Assert.True(completion.Usage.InputTokenCount > 0);
    }

    [Fact]
    public async Task Sdk_streams_parallel_tool_calls_and_usage()
    {
        await using var sim = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions { Split = OpenAiSplit.Random });
        var options = new ChatCompletionOptions { Tools = { Weather } };
        var updates = new List<StreamingChatCompletionUpdate>();
        await foreach (var u in Chat(sim).CompleteChatStreamingAsync([new UserChatMessage("""[[tool:get_weather {"city":"Oslo"}]] and [[tool:get_weather {"city":"Rome"}]]""")], options))
            updates.Add(u);
        var calls = updates.SelectMany(u => u.ToolCallUpdates).GroupBy(t => t.Index).ToList();
        Assert.Equal(2, calls.Count);
        Assert.All(calls, c => Assert.Equal("get_weather", c.First().FunctionName));
        Assert.Equal("""{"city":"Rome"}""", string.Concat(calls[1].Select(t => t.FunctionArgumentsUpdate?.ToString())));
        Assert.Equal(ChatFinishReason.ToolCalls, updates.Single(u => u.FinishReason is not null).FinishReason);
        Assert.NotNull(updates.Last().Usage); // the SDK asks for include_usage when streaming
    }

    [Fact]
    public async Task Sdk_sees_errors_with_their_status()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        var wrongKey = await Assert.ThrowsAsync<ClientResultException>(() => Chat(sim, key: "sk-nope-nope-nope").CompleteChatAsync([new UserChatMessage("x")]));
        Assert.Equal(401, wrongKey.Status);
        var unknown = await Assert.ThrowsAsync<ClientResultException>(() => Chat(sim, model: "gpt-99").CompleteChatAsync([new UserChatMessage("x")]));
        Assert.Equal(404, unknown.Status);
        Assert.Contains("model_not_found", unknown.Message);
    }

    [Fact]
    public async Task Reasoning_effort_adds_reasoning_content_deltas()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        using var http = new HttpClient();
        var body = """{"model":"o4-mini","stream":true,"reasoning_effort":"high","messages":[{"role":"user","content":"why"}]}""";
        var text = await Post(http, sim, "/v1/chat/completions", body);
        Assert.Contains("\"reasoning_content\":", text);
        Assert.EndsWith("data: [DONE]\n\n", text);
        Assert.DoesNotContain("\"usage\":{", text); // no include_usage, no usage chunk
    }

    [Fact]
    public async Task Responses_stream_carries_the_documented_event_sequence()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        using var http = new HttpClient();
        var body = """{"model":"gpt-5","stream":true,"instructions":"be brief","reasoning":{"effort":"low"},"tools":[{"type":"function","name":"shell","parameters":{"type":"object"}}],"input":[{"role":"user","content":[{"type":"input_text","text":"run [[tool:shell {\"cmd\":\"ls\"}]]"}]}]}""";
        var events = ParseSse(await Post(http, sim, "/v1/responses", body));
        var types = events.Select(e => e.Event).ToList();
        Assert.Equal("response.created", types[0]);
        Assert.Equal("response.in_progress", types[1]);
        Assert.Equal("response.completed", types[^1]);
        Assert.Contains("response.reasoning_summary_text.delta", types);
        Assert.Contains("response.function_call_arguments.delta", types);
        Assert.Contains("response.function_call_arguments.done", types);
        Assert.All(events, e => Assert.Equal(e.Event, (string?)e.Data["type"]));
        Assert.Equal(Enumerable.Range(0, events.Count).ToArray(), events.Select(e => (int)e.Data["sequence_number"]!).ToArray());
        var call = events.Last(e => e.Event == "response.output_item.done").Data["item"]!;
        Assert.Equal("function_call", (string?)call["type"]);
        Assert.Equal("shell", (string?)call["name"]);
        Assert.Equal("""{"cmd":"ls"}""", (string?)call["arguments"]);
        var completed = events[^1].Data["response"]!;
        Assert.Equal("completed", (string?)completed["status"]);
        Assert.True((int)completed["usage"]!["total_tokens"]! > 0);

        // Second leg: the tool output comes back as function_call_output.
        var callId = (string)call["call_id"]!;
        var second = $$"""{"model":"gpt-5","stream":true,"input":[{"role":"user","content":"run"},{"type":"function_call","call_id":"{{callId}}","name":"shell","arguments":"{}"},{"type":"function_call_output","call_id":"{{callId}}","output":"a.txt"}]}""";
        var events2 = ParseSse(await Post(http, sim, "/v1/responses", second));
        var text = string.Concat(events2.Where(e => e.Event == "response.output_text.delta").Select(e => (string?)e.Data["delta"]));
        Assert.Equal(OpenAiDefaultResponder.ToolEcho + "a.txt", text);
        Assert.Equal(text, (string?)events2.Single(e => e.Event == "response.output_text.done").Data["text"]);
    }

    [Fact]
    public async Task Responses_without_stream_is_one_response_object()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        using var http = new HttpClient();
        var json = JsonNode.Parse(await Post(http, sim, "/v1/responses", """{"model":"gpt-5","input":"hi","max_output_tokens":2}"""))!;
        Assert.Equal("response", (string?)json["object"]);
        Assert.Equal("incomplete", (string?)json["status"]);
        Assert.Equal("max_output_tokens", (string?)json["incomplete_details"]!["reason"]);
        Assert.Equal("message", (string?)json["output"]![0]!["type"]);
    }

    [Fact]
    public async Task Records_raw_bodies_and_scripts_errors_with_retry_after()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        sim.Enqueue(OpenAiScenario.RateLimited(TimeSpan.FromSeconds(3)));
        using var http = new HttpClient();
        var raw = """{"model":"gpt-4o",  "messages":[{"role":"user","content":"x"}], "weird":[1,2]}""";
        using var request = new HttpRequestMessage(HttpMethod.Post, sim.ApiBaseUrl + "/chat/completions") { Content = new StringContent(raw, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new("Bearer", OpenAiSimulatorOptions.DefaultApiKey);
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(3), response.Headers.RetryAfter?.Delta);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal("rate_limit_exceeded", (string?)error["code"]);
        Assert.True(error.AsObject().ContainsKey("param"));
        Assert.Equal(raw, sim.ChatRequests.Single().Body);
    }

    private static async Task<string> Post(HttpClient http, OpenAiSimulator sim, string path, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, sim.BaseUrl + path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new("Bearer", OpenAiSimulatorOptions.DefaultApiKey);
        using var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return text;
    }

    private static List<(string? Event, JsonNode Data)> ParseSse(string text)
    {
        var events = new List<(string?, JsonNode)>();
        foreach (var block in text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string? name = null, data = null;
            foreach (var line in block.Split('\n'))
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line[7..];
                else if (line.StartsWith("data: ", StringComparison.Ordinal)) data = line[6..];
            }
            if (data is not null && data != "[DONE]") events.Add((name, JsonNode.Parse(data)!));
        }
        return events;
    }
}
