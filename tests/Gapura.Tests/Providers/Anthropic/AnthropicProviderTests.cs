using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Conversations;
using Gapura.Providers;
using Gapura.Simulators.Anthropic;
using static Gapura.Tests.Providers.Anthropic.AnthropicTestKit;

namespace Gapura.Tests.Providers.Anthropic;

/// <summary>The translated path end to end against the simulator: request on the wire, events back, failures.</summary>
public class AnthropicProviderTests : IAsyncLifetime
{
    private AnthropicSimulator _sim = null!;

    public async Task InitializeAsync() => _sim = await AnthropicSimulator.StartAsync();

    public async Task DisposeAsync() => await _sim.DisposeAsync();

    [Fact]
    public async Task Sends_key_version_and_body_and_streams_the_answer()
    {
        var events = await CollectAsync(Provider(_sim), Ask("hello there"));
        var result = Fold(events);
        Assert.Equal("Echo: hello there", result.Text);
        Assert.Equal(StopReason.EndTurn, result.StopReason);
        Assert.True(result.Usage.InputTokens > 0 && result.Usage.OutputTokens > 0);

        var sent = Assert.Single(_sim.MessageRequests);
        Assert.Equal(_sim.ApiKey, sent.Header("x-api-key"));
        Assert.Equal("2023-06-01", sent.Header("anthropic-version"));
        Assert.Null(sent.Header("authorization"));
        Assert.Equal(Model, (string?)sent.Json!["model"]);
        Assert.True((bool)sent.Json!["stream"]!);
    }

    [Fact]
    public async Task The_stream_is_lazy_nothing_is_sent_before_the_first_move_next()
    {
        var stream = Provider(_sim).StreamAsync(Ask("x"), Resolved(), new ChatContext(), CancellationToken.None);
        await Task.Delay(100);
        Assert.Equal(0, _sim.MessageCalls);
        await using var e = stream.GetAsyncEnumerator();
        Assert.True(await e.MoveNextAsync());
        Assert.Equal(1, _sim.MessageCalls);
    }

    [Fact]
    public async Task A_tool_round_trip_with_thinking_signatures_sent_back_unchanged()
    {
        var provider = Provider(_sim);
        var tools = new[] { new ToolDefinition("get_weather", "Weather for a city", Json("""{"type":"object","properties":{"city":{"type":"string"}}}""")) };
        var first = Ask("""Check it [[tool:get_weather {"city":"Paris"}]]""", 4000) with
        {
            Tools = tools,
            Thinking = new ThinkingRequest(ThinkingMode.Enabled, 2048),
        };
        var turn1 = Fold(await CollectAsync(provider, first));
        Assert.Equal(StopReason.ToolUse, turn1.StopReason);
        var call = Assert.Single(turn1.ToolCalls);
        Assert.Equal("get_weather", call.Name);
        Assert.Equal("Paris", JsonDocument.Parse(call.Arguments).RootElement.GetProperty("city").GetString());
        Assert.NotNull(turn1.Reasoning);
        Assert.StartsWith("EqsSim", turn1.ReasoningSignature);

        // Turn 2 carries the thinking block back: the simulator refuses it unless the signature is the one it issued.
        var second = first with
        {
            Messages =
            [
                .. first.Messages,
                new Message(Role.Assistant, [new ThinkingBlock(turn1.Reasoning!, turn1.ReasoningSignature), new TextBlock(turn1.Text), new ToolUseBlock(call.Id, call.Name, Json(call.Arguments))]),
                new Message(Role.User, [new ToolResultBlock(call.Id, [new TextBlock("18°C and sunny")], false)]),
            ],
        };
        var turn2 = Fold(await CollectAsync(provider, second));
        Assert.Equal("Tool said: 18°C and sunny", turn2.Text);

        var tampered = second with
        {
            Messages = [.. second.Messages.Select(m => m.Role == Role.Assistant ? new Message(Role.Assistant, [new ThinkingBlock(turn1.Reasoning! + " edited", turn1.ReasoningSignature), .. m.Content.Skip(1)]) : m)],
        };
        var refused = await Assert.ThrowsAsync<GatewayException>(() => CollectAsync(provider, tampered));
        Assert.Equal(400, refused.Status);
        Assert.Contains("signature", refused.Message);
    }

    [Fact]
    public async Task Tool_errors_reach_the_model_as_is_error()
    {
        var provider = Provider(_sim);
        var request = Ask("x") with
        {
            Messages =
            [
                Message.Text(Role.User, "go"),
                new Message(Role.Assistant, [new ToolUseBlock("toolu_9", "run", Json("{}"))]),
                new Message(Role.User, [new ToolResultBlock("toolu_9", [new TextBlock("exit 1")], true)]),
            ],
        };
        Assert.Equal("Tool failed: exit 1", Fold(await CollectAsync(provider, request)).Text);
        Assert.True((bool)_sim.MessageRequests[^1].Json!["messages"]![2]!["content"]![0]!["is_error"]!);
    }

    [Fact]
    public async Task Cache_usage_is_reported_as_read_and_write()
    {
        _sim.Enqueue(AnthropicScenario.Reply(new AnthropicSimMessage
        {
            Content = [new AnthropicSimText("cached")],
            InputTokens = 12, OutputTokens = 3, CacheReadInputTokens = 4000, CacheCreationInputTokens = 250,
        }));
        var result = Fold(await CollectAsync(Provider(_sim), Ask("x")));
        Assert.Equal(new Usage(12, 3, 4000, 250), result.Usage);
    }

    [Fact]
    public async Task Max_tokens_cut_is_reported()
    {
        var result = Fold(await CollectAsync(Provider(_sim), Ask(new string('a', 400), maxTokens: 10)));
        Assert.Equal(StopReason.MaxTokens, result.StopReason);
        Assert.Equal(40, result.Text.Length);
    }

    [Fact]
    public async Task Rate_limits_and_overload_are_retried_honouring_retry_after()
    {
        _sim.Enqueue(AnthropicScenario.RateLimited(retryAfterSeconds: 1));
        _sim.Enqueue(AnthropicScenario.Overloaded());
        var started = DateTime.UtcNow;
        var result = Fold(await CollectAsync(Provider(_sim), Ask("again")));
        Assert.Equal("Echo: again", result.Text);
        Assert.Equal(3, _sim.MessageCalls);
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(900), "Retry-After: 1 was not honoured");
    }

    [Fact]
    public async Task Bad_requests_are_not_retried_and_keep_the_upstreams_status_and_message()
    {
        _sim.Enqueue(AnthropicScenario.Error(400, "invalid_request_error", "messages.0: something is off"));
        var error = await Assert.ThrowsAsync<GatewayException>(() => CollectAsync(Provider(_sim), Ask("x")));
        Assert.Equal(1, _sim.MessageCalls);
        Assert.Equal(400, error.Status);
        Assert.Equal(ErrorKind.InvalidRequest, error.Kind);
        Assert.Contains("messages.0: something is off", error.Message);
    }

    [Theory]
    [InlineData(403, "permission_error", ErrorKind.PermissionDenied, 403)]
    [InlineData(404, "not_found_error", ErrorKind.NotFound, 404)]
    [InlineData(413, "request_too_large", ErrorKind.RequestTooLarge, 413)]
    public async Task Client_errors_map_to_their_kinds(int status, string type, ErrorKind kind, int expected)
    {
        _sim.Enqueue(AnthropicScenario.Error(status, type, "nope"));
        var error = await Assert.ThrowsAsync<GatewayException>(() => CollectAsync(Provider(_sim), Ask("x")));
        Assert.Equal(kind, error.Kind);
        Assert.Equal(expected, error.Status);
        Assert.Equal(1, _sim.MessageCalls);
    }

    [Fact]
    public async Task Persistent_overload_ends_as_529_with_the_message_after_all_attempts()
    {
        for (var i = 0; i < 3; i++) _sim.Enqueue(AnthropicScenario.Overloaded());
        var error = await Assert.ThrowsAsync<GatewayException>(() => CollectAsync(Provider(_sim), Ask("x")));
        Assert.Equal(3, _sim.MessageCalls);
        Assert.Equal(529, error.Status);
        Assert.True(error.IsRetryable);
        Assert.Contains("overloaded_error", error.Message);
    }

    [Fact]
    public async Task A_rate_limit_that_outlasts_the_retries_carries_retry_after()
    {
        for (var i = 0; i < 2; i++) _sim.Enqueue(AnthropicScenario.RateLimited(retryAfterSeconds: 0));
        _sim.Enqueue(AnthropicScenario.RateLimited(retryAfterSeconds: 30));
        var error = await Assert.ThrowsAsync<GatewayException>(() => CollectAsync(Provider(_sim), Ask("x")));
        Assert.Equal(429, error.Status);
        Assert.Equal(TimeSpan.FromSeconds(30), error.RetryAfter);
    }

    [Fact]
    public async Task A_refused_key_is_the_operators_problem_not_the_callers_401()
    {
        var error = await Assert.ThrowsAsync<GatewayException>(() => CollectAsync(Provider(_sim, apiKey: "sk-ant-wrong"), Ask("x")));
        Assert.Equal(ErrorKind.UpstreamLogin, error.Kind);
        Assert.Equal(503, error.Status);
        Assert.Contains("Providers:Anthropic:ApiKey", error.Message);
        Assert.DoesNotContain("sk-ant-wrong", error.Message);
    }

    [Fact]
    public async Task Mid_stream_error_event_throws_after_the_text_already_yielded()
    {
        _sim.Enqueue(AnthropicScenario.MidStreamError("half an answer", "api_error", "Internal server error"));
        var events = new List<StreamEvent>();
        var error = await Assert.ThrowsAsync<GatewayException>(async () =>
        {
            await foreach (var e in Provider(_sim).StreamAsync(Ask("x"), Resolved(), new ChatContext(), CancellationToken.None)) events.Add(e);
        });
        Assert.Equal("half an answer", string.Concat(events.OfType<TextDelta>().Select(t => t.Text)));
        Assert.Contains("Internal server error", error.Message);
        Assert.Equal(1, _sim.MessageCalls);
    }

    [Fact]
    public async Task A_connection_cut_mid_stream_is_an_error_not_a_clean_end()
    {
        _sim.Enqueue(new AnthropicScenario { Message = new AnthropicSimMessage { Content = [new AnthropicSimText("some words here")] }, CutInsideEvent = 4 });
        await Assert.ThrowsAsync<GatewayException>(() => CollectAsync(Provider(_sim), Ask("x")));
    }

    [Fact]
    public async Task An_unreachable_upstream_is_a_502_after_retries()
    {
        var port = _sim.BaseUrl;
        await _sim.DisposeAsync();
        var options = new Gapura.Providers.Anthropic.AnthropicOptions { ApiKey = "k", BaseUrl = port, MaxAttempts = 2, RetryBaseDelayMilliseconds = 5 };
        var provider = Provider(options);
        var error = await Assert.ThrowsAsync<GatewayException>(() => CollectAsync(provider, Ask("x")));
        Assert.Equal(502, error.Status);
        _sim = await AnthropicSimulator.StartAsync();
    }

    [Fact]
    public async Task The_upstream_request_id_is_offered_to_the_client()
    {
        var context = new ChatContext();
        await CollectAsync(Provider(_sim), Ask("x"), context: context);
        Assert.StartsWith("req_sim_", context.ResponseHeaders[Gapura.Providers.Anthropic.AnthropicProvider.UpstreamRequestIdHeader]);
    }

    private static ChatResult Fold(List<StreamEvent> events)
    {
        var builder = new ChatResultBuilder();
        foreach (var e in events) builder.Add(e);
        return builder.Build();
    }
}
