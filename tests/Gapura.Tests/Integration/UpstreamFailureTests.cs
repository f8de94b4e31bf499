using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Gapura.Simulators.Kiro;

namespace Gapura.Tests.Integration;

/// <summary>
/// Kiro failing in every way kiro.md §5 lists, seen from a client over real HTTP: the right status in the
/// caller's error shape before the first byte, the format's error event after it — and never a 200 that
/// hides the failure. Also the stream-level promises (stop reasons, tool deltas, headers).
/// </summary>
public class UpstreamFailureTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private KiroSimulator Kiro => gateway.Kiro;

    private async Task<(HttpResponseMessage Response, string Body)> CallAsync(bool anthropic, bool stream = false, string text = "hi", string? extra = null)
    {
        using var http = gateway.Http();
        return await Wire.SendAsync(http, anthropic
            ? Wire.Anthropic(Wire.AnthropicBody(text, stream, extra))
            : Wire.OpenAi(Wire.OpenAiBody(text, stream, extra)));
    }

    private static void AssertError(bool anthropic, HttpResponseMessage response, string body, HttpStatusCode status, params string[] mentions)
    {
        if (anthropic) Wire.AssertAnthropicError(response, body, status, mentions);
        else Wire.AssertOpenAiError(response, body, status, mentions);
    }

    private static void AssertSuccess(HttpResponseMessage response, string body)
        => Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");

    // ---- retries before the first byte -------------------------------------------------------------

    [Fact]
    public async Task Throttled_with_retry_after_is_retried_after_the_delay_then_succeeds()
    {
        Kiro.Enqueue(KiroScenario.Throttled(TimeSpan.FromSeconds(1)));
        var calls = Kiro.ChatCalls;
        var clock = Stopwatch.StartNew();
        var (response, body) = await CallAsync(anthropic: false);
        clock.Stop();
        AssertSuccess(response, body);
        Assert.Equal(calls + 2, Kiro.ChatCalls);
        // Retry-After: 1 must be honoured, not replaced by the 20 ms backoff the fixture configures.
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(900), $"retried after {clock.ElapsedMilliseconds} ms");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"took {clock.ElapsedMilliseconds} ms");
        Assert.Equal(0, Kiro.PendingScenarios);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task High_load_500_is_retried_with_backoff_then_succeeds(bool anthropic)
    {
        Kiro.Enqueue(KiroScenario.HighLoad());
        Kiro.Enqueue(KiroScenario.HighLoad());
        var calls = Kiro.ChatCalls;
        var (response, body) = await CallAsync(anthropic);
        AssertSuccess(response, body);
        Assert.Equal(calls + 3, Kiro.ChatCalls);
        var attempts = Kiro.ChatRequests.TakeLast(3).Select(r => r.Header("amz-sdk-request")).ToList();
        Assert.Equal(["attempt=1; max=3", "attempt=2; max=3", "attempt=3; max=3"], attempts);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Throttled_on_every_attempt_is_a_429_after_max_attempts(bool anthropic)
    {
        for (var i = 0; i < 3; i++) Kiro.Enqueue(KiroScenario.Throttled());
        var calls = Kiro.ChatCalls;
        var (response, body) = await CallAsync(anthropic, stream: true);
        AssertError(anthropic, response, body, HttpStatusCode.TooManyRequests, "429");
        Assert.Equal(calls + 3, Kiro.ChatCalls);
        Assert.Equal(0, Kiro.PendingScenarios);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task High_load_on_every_attempt_is_a_5xx_never_a_200(bool anthropic)
    {
        for (var i = 0; i < 3; i++) Kiro.Enqueue(KiroScenario.HighLoad());
        var calls = Kiro.ChatCalls;
        var (response, body) = await CallAsync(anthropic);
        AssertError(anthropic, response, body, HttpStatusCode.ServiceUnavailable, "high load");
        Assert.Equal(calls + 3, Kiro.ChatCalls);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Improperly_formed_request_is_a_400_and_not_retried(bool anthropic, bool stream)
    {
        Kiro.Enqueue(KiroScenario.ImproperlyFormed());
        var calls = Kiro.ChatCalls;
        var (response, body) = await CallAsync(anthropic, stream);
        AssertError(anthropic, response, body, HttpStatusCode.BadRequest, "Improperly formed request");
        Assert.Equal(calls + 1, Kiro.ChatCalls);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Input_too_long_is_a_400_and_not_retried(bool anthropic)
    {
        Kiro.Enqueue(KiroScenario.InputTooLong());
        var calls = Kiro.ChatCalls;
        var (response, body) = await CallAsync(anthropic, stream: true);
        AssertError(anthropic, response, body, HttpStatusCode.BadRequest, "too long");
        Assert.Equal(calls + 1, Kiro.ChatCalls);
    }

    [Theory]
    [InlineData(false, 402)]
    [InlineData(false, 429)]
    [InlineData(true, 402)]
    [InlineData(true, 429)]
    public async Task Monthly_quota_is_a_429_with_a_quota_message_and_not_retried(bool anthropic, int upstreamStatus)
    {
        // A spent monthly quota does not come back in seconds: retrying the same account only delays the answer.
        Kiro.Enqueue(KiroScenario.MonthlyQuota(upstreamStatus));
        var calls = Kiro.ChatCalls;
        var (response, body) = await CallAsync(anthropic);
        AssertError(anthropic, response, body, HttpStatusCode.TooManyRequests, "MONTHLY_REQUEST_COUNT", "monthly");
        Assert.Equal(calls + 1, Kiro.ChatCalls);
        Assert.Equal(0, Kiro.PendingScenarios);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Bearer_invalid_forces_one_refresh_and_one_retry(bool anthropic)
    {
        Kiro.Enqueue(KiroScenario.BearerInvalid());
        var calls = Kiro.ChatCalls;
        var refreshes = Kiro.RefreshCalls;
        var (response, body) = await CallAsync(anthropic);
        AssertSuccess(response, body);
        Assert.Equal(refreshes + 1, Kiro.RefreshCalls);
        Assert.Equal(calls + 2, Kiro.ChatCalls);
        var (first, second) = (Kiro.ChatRequests[^2].Header("Authorization"), Kiro.ChatRequests[^1].Header("Authorization"));
        Assert.NotEqual(first, second);
    }

    [Fact]
    public async Task An_access_token_revoked_upstream_is_refreshed_once_and_the_call_succeeds()
    {
        var (warmResponse, warmBody) = await CallAsync(anthropic: false);
        AssertSuccess(warmResponse, warmBody);
        var token = Kiro.ChatRequests[^1].Header("Authorization")!["Bearer ".Length..];
        Kiro.ExpireAccessToken(token);
        var refreshes = Kiro.RefreshCalls;
        var (response, body) = await CallAsync(anthropic: true);
        AssertSuccess(response, body);
        Assert.Equal(refreshes + 1, Kiro.RefreshCalls);
    }

    [Fact]
    public async Task Bearer_invalid_again_after_the_refresh_is_an_error_not_a_loop()
    {
        Kiro.Enqueue(KiroScenario.BearerInvalid());
        Kiro.Enqueue(KiroScenario.BearerInvalid());
        var calls = Kiro.ChatCalls;
        var refreshes = Kiro.RefreshCalls;
        var (response, body) = await CallAsync(anthropic: false);
        // The caller's key was fine: the gateway's own upstream login is refused, a 503 telling the operator what to do.
        Assert.Equal(503, (int)response.StatusCode);
        Wire.AssertOpenAiErrorJson(body, "bearer");
        Assert.Contains("gapura login kiro", body);
        Assert.Equal(refreshes + 1, Kiro.RefreshCalls);
        Assert.Equal(calls + 2, Kiro.ChatCalls);
    }

    // ---- failures inside the event stream -----------------------------------------------------------

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Exception_frame_before_any_text_is_an_http_error(bool anthropic, bool stream)
    {
        Kiro.Enqueue(KiroScenario.Stream(KiroFrame.Exception("ThrottlingException", "Too many requests, slow down.")));
        var (response, body) = await CallAsync(anthropic, stream);
        AssertError(anthropic, response, body, HttpStatusCode.TooManyRequests, "Too many requests");

        Kiro.Enqueue(KiroScenario.Stream(KiroFrame.MessageMetadata("c-1", "u-1"), KiroFrame.Exception("InternalServerException", "Something broke.")));
        (response, body) = await CallAsync(anthropic, stream);
        AssertError(anthropic, response, body, HttpStatusCode.ServiceUnavailable, "Something broke");
    }

    public static TheoryData<bool, string> FailuresAfterText => new()
    {
        { false, "exception" }, { true, "exception" },
        { false, "error" }, { true, "error" },
        { false, "cut" }, { true, "cut" },
        { false, "corrupt" }, { true, "corrupt" },
    };

    private static KiroScenario FailingAfterText(string how) => how switch
    {
        "exception" => KiroScenario.Stream(KiroFrame.Text("Hello "), KiroFrame.Text("world"), KiroFrame.Exception("InternalServerException", "Model went away.")),
        "error" => KiroScenario.Stream(KiroFrame.Text("Hello "), KiroFrame.Text("world"), KiroFrame.Error("InternalFailure", "Model went away.")),
        // Cut inside the third frame: the first two arrived whole, the metering that would end the answer never does.
        "cut" => new KiroScenario
        {
            Frames = [KiroFrame.Text("Hello "), KiroFrame.Text("world"), KiroFrame.Text("and more text that never arrives"), KiroFrame.Metering(), KiroFrame.ContextUsage(1)],
            CutInsideFrame = 2,
        },
        "corrupt" => KiroScenario.Stream(KiroFrame.Text("Hello "), KiroFrame.Text("world"), KiroFrame.Raw([0, 0, 0, 40, 0, 0, 0, 0, 1, 2, 3, 4, .. new byte[28]])),
        _ => throw new ArgumentOutOfRangeException(nameof(how)),
    };

    [Theory]
    [MemberData(nameof(FailuresAfterText))]
    public async Task Failure_after_text_ends_the_stream_with_the_formats_error_event_never_a_clean_stop(bool anthropic, string how)
    {
        Kiro.Enqueue(FailingAfterText(how));
        using var http = gateway.Http();
        var (_, items, raw) = await Wire.StreamAsync(http, anthropic ? Wire.Anthropic(Wire.AnthropicBody(stream: true)) : Wire.OpenAi(Wire.OpenAiBody(stream: true)));
        if (anthropic)
        {
            Assert.Equal("Hello world", Wire.AnthropicText(items));
            var last = items.Last(i => i.Event is not null);
            Assert.Equal("error", last.Event);
            Wire.AssertAnthropicErrorJson(last.Data!);
            Assert.DoesNotContain(items, i => i.Event == "message_stop");
            Assert.Null(Wire.AnthropicStopReason(items));
        }
        else
        {
            Assert.Equal("Hello world", Wire.OpenAiText(items));
            var data = Wire.OpenAiData(items);
            Assert.DoesNotContain("[DONE]", data);
            Wire.AssertOpenAiErrorJson(data[^1]);
            Assert.Null(Wire.OpenAiFinishReason(items));
        }
        Assert.DoesNotContain("\"stop\"", raw.Replace("\"stop_reason\":null", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(FailuresAfterText))]
    public async Task Failure_after_text_without_streaming_is_an_http_error_not_a_partial_200(bool anthropic, string how)
    {
        Kiro.Enqueue(FailingAfterText(how));
        var (response, body) = await CallAsync(anthropic);
        Assert.True((int)response.StatusCode >= 500, $"{(int)response.StatusCode}: {body}");
        AssertError(anthropic, response, body, response.StatusCode);
        Assert.DoesNotContain("Hello world", body);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Stream_cut_before_the_first_frame_is_complete_is_a_502(bool anthropic, bool stream)
    {
        Kiro.Enqueue(new KiroScenario { Frames = [KiroFrame.Text("Hello"), KiroFrame.Metering()], CutInsideFrame = 0 });
        var (response, body) = await CallAsync(anthropic, stream);
        AssertError(anthropic, response, body, HttpStatusCode.BadGateway, "Kiro");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Stream_that_ends_without_any_frame_is_an_error(bool anthropic)
    {
        Kiro.Enqueue(KiroScenario.Stream());
        var (response, body) = await CallAsync(anthropic, stream: true);
        Assert.True((int)response.StatusCode >= 500, $"{(int)response.StatusCode}: {body}");
        AssertError(anthropic, response, body, response.StatusCode, "empty");
    }

    // ---- stop reasons --------------------------------------------------------------------------------

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Content_length_exceeded_is_a_length_stop_not_an_error(bool anthropic, bool stream)
    {
        Kiro.Enqueue(KiroScenario.Stream(KiroFrame.Text("A long answer that "), KiroFrame.Text("hit the limit"),
            KiroFrame.Exception("ContentLengthExceededException", "Response exceeded the maximum length.")));
        var (response, body) = await CallAsync(anthropic, stream);
        AssertSuccess(response, body);
        AssertStop(anthropic, stream, body, anthropic ? "max_tokens" : "length", "A long answer that hit the limit");
    }

    private static void AssertStop(bool anthropic, bool stream, string body, string reason, string? text)
    {
        if (stream)
        {
            var items = Wire.ParseSse(body);
            if (anthropic)
            {
                Assert.Equal(reason, Wire.AnthropicStopReason(items));
                Assert.Equal("message_stop", items.Last(i => i.Event is not null).Event);
                if (text is not null) Assert.Equal(text, Wire.AnthropicText(items));
            }
            else
            {
                Assert.Equal(reason, Wire.OpenAiFinishReason(items));
                Assert.Equal("[DONE]", Wire.OpenAiData(items)[^1]);
                if (text is not null) Assert.Equal(text, Wire.OpenAiText(items));
            }
            return;
        }
        var json = JsonNode.Parse(body)!;
        if (anthropic)
        {
            Assert.Equal(reason, json["stop_reason"]!.GetValue<string>());
            if (text is not null) Assert.Equal(text, json["content"]![0]!["text"]!.GetValue<string>());
        }
        else
        {
            Assert.Equal(reason, json["choices"]![0]!["finish_reason"]!.GetValue<string>());
            if (text is not null) Assert.Equal(text, json["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        }
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Small_max_tokens_cuts_a_long_answer_with_length(bool anthropic, bool stream)
    {
        var words = Enumerable.Range(0, 200).Select(i => $"word{i} ").ToArray();
        Kiro.Enqueue(KiroScenario.Text(words));
        var extra = anthropic ? null : "\"max_tokens\":5";
        var body = anthropic
            ? Wire.AnthropicBody(stream: stream).Replace("\"max_tokens\":1024", "\"max_tokens\":5", StringComparison.Ordinal)
            : Wire.OpenAiBody(stream: stream, extra: extra);
        using var http = gateway.Http();
        var (response, text) = await Wire.SendAsync(http, anthropic ? Wire.Anthropic(body) : Wire.OpenAi(body));
        AssertSuccess(response, text);
        AssertStop(anthropic, stream, text, anthropic ? "max_tokens" : "length", null);
        Assert.DoesNotContain("word199", text);
        Assert.Contains("word0", text);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Stop_sequences_are_honoured_even_when_split_across_deltas(bool anthropic, bool stream)
    {
        Kiro.Enqueue(KiroScenario.Text("Hello ", "wor", "ld ST", "OP and more", " text after it"));
        var (response, body) = await CallAsync(anthropic, stream,
            extra: anthropic ? "\"stop_sequences\":[\"STOP\"]" : "\"stop\":[\"STOP\"]");
        AssertSuccess(response, body);
        AssertStop(anthropic, stream, body, anthropic ? "stop_sequence" : "stop", "Hello world ");
        Assert.DoesNotContain("more", body);
        if (anthropic && !stream) Assert.Equal("STOP", JsonNode.Parse(body)!["stop_sequence"]!.GetValue<string>());
    }

    // ---- tool calls and headers ----------------------------------------------------------------------

    private const string ToolInput = """{"city":"Paris","unit":"celsius","days":[1,2,3],"note":"a fairly long argument so it arrives in pieces"}""";

    [Fact]
    public async Task Openai_tool_call_arguments_stream_incrementally()
    {
        var scenario = KiroScenario.ToolCall("tooluse_weather1", "get_weather", ToolInput, fragments: 5);
        Kiro.Enqueue(new KiroScenario { Frames = scenario.Frames, DelayBetweenFrames = TimeSpan.FromMilliseconds(120) });
        var body = Wire.OpenAiBody("weather?", stream: true,
            extra: "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"description\":\"Weather for a city\",\"parameters\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}}]");
        using var http = gateway.Http();
        var (response, items) = await Wire.StreamTimedAsync(http, Wire.OpenAi(body));
        Assert.Equal("kiro/process", response.Headers.GetValues("x-gapura-provider").Single()); // provider/account

        var deltas = new List<(TimeSpan At, string Arguments)>();
        string? name = null;
        foreach (var (at, item) in items)
        {
            if (item.Json?["choices"] is not JsonArray { Count: > 0 } choices) continue;
            if (choices[0]?["delta"]?["tool_calls"] is not JsonArray { Count: > 0 } calls) continue;
            name ??= calls[0]?["function"]?["name"]?.GetValue<string>();
            if (calls[0]?["function"]?["arguments"]?.GetValue<string>() is { Length: > 0 } args) deltas.Add((at, args));
        }
        Assert.Equal("get_weather", name);
        Assert.True(deltas.Count >= 3, $"arguments came in {deltas.Count} chunk(s)");
        Assert.Equal(ToolInput, string.Concat(deltas.Select(d => d.Arguments)));
        Assert.Equal("tool_calls", Wire.OpenAiFinishReason([.. items.Select(i => i.Item)]));
        // Streamed as the fragments arrive (120 ms apart), not held until the call is complete.
        Assert.True(deltas[^1].At - deltas[0].At >= TimeSpan.FromMilliseconds(200), $"first {deltas[0].At.TotalMilliseconds} ms, last {deltas[^1].At.TotalMilliseconds} ms");
    }

    [Fact]
    public async Task Anthropic_tool_input_streams_as_input_json_deltas()
    {
        var scenario = KiroScenario.ToolCall("tooluse_weather2", "get_weather", ToolInput, fragments: 5);
        Kiro.Enqueue(new KiroScenario { Frames = scenario.Frames, DelayBetweenFrames = TimeSpan.FromMilliseconds(120) });
        var body = Wire.AnthropicBody("weather?", stream: true,
            extra: "\"tools\":[{\"name\":\"get_weather\",\"description\":\"Weather for a city\",\"input_schema\":{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}}]");
        using var http = gateway.Http();
        var (response, items) = await Wire.StreamTimedAsync(http, Wire.Anthropic(body));
        Assert.Equal("kiro/process", response.Headers.GetValues("x-gapura-provider").Single()); // provider/account

        var start = items.Select(i => i.Item).Single(i => i.Event == "content_block_start" && i.Json?["content_block"]?["type"]?.GetValue<string>() == "tool_use");
        Assert.Equal("get_weather", start.Json!["content_block"]!["name"]!.GetValue<string>());
        var deltas = items.Where(i => i.Item.Event == "content_block_delta" && i.Item.Json?["delta"]?["type"]?.GetValue<string>() == "input_json_delta")
            .Select(i => (i.At, Json: i.Item.Json!["delta"]!["partial_json"]!.GetValue<string>())).ToList();
        Assert.True(deltas.Count >= 3, $"input came in {deltas.Count} delta(s)");
        Assert.Equal(ToolInput, string.Concat(deltas.Select(d => d.Json)));
        Assert.Equal("tool_use", Wire.AnthropicStopReason([.. items.Select(i => i.Item)]));
        Assert.True(deltas[^1].At - deltas[0].At >= TimeSpan.FromMilliseconds(200), $"first {deltas[0].At.TotalMilliseconds} ms, last {deltas[^1].At.TotalMilliseconds} ms");
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Provider_header_is_present(bool anthropic, bool stream)
    {
        var (response, body) = await CallAsync(anthropic, stream);
        AssertSuccess(response, body);
        Assert.Equal("kiro/process", response.Headers.GetValues("x-gapura-provider").Single()); // provider/account
        Assert.False(response.Headers.Contains("x-gapura-history-trimmed"));
    }
}

/// <summary>A long Retry-After is capped by <c>Kiro:MaxRetryDelaySeconds</c>, and the client still learns how long to wait.</summary>
public class RetryAfterCapTests(RetryAfterCapTests.Fixture fixture) : IClassFixture<RetryAfterCapTests.Fixture>
{
    public sealed class Fixture() : ConfiguredGateway("--Kiro:MaxRetryDelaySeconds=0.05");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Throttled_with_a_long_retry_after_fails_fast_and_passes_the_wait_on(bool anthropic)
    {
        var kiro = fixture.Gateway.Kiro;
        for (var i = 0; i < 3; i++) kiro.Enqueue(KiroScenario.Throttled(TimeSpan.FromSeconds(30)));
        var calls = kiro.ChatCalls;
        using var http = fixture.Gateway.Http();
        var clock = Stopwatch.StartNew();
        var (response, body) = await Wire.SendAsync(http, anthropic ? Wire.Anthropic(Wire.AnthropicBody()) : Wire.OpenAi(Wire.OpenAiBody()));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.ElapsedMilliseconds} ms");
        if (anthropic) Wire.AssertAnthropicError(response, body, HttpStatusCode.TooManyRequests);
        else Wire.AssertOpenAiError(response, body, HttpStatusCode.TooManyRequests);
        Assert.Equal(calls + 3, kiro.ChatCalls);
        Assert.Equal(TimeSpan.FromSeconds(30), response.Headers.RetryAfter?.Delta);
    }
}
