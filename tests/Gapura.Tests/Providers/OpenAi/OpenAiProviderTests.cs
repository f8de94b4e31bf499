using System.Diagnostics;
using System.Text;
using Gapura.Conversations;
using Gapura.Formats;
using Gapura.Providers;
using Gapura.Providers.OpenAi;
using Gapura.Simulators.OpenAi;
using Microsoft.Extensions.Logging.Abstractions;
using static Gapura.Tests.Providers.OpenAi.OpenAiTestKit;

namespace Gapura.Tests.Providers.OpenAi;

/// <summary>The OpenAI provider against the simulator, over real sockets.</summary>
public class OpenAiProviderTests
{
    [Fact]
    public async Task Streams_text_with_usage_and_sends_the_key()
    {
        await using var sim = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions { Split = OpenAiSplit.Random });
        var events = await Collect(Provider(sim).StreamAsync(Ask("hi there"), Model(), new ChatContext(), default));
        Assert.Equal(OpenAiDefaultResponder.Greeting + "hi there", Text(events));
        var end = Assert.IsType<MessageEnd>(events[^1]);
        Assert.Equal(StopReason.EndTurn, end.StopReason);
        Assert.False(end.Usage.Estimated);
        var recorded = Assert.Single(sim.ChatRequests);
        Assert.Equal("Bearer " + OpenAiSimulatorOptions.DefaultApiKey, recorded.Header("Authorization"));
        Assert.Equal("gpt-4o", (string?)recorded.Json!["model"]);
        Assert.True((bool)recorded.Json!["stream_options"]!["include_usage"]!);
    }

    [Fact]
    public async Task Tool_round_trip_and_reasoning()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        var provider = Provider(sim);
        var ask = Ask("""go [[tool:weather {"city":"Oslo"}]] [[tool:time {}]]""", tools: [Tool("weather"), Tool("time")],
            thinking: new ThinkingRequest(ThinkingMode.Enabled, Effort: "low"));
        var result = await ChatResultBuilder.CollectAsync(provider.StreamAsync(ask, Model("o4-mini"), new ChatContext(), default), default);
        Assert.Equal(StopReason.ToolUse, result.StopReason);
        Assert.Equal(["weather", "time"], result.ToolCalls.Select(c => c.Name).ToArray());
        Assert.Equal("""{"city":"Oslo"}""", result.ToolCalls[0].Arguments);
        Assert.False(string.IsNullOrEmpty(result.Reasoning));

        var next = ask with
        {
            Messages =
            [
                .. ask.Messages,
                new Message(Role.Assistant, [.. result.ToolCalls.Select(c => new ToolUseBlock(c.Id, c.Name, System.Text.Json.JsonDocument.Parse(c.Arguments).RootElement.Clone()))]),
                new Message(Role.User, [new ToolResultBlock(result.ToolCalls[0].Id, [new TextBlock("sunny")], false), new ToolResultBlock(result.ToolCalls[1].Id, [new TextBlock("noon")], false)]),
            ],
        };
        var second = await ChatResultBuilder.CollectAsync(provider.StreamAsync(next, Model("o4-mini"), new ChatContext(), default), default);
        Assert.Equal(OpenAiDefaultResponder.ToolEcho + "sunny\nnoon", second.Text);
    }

    [Fact]
    public async Task Max_tokens_cut_reports_length()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        var result = await ChatResultBuilder.CollectAsync(Provider(sim).StreamAsync(Ask("one two three four five six", maxTokens: 3), Model(), new ChatContext(), default), default);
        Assert.Equal(StopReason.MaxTokens, result.StopReason);
        Assert.Equal(3, (int)sim.ChatRequests[0].Json!["max_completion_tokens"]!);
    }

    [Theory]
    [InlineData(400, ErrorKind.InvalidRequest, 400)]
    [InlineData(404, ErrorKind.NotFound, 404)]
    [InlineData(401, ErrorKind.UpstreamLogin, 503)]
    [InlineData(403, ErrorKind.PermissionDenied, 403)]
    public async Task Client_errors_carry_the_upstream_message_and_are_not_retried(int status, ErrorKind kind, int expected)
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        sim.Enqueue(OpenAiScenario.Error(status, "upstream says no", "invalid_request_error", "some_code"));
        var e = await Assert.ThrowsAsync<GatewayException>(() => Collect(Provider(sim).StreamAsync(Ask("x"), Model(), new ChatContext(), default)));
        Assert.Equal(kind, e.Kind);
        Assert.Equal(expected, e.Status);
        Assert.Contains("upstream says no", e.Message);
        Assert.Contains($"OpenAI answered {status}", e.Message);
        Assert.Equal(1, sim.ChatCalls);
    }

    [Fact]
    public async Task Real_401_from_a_wrong_key()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        var e = await Assert.ThrowsAsync<GatewayException>(() => Collect(Provider(sim, key: "sk-wrong-key-123456").StreamAsync(Ask("x"), Model(), new ChatContext(), default)));
        Assert.Equal(ErrorKind.UpstreamLogin, e.Kind);
        Assert.Contains("Incorrect API key", e.Message);
        Assert.DoesNotContain("sk-wrong-key-123456", e.Message);
    }

    [Fact]
    public async Task Unknown_model_is_the_upstreams_404()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        var e = await Assert.ThrowsAsync<GatewayException>(() => Collect(Provider(sim).StreamAsync(Ask("x"), Model("gpt-nope"), new ChatContext(), default)));
        Assert.Equal(404, e.Status);
        Assert.Contains("gpt-nope", e.Message);
    }

    [Fact]
    public async Task Rate_limit_is_retried_after_retry_after()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        sim.Enqueue(OpenAiScenario.RateLimited(TimeSpan.FromSeconds(1)));
        var watch = Stopwatch.StartNew();
        var events = await Collect(Provider(sim).StreamAsync(Ask("again"), Model(), new ChatContext(), default));
        Assert.Contains("again", Text(events));
        Assert.Equal(2, sim.ChatCalls);
        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(900), $"waited only {watch.ElapsedMilliseconds} ms");
    }

    [Fact]
    public async Task Retry_after_ms_is_honoured_and_the_last_error_keeps_retry_after()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        var limited = OpenAiScenario.RateLimited();
        limited.Headers["retry-after-ms"] = "300";
        limited.Headers["Retry-After"] = "7";
        sim.Enqueue(limited);
        sim.Enqueue(OpenAiScenario.RateLimited(TimeSpan.FromSeconds(7)));
        var watch = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<GatewayException>(() => Collect(Provider(sim, attempts: 2).StreamAsync(Ask("x"), Model(), new ChatContext(), default)));
        Assert.InRange(watch.Elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(1.9)); // 300 ms, not 7 s (nor the 2 s cap)
        Assert.Equal(ErrorKind.RateLimited, e.Kind);
        Assert.Equal(429, e.Status);
        Assert.Equal(TimeSpan.FromSeconds(7), e.RetryAfter); // the upstream's own ask, for cooling the account down
    }

    [Fact]
    public void The_account_never_prints_its_key()
    {
        var account = Account("https://api.openai.com/v1", key: "sk-secret-value-123");
        Assert.DoesNotContain("sk-secret-value-123", account.ToString());
        Assert.DoesNotContain("sk-secret-value-123", Client(account).Account.ToString());
    }

    [Fact]
    public async Task Server_errors_are_retried_then_reported_with_status()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        sim.Enqueue(OpenAiScenario.ServerError());
        sim.Enqueue(OpenAiScenario.Overloaded());
        sim.Enqueue(OpenAiScenario.Overloaded());
        var e = await Assert.ThrowsAsync<GatewayException>(() => Collect(Provider(sim).StreamAsync(Ask("x"), Model(), new ChatContext(), default)));
        Assert.Equal(ErrorKind.UpstreamUnavailable, e.Kind);
        Assert.Equal(503, e.Status);
        Assert.Contains("overloaded", e.Message);
        Assert.Equal(3, sim.ChatCalls);
    }

    [Fact]
    public async Task Spent_quota_is_not_retried()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        sim.Enqueue(OpenAiScenario.InsufficientQuota());
        var e = await Assert.ThrowsAsync<GatewayException>(() => Collect(Provider(sim).StreamAsync(Ask("x"), Model(), new ChatContext(), default)));
        Assert.Equal(ErrorKind.QuotaExceeded, e.Kind);
        Assert.Equal(1, sim.ChatCalls);
    }

    [Fact]
    public async Task Connection_refused_is_a_502_naming_the_upstream()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var provider = OpenAiProvider(Client(Account($"http://127.0.0.1:{port}/v1", attempts: 2)));
        var e = await Assert.ThrowsAsync<GatewayException>(() => Collect(provider.StreamAsync(Ask("x"), Model(), new ChatContext(), default)));
        Assert.Equal(502, e.Status);
        Assert.Contains("Could not reach OpenAI", e.Message);
    }

    [Fact]
    public async Task A_stream_cut_mid_way_fails_after_the_text_already_sent()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        sim.Enqueue(new OpenAiScenario { Answer = OpenAiAnswer.Of("a ", "b ", "c ", "d"), CutAfterEvents = 3 });
        var seen = new List<StreamEvent>();
        var e = await Assert.ThrowsAsync<GatewayException>(async () =>
        {
            await foreach (var ev in Provider(sim).StreamAsync(Ask("x"), Model(), new ChatContext(), default)) seen.Add(ev);
        });
        Assert.Equal(502, e.Status);
        Assert.Equal("a b ", Text(seen));
        Assert.DoesNotContain(seen, x => x is MessageEnd);
    }

    [Fact]
    public async Task Nothing_is_sent_before_enumeration()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        _ = Provider(sim).StreamAsync(Ask("x"), Model(), new ChatContext(), default);
        await Task.Delay(50);
        Assert.Equal(0, sim.ChatCalls);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Passthrough_forwards_the_body_byte_for_byte_except_the_model(bool stream)
    {
        await using var sim = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions { Split = OpenAiSplit.Random });
        var body = "{\n  \"model\": \"openai/gpt-4o\",\n  \"messages\": [{\"role\":\"user\",\"content\":\"caf\\u00e9 \u2603\",\"x_msg\":{\"deep\":[1,2.50,true]}}],\n  \"x_unknown_field\": {\"keep\": \"me\"},\n  \"logit_bias\": {\"50256\": -100},\n  \"temperature\": 0.70,\n  \"stream\": " + (stream ? "true" : "false") + "\n}";
        var bytes = Encoding.UTF8.GetBytes(body);
        var context = new ChatContext();
        var request = new PassthroughRequest(FrontDoors.OpenAiChat, bytes, new Dictionary<string, string>(), Model(), context, stream);
        var provider = Provider(sim);
        Assert.True(provider.CanPassThrough(FrontDoors.OpenAiChat));
        Assert.False(provider.CanPassThrough(FrontDoors.AnthropicMessages));

        await using var response = await provider.SendAsync(request, default);
        Assert.Equal(200, response.Status);
        Assert.StartsWith(stream ? "text/event-stream" : "application/json", response.ContentType);
        Assert.True(response.Headers.ContainsKey("x-request-id"));
        var relayed = await new StreamReader(response.Body).ReadToEndAsync();

        var expected = body.Replace("\"openai/gpt-4o\"", "\"gpt-4o\"");
        Assert.Equal(Encoding.UTF8.GetBytes(expected), sim.ChatRequests[0].BodyBytes);
        Assert.Equal("Bearer " + OpenAiSimulatorOptions.DefaultApiKey, sim.ChatRequests[0].Header("Authorization"));
        if (stream)
        {
            Assert.Contains("\"object\":\"chat.completion.chunk\"", relayed);
            Assert.EndsWith("data: [DONE]\n\n", relayed);
        }
        else Assert.Contains("\"object\":\"chat.completion\"", relayed);
    }

    [Fact]
    public async Task Passthrough_errors_before_the_first_byte_are_gateway_exceptions()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        sim.Enqueue(OpenAiScenario.Error(400, "Unrecognized request argument supplied: foo", "invalid_request_error"));
        var request = new PassthroughRequest(FrontDoors.OpenAiChat, Encoding.UTF8.GetBytes("""{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"foo":1}"""),
            new Dictionary<string, string>(), Model(), new ChatContext(), false);
        var e = await Assert.ThrowsAsync<GatewayException>(() => Provider(sim).SendAsync(request, default));
        Assert.Equal(400, e.Status);
        Assert.Contains("Unrecognized request argument", e.Message);
    }

    [Fact]
    public async Task Catalog_reads_models_keeps_chat_ones_and_knows_their_limits()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        var client = Client(Account(sim.ApiBaseUrl));
        var catalog = new ChatCompletionsModelCatalog("openai", null,
            async ct => [.. (await client.ListModelsAsync(ct)).Select(OpenAiServiceCollectionExtensions.OpenAiDescribe).Where(m => OpenAiKnownModels.IsChatModel(m.Id))],
            OpenAiServiceCollectionExtensions.OpenAiFallback(), TimeSpan.FromMinutes(60), NullLogger.Instance);
        var models = await catalog.ListAsync(default);
        Assert.Contains(models, m => m.Id == "gpt-4o" && m.ContextWindow == 128_000 && m.MaxOutputTokens == 16_384 && m.Provider == "openai");
        Assert.Contains(models, m => m.Id == "gpt-5" && m.ContextWindow == 400_000);
        Assert.DoesNotContain(models, m => m.Id.Contains("embedding") || m.Id.Contains("whisper"));
        Assert.Equal("gpt-4o", (await catalog.ResolveAsync("openai/gpt-4o", default)).Model.Id);
        Assert.Equal("openai/gpt-4o", (await catalog.ResolveAsync("openai/gpt-4o", default)).RequestedName);
        var e = await Assert.ThrowsAsync<GatewayException>(async () => await catalog.ResolveAsync("claude-sonnet-4.5", default));
        Assert.Equal(ErrorKind.InvalidRequest, e.Kind);
        Assert.Single(sim.Requests, r => r.Path == "/v1/models"); // cached
    }

    [Fact]
    public async Task Catalog_falls_back_to_known_models_when_the_list_fails()
    {
        await using var sim = await OpenAiSimulator.StartAsync();
        var client = Client(Account(sim.ApiBaseUrl, key: "sk-bad-key-000000"));
        var catalog = new ChatCompletionsModelCatalog("openai", null,
            async ct => [.. (await client.ListModelsAsync(ct)).Select(OpenAiServiceCollectionExtensions.OpenAiDescribe)],
            OpenAiServiceCollectionExtensions.OpenAiFallback(), TimeSpan.FromMinutes(60), NullLogger.Instance);
        var models = await catalog.ListAsync(default);
        Assert.Contains(models, m => m.Id == "gpt-5-mini");
    }
}
