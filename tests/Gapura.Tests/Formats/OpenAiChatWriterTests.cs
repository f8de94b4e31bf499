using System.Text.Json;
using Gapura.Conversations;
using Gapura.Formats;
using Gapura.Formats.OpenAi;
using Gapura.Routing;
using static Gapura.Tests.Formats.FormatTestKit;

namespace Gapura.Tests.Formats;

public class OpenAiChatWriterTests
{
    private static Task<List<SseFrame>> Run(ChatRequest request, params object[] steps)
        => RunAsync(pipe => OpenAiChatFrontDoor.Instance.CreateStreamWriter(pipe, Context(request)), steps);

    private static JsonElement Delta(SseFrame f) => f.Json.GetProperty("choices")[0].GetProperty("delta");

    [Fact]
    public async Task Text_stream_opens_with_role_streams_content_and_closes_with_done()
    {
        var frames = await Run(Request(), new TextDelta("Hel"), new TextDelta("lo"), new MessageEnd(StopReason.EndTurn, new Usage(10, 2)));

        Assert.Equal(5, frames.Count);
        foreach (var f in frames.Take(4))
        {
            var chunk = f.Json;
            Assert.Null(f.Event);
            Assert.Equal("resp_1", chunk.GetProperty("id").GetString());
            Assert.Equal("chat.completion.chunk", chunk.GetProperty("object").GetString());
            Assert.Equal(1_700_000_000, chunk.GetProperty("created").GetInt64());
            Assert.Equal("test-model", chunk.GetProperty("model").GetString());
            Assert.Equal(0, chunk.GetProperty("choices")[0].GetProperty("index").GetInt32());
        }
        Assert.Equal("assistant", Delta(frames[0]).GetProperty("role").GetString());
        Assert.Equal("Hel", Delta(frames[1]).GetProperty("content").GetString());
        Assert.Equal(JsonValueKind.Null, frames[1].Json.GetProperty("choices")[0].GetProperty("finish_reason").ValueKind);
        Assert.Equal("lo", Delta(frames[2]).GetProperty("content").GetString());
        Assert.Equal("stop", frames[3].Json.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Empty(Delta(frames[3]).EnumerateObject());
        Assert.False(frames[3].Json.TryGetProperty("usage", out _));
        Assert.Equal("[DONE]", frames[4].Data);
    }

    [Fact]
    public async Task Reasoning_then_text_then_incremental_tool_calls()
    {
        var frames = await Run(Request(),
            new ReasoningDelta("think"), new ReasoningSignature("sig"), new TextDelta("ok"),
            new ToolCallStart(0, "call_a", "read"), new ToolCallDelta(0, "{\"pa"), new ToolCallDelta(0, "th\":1}"), new ToolCallEnd(0),
            new ToolCallStart(1, "call_b", "ls"), new ToolCallEnd(1),
            new MessageEnd(StopReason.ToolUse, new Usage(1, 1)));

        var deltas = frames.Where(f => f.Data != "[DONE]").Select(Delta).ToList();
        Assert.Equal("think", deltas[1].GetProperty("reasoning_content").GetString());
        Assert.Equal("ok", deltas[2].GetProperty("content").GetString());

        var start = deltas[3].GetProperty("tool_calls")[0];
        Assert.Equal(0, start.GetProperty("index").GetInt32());
        Assert.Equal("call_a", start.GetProperty("id").GetString());
        Assert.Equal("function", start.GetProperty("type").GetString());
        Assert.Equal("read", start.GetProperty("function").GetProperty("name").GetString());
        Assert.Equal("", start.GetProperty("function").GetProperty("arguments").GetString());

        var args = deltas.Skip(4).Take(2).Select(d => d.GetProperty("tool_calls")[0]).ToList();
        Assert.All(args, a => Assert.Equal(0, a.GetProperty("index").GetInt32()));
        Assert.All(args, a => Assert.False(a.TryGetProperty("id", out _)));
        Assert.Equal("{\"path\":1}", string.Concat(args.Select(a => a.GetProperty("function").GetProperty("arguments").GetString())));

        Assert.Equal(1, deltas[6].GetProperty("tool_calls")[0].GetProperty("index").GetInt32());
        Assert.Equal("tool_calls", frames[^2].Json.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(9, frames.Count); // role, reasoning, text, start, 2 deltas, start, finish, [DONE]
    }

    [Fact]
    public async Task Include_usage_adds_a_choiceless_usage_chunk_before_done()
    {
        var frames = await Run(Request(includeUsage: true), new TextDelta("x"), new MessageEnd(StopReason.MaxTokens, new Usage(100, 20, CacheReadTokens: 30, CacheWriteTokens: 5)));

        Assert.Equal("length", frames[2].Json.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        var usageChunk = frames[3].Json;
        Assert.Equal(0, usageChunk.GetProperty("choices").GetArrayLength());
        var usage = usageChunk.GetProperty("usage");
        Assert.Equal(135, usage.GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(20, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(155, usage.GetProperty("total_tokens").GetInt32());
        Assert.Equal(30, usage.GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32());
        Assert.Equal("[DONE]", frames[4].Data);
    }

    [Theory]
    [InlineData(StopReason.EndTurn, "stop")]
    [InlineData(StopReason.StopSequence, "stop")]
    [InlineData(StopReason.MaxTokens, "length")]
    [InlineData(StopReason.ContextWindowExceeded, "length")]
    [InlineData(StopReason.ToolUse, "tool_calls")]
    public void Finish_reasons(StopReason reason, string expected) => Assert.Equal(expected, OpenAiWire.FinishReason(reason));

    [Fact]
    public async Task Keep_alive_is_an_sse_comment()
    {
        var frames = await Run(Request(), "keep-alive", new TextDelta("x"), "keep-alive", new MessageEnd(StopReason.EndTurn, Usage.Zero));
        Assert.Equal("keep-alive", frames[0].Comment);
        Assert.Null(frames[0].Data);
        Assert.Equal("keep-alive", frames[3].Comment);
    }

    [Fact]
    public async Task Error_mid_stream_is_an_error_data_line_without_done()
    {
        var frames = await Run(Request(), new TextDelta("par"),
            new GatewayException(ErrorKind.UpstreamUnavailable, "upstream went away"),
            new TextDelta("ignored"), new MessageEnd(StopReason.EndTurn, Usage.Zero));

        Assert.Equal(3, frames.Count);
        var error = frames[2].Json.GetProperty("error");
        Assert.Equal("upstream went away", error.GetProperty("message").GetString());
        Assert.Equal("server_error", error.GetProperty("type").GetString());
        Assert.DoesNotContain(frames, f => f.Data == "[DONE]");
    }

    [Fact]
    public async Task Non_ascii_text_is_written_unescaped()
    {
        var pipe = new System.IO.Pipelines.Pipe();
        var writer = OpenAiChatFrontDoor.Instance.CreateStreamWriter(pipe.Writer, Context());
        await writer.WriteEventAsync(new TextDelta("héllo <b> 日本"), CancellationToken.None);
        await pipe.Writer.CompleteAsync();
        var ms = new MemoryStream();
        await pipe.Reader.CopyToAsync(ms);
        Assert.Contains("héllo <b> 日本", System.Text.Encoding.UTF8.GetString(ms.ToArray()));
    }

    [Fact]
    public async Task Result_is_a_chat_completion()
    {
        var http = HttpContext();
        var result = new ChatResult("Done.", "pondered", null, [new ToolCall("call_1", "read", "{\"p\":1}")], StopReason.ToolUse, new Usage(10, 5, 2), null);
        await OpenAiChatFrontDoor.Instance.WriteResultAsync(http.Response, result, Context(), CancellationToken.None);

        Assert.Equal(200, http.Response.StatusCode);
        Assert.StartsWith("application/json", http.Response.ContentType);
        var body = Body(http.Response);
        Assert.Equal("chat.completion", body.GetProperty("object").GetString());
        Assert.Equal("resp_1", body.GetProperty("id").GetString());
        var choice = body.GetProperty("choices")[0];
        Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString());
        var message = choice.GetProperty("message");
        Assert.Equal("assistant", message.GetProperty("role").GetString());
        Assert.Equal("Done.", message.GetProperty("content").GetString());
        Assert.Equal("pondered", message.GetProperty("reasoning_content").GetString());
        var call = message.GetProperty("tool_calls")[0];
        Assert.Equal("call_1", call.GetProperty("id").GetString());
        Assert.Equal("{\"p\":1}", call.GetProperty("function").GetProperty("arguments").GetString());
        Assert.Equal(12, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(17, body.GetProperty("usage").GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task Result_without_text_but_with_tool_calls_has_null_content_and_no_reasoning()
    {
        var http = HttpContext();
        var result = new ChatResult("", null, null, [new ToolCall("c", "f", "{}")], StopReason.ToolUse, Usage.Zero, null);
        await OpenAiChatFrontDoor.Instance.WriteResultAsync(http.Response, result, Context(), CancellationToken.None);
        var message = Body(http.Response).GetProperty("choices")[0].GetProperty("message");
        Assert.Equal(JsonValueKind.Null, message.GetProperty("content").ValueKind);
        Assert.False(message.TryGetProperty("reasoning_content", out _));
    }

    [Fact]
    public async Task Result_is_readable_by_the_official_OpenAI_SDK()
    {
        var http = HttpContext();
        var result = new ChatResult("Hi", null, null, [new ToolCall("call_1", "read", "{}")], StopReason.ToolUse, new Usage(3, 4), null);
        await OpenAiChatFrontDoor.Instance.WriteResultAsync(http.Response, result, Context(), CancellationToken.None);
        var completion = System.ClientModel.Primitives.ModelReaderWriter.Read<OpenAI.Chat.ChatCompletion>(BinaryData.FromBytes(((MemoryStream)http.Response.Body).ToArray()))!;
        Assert.Equal(OpenAI.Chat.ChatFinishReason.ToolCalls, completion.FinishReason);
        Assert.Equal("read", completion.ToolCalls[0].FunctionName);
        Assert.Equal(7, completion.Usage.TotalTokenCount);
    }

    [Theory]
    [InlineData(ErrorKind.InvalidRequest, 400, "invalid_request_error")]
    [InlineData(ErrorKind.Authentication, 401, "authentication_error")]
    [InlineData(ErrorKind.PermissionDenied, 403, "permission_error")]
    [InlineData(ErrorKind.NotFound, 404, "not_found_error")]
    [InlineData(ErrorKind.RequestTooLarge, 413, "invalid_request_error")]
    [InlineData(ErrorKind.RateLimited, 429, "rate_limit_error")]
    [InlineData(ErrorKind.QuotaExceeded, 429, "insufficient_quota")]
    [InlineData(ErrorKind.UpstreamUnavailable, 503, "server_error")]
    [InlineData(ErrorKind.Timeout, 504, "server_error")]
    [InlineData(ErrorKind.Internal, 500, "server_error")]
    public async Task Errors_use_the_openai_shape_and_status(ErrorKind kind, int status, string type)
    {
        var http = HttpContext();
        await OpenAiChatFrontDoor.Instance.WriteErrorAsync(http.Response, new GatewayException(kind, "nope"));
        Assert.Equal(status, http.Response.StatusCode);
        var error = Body(http.Response).GetProperty("error");
        Assert.Equal("nope", error.GetProperty("message").GetString());
        Assert.Equal(type, error.GetProperty("type").GetString());
        Assert.Equal(JsonValueKind.Null, error.GetProperty("param").ValueKind);
        Assert.True(error.TryGetProperty("code", out _));
    }

    [Fact]
    public async Task Rate_limit_errors_carry_retry_after()
    {
        var http = HttpContext();
        await OpenAiChatFrontDoor.Instance.WriteErrorAsync(http.Response, new GatewayException(ErrorKind.RateLimited, "slow down", retryAfter: TimeSpan.FromSeconds(2.2)));
        Assert.Equal("3", http.Response.Headers.RetryAfter.ToString());
        Assert.Equal("rate_limit_exceeded", Body(http.Response).GetProperty("error").GetProperty("code").GetString());
    }

    [Fact]
    public async Task Models_list()
    {
        var http = HttpContext();
        var models = new[]
        {
            new ListedModel("claude-sonnet-4-5", new ModelInfo("claude-sonnet-4.5", "Claude Sonnet 4.5", 200_000, 64_000, "kiro")),
            new ListedModel("gpt-5", new ModelInfo("gpt-5", "GPT-5", 400_000, 128_000, "openai")),
        };
        await OpenAiModelList.WriteAsync(http.Response, models, DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), CancellationToken.None);
        var body = Body(http.Response);
        Assert.Equal("list", body.GetProperty("object").GetString());
        var first = body.GetProperty("data")[0];
        Assert.Equal("claude-sonnet-4-5", first.GetProperty("id").GetString());
        Assert.Equal("model", first.GetProperty("object").GetString());
        Assert.Equal(1_700_000_000, first.GetProperty("created").GetInt64());
        Assert.Equal("kiro", first.GetProperty("owned_by").GetString());
        Assert.Equal(200_000, first.GetProperty("context_window").GetInt32());
        Assert.Equal(64_000, first.GetProperty("max_output_tokens").GetInt32());
        Assert.Equal(2, body.GetProperty("data").GetArrayLength());
    }
}
