using System.Text.Json;
using Gapura.Conversations;
using Gapura.Formats;
using Gapura.Formats.Anthropic;
using Gapura.Routing;
using static Gapura.Tests.Formats.FormatTestKit;

namespace Gapura.Tests.Formats;

public class AnthropicWriterTests
{
    private static Task<List<SseFrame>> Run(params object[] steps)
        => RunAsync(pipe => AnthropicMessagesFrontDoor.Instance.CreateStreamWriter(pipe, Context(estimatedInput: 1234)), steps);

    /// <summary>Each frame's event name must equal its data's type; returns the names in order.</summary>
    private static List<string> Names(List<SseFrame> frames)
    {
        foreach (var f in frames) Assert.Equal(f.Event, f.Json.GetProperty("type").GetString());
        return frames.Select(f => f.Event!).ToList();
    }

    [Fact]
    public async Task Text_stream_has_the_full_anthropic_envelope()
    {
        var frames = await Run(new TextDelta("Hel"), new TextDelta("lo"), new MessageEnd(StopReason.EndTurn, new Usage(10, 2, 3, 4)));

        Assert.Equal(["message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "message_delta", "message_stop"], Names(frames));

        var message = frames[0].Json.GetProperty("message");
        Assert.Equal("resp_1", message.GetProperty("id").GetString());
        Assert.Equal("message", message.GetProperty("type").GetString());
        Assert.Equal("assistant", message.GetProperty("role").GetString());
        Assert.Equal("test-model", message.GetProperty("model").GetString());
        Assert.Equal(0, message.GetProperty("content").GetArrayLength());
        Assert.Equal(1234, message.GetProperty("usage").GetProperty("input_tokens").GetInt32());

        var start = frames[1].Json;
        Assert.Equal(0, start.GetProperty("index").GetInt32());
        Assert.Equal("text", start.GetProperty("content_block").GetProperty("type").GetString());
        Assert.Equal("", start.GetProperty("content_block").GetProperty("text").GetString());
        Assert.Equal("text_delta", frames[2].Json.GetProperty("delta").GetProperty("type").GetString());
        Assert.Equal("Hello", frames[2].Json.GetProperty("delta").GetProperty("text").GetString() + frames[3].Json.GetProperty("delta").GetProperty("text").GetString());
        Assert.Equal(0, frames[4].Json.GetProperty("index").GetInt32());

        var delta = frames[5].Json;
        Assert.Equal("end_turn", delta.GetProperty("delta").GetProperty("stop_reason").GetString());
        Assert.Equal(JsonValueKind.Null, delta.GetProperty("delta").GetProperty("stop_sequence").ValueKind);
        var usage = delta.GetProperty("usage");
        Assert.Equal((10, 2, 3, 4), (usage.GetProperty("input_tokens").GetInt32(), usage.GetProperty("output_tokens").GetInt32(),
            usage.GetProperty("cache_read_input_tokens").GetInt32(), usage.GetProperty("cache_creation_input_tokens").GetInt32()));
    }

    [Fact]
    public async Task Thinking_then_text_then_tools_open_and_close_blocks_in_order()
    {
        var frames = await Run(
            new ReasoningDelta("Let me "), new ReasoningDelta("think."), new ReasoningSignature("sig=="),
            new TextDelta("I'll run it."),
            new ToolCallStart(0, "toolu_a", "Bash"), new ToolCallDelta(0, "{\"comm"), new ToolCallDelta(0, "and\":\"ls\"}"), new ToolCallEnd(0),
            new ToolCallStart(1, "toolu_b", "Read"), new ToolCallEnd(1),
            new MessageEnd(StopReason.ToolUse, new Usage(5, 50)));

        Assert.Equal([
            "message_start",
            "content_block_start", "content_block_delta", "content_block_delta", "content_block_delta", "content_block_stop",
            "content_block_start", "content_block_delta", "content_block_stop",
            "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
            "content_block_start", "content_block_stop",
            "message_delta", "message_stop"], Names(frames));

        // Every block event carries the index of the block it belongs to.
        int[] expectedIndexes = [0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3];
        Assert.Equal(expectedIndexes, frames.Skip(1).Take(14).Select(f => f.Json.GetProperty("index").GetInt32()));

        var thinking = frames[1].Json.GetProperty("content_block");
        Assert.Equal("thinking", thinking.GetProperty("type").GetString());
        Assert.Equal("thinking_delta", frames[2].Json.GetProperty("delta").GetProperty("type").GetString());
        Assert.Equal("think.", frames[3].Json.GetProperty("delta").GetProperty("thinking").GetString());
        var signature = frames[4].Json.GetProperty("delta");
        Assert.Equal(("signature_delta", "sig=="), (signature.GetProperty("type").GetString(), signature.GetProperty("signature").GetString()));

        var tool = frames[9].Json.GetProperty("content_block");
        Assert.Equal(("tool_use", "toolu_a", "Bash"), (tool.GetProperty("type").GetString(), tool.GetProperty("id").GetString(), tool.GetProperty("name").GetString()));
        Assert.Equal(JsonValueKind.Object, tool.GetProperty("input").ValueKind);
        var partials = frames.Skip(10).Take(2).Select(f => f.Json.GetProperty("delta")).ToList();
        Assert.All(partials, p => Assert.Equal("input_json_delta", p.GetProperty("type").GetString()));
        Assert.Equal("{\"command\":\"ls\"}", string.Concat(partials.Select(p => p.GetProperty("partial_json").GetString())));

        Assert.Equal("toolu_b", frames[13].Json.GetProperty("content_block").GetProperty("id").GetString());
        Assert.Equal("tool_use", frames[15].Json.GetProperty("delta").GetProperty("stop_reason").GetString());
    }

    [Fact]
    public async Task Interleaved_thinking_after_text_starts_a_new_block_and_text_switch_closes_thinking()
    {
        var frames = await Run(new TextDelta("a"), new ReasoningDelta("b"), new TextDelta("c"), new MessageEnd(StopReason.EndTurn, Usage.Zero));
        var starts = frames.Where(f => f.Event == "content_block_start").Select(f => f.Json.GetProperty("content_block").GetProperty("type").GetString()).ToList();
        Assert.Equal(["text", "thinking", "text"], starts);
        Assert.Equal(3, frames.Count(f => f.Event == "content_block_stop"));
    }

    [Fact]
    public async Task Stop_sequence_and_context_window_reasons()
    {
        var frames = await Run(new TextDelta("x"), new MessageEnd(StopReason.StopSequence, Usage.Zero, "END"));
        var delta = frames.Single(f => f.Event == "message_delta").Json.GetProperty("delta");
        Assert.Equal(("stop_sequence", "END"), (delta.GetProperty("stop_reason").GetString(), delta.GetProperty("stop_sequence").GetString()));
        Assert.Equal("model_context_window_exceeded", AnthropicWire.StopReason(StopReason.ContextWindowExceeded));
        Assert.Equal("max_tokens", AnthropicWire.StopReason(StopReason.MaxTokens));
    }

    [Fact]
    public async Task Empty_answer_still_ends_properly()
    {
        var frames = await Run(new MessageEnd(StopReason.EndTurn, Usage.Zero));
        Assert.Equal(["message_start", "message_delta", "message_stop"], Names(frames));
    }

    [Fact]
    public async Task Keep_alive_is_a_ping_event_after_message_start()
    {
        var frames = await Run("keep-alive", new TextDelta("x"), new MessageEnd(StopReason.EndTurn, Usage.Zero), "keep-alive");
        // Anthropic's own streams open with message_start; a ping never comes first.
        Assert.Equal(["message_start", "ping"], Names(frames)[..2]);
        Assert.Single(Names(frames), n => n == "message_start");
        Assert.Equal("message_stop", Names(frames)[^1]);
    }

    [Fact]
    public async Task Error_mid_stream_is_an_error_event_and_ends_the_stream()
    {
        var frames = await Run(new TextDelta("par"), new GatewayException(ErrorKind.UpstreamUnavailable, "overloaded upstream", status: 529), new TextDelta("ignored"), new MessageEnd(StopReason.EndTurn, Usage.Zero));
        Assert.Equal(["message_start", "content_block_start", "content_block_delta", "error"], Names(frames));
        var error = frames[^1].Json.GetProperty("error");
        Assert.Equal(("overloaded_error", "overloaded upstream"), (error.GetProperty("type").GetString(), error.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task Result_is_a_message_with_blocks_in_order()
    {
        var http = HttpContext();
        var result = new ChatResult("Running.", "pondering", "sig", [new ToolCall("toolu_1", "Bash", "{\"command\":\"ls\"}"), new ToolCall("toolu_2", "Read", "{trunc")],
            StopReason.ToolUse, new Usage(10, 20, 30, 40), null);
        await AnthropicMessagesFrontDoor.Instance.WriteResultAsync(http.Response, result, Context(), CancellationToken.None);

        Assert.Equal(200, http.Response.StatusCode);
        var body = Body(http.Response);
        Assert.Equal(("resp_1", "message", "assistant", "test-model"), (body.GetProperty("id").GetString(), body.GetProperty("type").GetString(), body.GetProperty("role").GetString(), body.GetProperty("model").GetString()));
        var content = body.GetProperty("content");
        Assert.Equal(["thinking", "text", "tool_use", "tool_use"], content.EnumerateArray().Select(b => b.GetProperty("type").GetString()));
        Assert.Equal(("pondering", "sig"), (content[0].GetProperty("thinking").GetString(), content[0].GetProperty("signature").GetString()));
        Assert.Equal("Running.", content[1].GetProperty("text").GetString());
        Assert.Equal("ls", content[2].GetProperty("input").GetProperty("command").GetString());
        Assert.Empty(content[3].GetProperty("input").EnumerateObject());
        Assert.Equal("tool_use", body.GetProperty("stop_reason").GetString());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("stop_sequence").ValueKind);
        Assert.Equal(30, body.GetProperty("usage").GetProperty("cache_read_input_tokens").GetInt32());
        Assert.Equal(40, body.GetProperty("usage").GetProperty("cache_creation_input_tokens").GetInt32());
    }

    [Fact]
    public async Task Result_without_reasoning_has_no_thinking_block()
    {
        var http = HttpContext();
        await AnthropicMessagesFrontDoor.Instance.WriteResultAsync(http.Response, new ChatResult("hi", null, null, [], StopReason.EndTurn, Usage.Zero, null), Context(), CancellationToken.None);
        var content = Body(http.Response).GetProperty("content");
        Assert.Equal("text", Assert.Single(content.EnumerateArray()).GetProperty("type").GetString());
    }

    [Theory]
    [InlineData(ErrorKind.InvalidRequest, null, 400, "invalid_request_error")]
    [InlineData(ErrorKind.Authentication, null, 401, "authentication_error")]
    [InlineData(ErrorKind.PermissionDenied, null, 403, "permission_error")]
    [InlineData(ErrorKind.NotFound, null, 404, "not_found_error")]
    [InlineData(ErrorKind.RequestTooLarge, null, 413, "request_too_large")]
    [InlineData(ErrorKind.RateLimited, null, 429, "rate_limit_error")]
    [InlineData(ErrorKind.QuotaExceeded, null, 429, "rate_limit_error")]
    [InlineData(ErrorKind.UpstreamUnavailable, null, 503, "overloaded_error")]
    [InlineData(ErrorKind.UpstreamUnavailable, 529, 529, "overloaded_error")]
    [InlineData(ErrorKind.UpstreamUnavailable, 502, 502, "api_error")]
    [InlineData(ErrorKind.Timeout, null, 504, "timeout_error")]
    [InlineData(ErrorKind.Internal, null, 500, "api_error")]
    public async Task Errors_use_the_anthropic_shape_and_status(ErrorKind kind, int? givenStatus, int status, string type)
    {
        var http = HttpContext();
        await AnthropicMessagesFrontDoor.Instance.WriteErrorAsync(http.Response, new GatewayException(kind, "nope", givenStatus));
        Assert.Equal(status, http.Response.StatusCode);
        var body = Body(http.Response);
        Assert.Equal("error", body.GetProperty("type").GetString());
        Assert.Equal((type, "nope"), (body.GetProperty("error").GetProperty("type").GetString(), body.GetProperty("error").GetProperty("message").GetString()));
    }

    [Fact]
    public async Task Retry_after_header_when_known()
    {
        var http = HttpContext();
        await AnthropicMessagesFrontDoor.Instance.WriteErrorAsync(http.Response, new GatewayException(ErrorKind.RateLimited, "later", retryAfter: TimeSpan.FromSeconds(30)));
        Assert.Equal("30", http.Response.Headers.RetryAfter.ToString());
    }

    [Fact]
    public async Task Count_tokens_answers_input_tokens()
    {
        var request = AnthropicMessagesFrontDoor.Instance.ParseRequest(Json("""
            {"model":"m","system":"Be brief.","messages":[{"role":"user","content":"Hello, world!"}]}
            """));
        var http = HttpContext();
        await AnthropicMessagesFrontDoor.WriteCountTokensAsync(http.Response, request, CancellationToken.None);
        var body = Body(http.Response);
        Assert.Single(body.EnumerateObject());
        // "Be brief." = 3, "Hello, world!" = 4, one message frame.
        Assert.Equal(3 + 4 + RequestTokenCounter.MessageOverheadTokens, body.GetProperty("input_tokens").GetInt32());
    }

    [Fact]
    public async Task Models_list_in_anthropic_shape()
    {
        var http = HttpContext();
        var models = new[]
        {
            new ListedModel("claude-sonnet-4-5", new ModelInfo("claude-sonnet-4.5", "Claude Sonnet 4.5", 200_000, 64_000, "kiro")),
            new ListedModel("claude-haiku-4-5", new ModelInfo("claude-haiku-4.5", "Claude Haiku 4.5", 200_000, 64_000, "kiro")),
        };
        await AnthropicModelList.WriteAsync(http.Response, models, new DateTimeOffset(2025, 10, 1, 0, 0, 0, TimeSpan.Zero), CancellationToken.None);
        var body = Body(http.Response);
        var first = body.GetProperty("data")[0];
        Assert.Equal(("model", "claude-sonnet-4-5", "Claude Sonnet 4.5", "2025-10-01T00:00:00Z"),
            (first.GetProperty("type").GetString(), first.GetProperty("id").GetString(), first.GetProperty("display_name").GetString(), first.GetProperty("created_at").GetString()));
        Assert.False(body.GetProperty("has_more").GetBoolean());
        Assert.Equal("claude-sonnet-4-5", body.GetProperty("first_id").GetString());
        Assert.Equal("claude-haiku-4-5", body.GetProperty("last_id").GetString());
    }

    [Fact]
    public async Task Empty_models_list_has_null_ids()
    {
        var http = HttpContext();
        await AnthropicModelList.WriteAsync(http.Response, [], DateTimeOffset.UnixEpoch, CancellationToken.None);
        Assert.Equal(JsonValueKind.Null, Body(http.Response).GetProperty("first_id").ValueKind);
    }
}
