using System.Text.Json;
using Gapura.Conversations;
using Gapura.Formats.Responses;
using static Gapura.Tests.Formats.FormatTestKit;

namespace Gapura.Tests.Formats;

public class ResponsesWriterTests
{
    private static Task<List<SseFrame>> Run(params object[] steps) => Run(Request(), steps);

    private static Task<List<SseFrame>> Run(ChatRequest request, params object[] steps)
        => RunAsync(pipe => ResponsesFrontDoor.Instance.CreateStreamWriter(pipe, Context(request)), steps);

    private static List<string> Types(List<SseFrame> frames) => frames.Where(f => f.Data is not null).Select(f => f.Event!).ToList();

    private static void AssertWellFormed(List<SseFrame> frames)
    {
        var events = frames.Where(f => f.Data is not null).ToList();
        for (var i = 0; i < events.Count; i++)
        {
            // The event line names the same type as the payload, and sequence numbers count from 0.
            Assert.Equal(events[i].Event, events[i].Json.GetProperty("type").GetString());
            Assert.Equal(i, events[i].Json.GetProperty("sequence_number").GetInt32());
        }
    }

    [Fact]
    public async Task Text_stream_has_the_full_event_sequence()
    {
        var frames = await Run(new TextDelta("Hel"), new TextDelta("lo"), new MessageEnd(StopReason.EndTurn, new Usage(10, 2, CacheReadTokens: 5)));

        AssertWellFormed(frames);
        Assert.Equal([
            "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
            "response.output_text.delta", "response.output_text.delta", "response.output_text.done", "response.content_part.done",
            "response.output_item.done", "response.completed"], Types(frames));

        var created = frames[0].Json.GetProperty("response");
        Assert.Equal(("resp_1", "response", "in_progress", "test-model"),
            (created.GetProperty("id").GetString(), created.GetProperty("object").GetString(), created.GetProperty("status").GetString(), created.GetProperty("model").GetString()));
        Assert.Equal(1_700_000_000, created.GetProperty("created_at").GetInt64());
        Assert.Empty(created.GetProperty("output").EnumerateArray());

        var added = frames[2].Json;
        Assert.Equal(0, added.GetProperty("output_index").GetInt32());
        var item = added.GetProperty("item");
        var itemId = item.GetProperty("id").GetString()!;
        Assert.StartsWith("msg_", itemId);
        Assert.Equal(("message", "in_progress", "assistant"), (item.GetProperty("type").GetString(), item.GetProperty("status").GetString(), item.GetProperty("role").GetString()));
        Assert.Empty(item.GetProperty("content").EnumerateArray());

        var part = frames[3].Json;
        Assert.Equal(itemId, part.GetProperty("item_id").GetString());
        Assert.Equal(0, part.GetProperty("content_index").GetInt32());
        Assert.Equal(("output_text", ""), (part.GetProperty("part").GetProperty("type").GetString(), part.GetProperty("part").GetProperty("text").GetString()));

        Assert.Equal("Hel", frames[4].Json.GetProperty("delta").GetString());
        Assert.Equal(itemId, frames[4].Json.GetProperty("item_id").GetString());
        Assert.Equal("lo", frames[5].Json.GetProperty("delta").GetString());
        Assert.Equal("Hello", frames[6].Json.GetProperty("text").GetString());
        Assert.Equal("Hello", frames[7].Json.GetProperty("part").GetProperty("text").GetString());
        var doneItem = frames[8].Json.GetProperty("item");
        Assert.Equal("completed", doneItem.GetProperty("status").GetString());
        Assert.Equal("Hello", doneItem.GetProperty("content")[0].GetProperty("text").GetString());

        var response = frames[9].Json.GetProperty("response");
        Assert.Equal("completed", response.GetProperty("status").GetString());
        Assert.Equal("Hello", response.GetProperty("output")[0].GetProperty("content")[0].GetProperty("text").GetString());
        var usage = response.GetProperty("usage");
        Assert.Equal(15, usage.GetProperty("input_tokens").GetInt32());
        Assert.Equal(5, usage.GetProperty("input_tokens_details").GetProperty("cached_tokens").GetInt32());
        Assert.Equal(2, usage.GetProperty("output_tokens").GetInt32());
        Assert.Equal(0, usage.GetProperty("output_tokens_details").GetProperty("reasoning_tokens").GetInt32());
        Assert.Equal(17, usage.GetProperty("total_tokens").GetInt32());
        Assert.Equal(JsonValueKind.Null, response.GetProperty("error").ValueKind);
    }

    [Fact]
    public async Task Reasoning_text_and_tool_calls_become_separate_items()
    {
        var frames = await Run(
            new ReasoningDelta("Let me "), new ReasoningDelta("think."), new ReasoningSignature("sig"), new TextDelta("ok"),
            new ToolCallStart(0, "call_a", "read"), new ToolCallDelta(0, "{\"pa"), new ToolCallDelta(0, "th\":1}"), new ToolCallEnd(0),
            new ToolCallStart(1, "call_b", "ls"), new ToolCallEnd(1),
            new MessageEnd(StopReason.ToolUse, new Usage(1, 40)));

        AssertWellFormed(frames);
        Assert.Equal([
            "response.created", "response.in_progress",
            "response.output_item.added", "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
            "response.output_item.added", "response.content_part.added", "response.output_text.delta",
            "response.output_text.done", "response.content_part.done", "response.output_item.done",
            "response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
            "response.function_call_arguments.done", "response.output_item.done",
            "response.output_item.added", "response.function_call_arguments.done", "response.output_item.done",
            "response.completed"], Types(frames));

        var reasoningDelta = frames[4].Json;
        Assert.Equal(("Let me ", 0, 0), (reasoningDelta.GetProperty("delta").GetString(), reasoningDelta.GetProperty("summary_index").GetInt32(), reasoningDelta.GetProperty("output_index").GetInt32()));
        Assert.Equal("Let me think.", frames[6].Json.GetProperty("text").GetString());
        var reasoning = frames[8].Json.GetProperty("item");
        Assert.Equal("reasoning", reasoning.GetProperty("type").GetString());
        Assert.Equal("Let me think.", reasoning.GetProperty("summary")[0].GetProperty("text").GetString());
        Assert.Equal("sig", reasoning.GetProperty("encrypted_content").GetString());

        Assert.Equal(1, frames[9].Json.GetProperty("output_index").GetInt32());
        var call = frames[15].Json;
        Assert.Equal(2, call.GetProperty("output_index").GetInt32());
        var callItem = call.GetProperty("item");
        Assert.Equal(("function_call", "call_a", "read", "", "in_progress"),
            (callItem.GetProperty("type").GetString(), callItem.GetProperty("call_id").GetString(), callItem.GetProperty("name").GetString(),
             callItem.GetProperty("arguments").GetString(), callItem.GetProperty("status").GetString()));
        var fcId = callItem.GetProperty("id").GetString()!;
        Assert.StartsWith("fc_", fcId);
        Assert.Equal(("{\"pa", fcId), (frames[16].Json.GetProperty("delta").GetString(), frames[16].Json.GetProperty("item_id").GetString()));
        Assert.Equal("{\"path\":1}", frames[18].Json.GetProperty("arguments").GetString());
        Assert.Equal("{\"path\":1}", frames[19].Json.GetProperty("item").GetProperty("arguments").GetString());
        Assert.Equal("{}", frames[21].Json.GetProperty("arguments").GetString());

        var response = frames[^1].Json.GetProperty("response");
        Assert.Equal("completed", response.GetProperty("status").GetString());
        Assert.Equal(["reasoning", "message", "function_call", "function_call"], response.GetProperty("output").EnumerateArray().Select(i => i.GetProperty("type").GetString()));
        Assert.True(response.GetProperty("usage").GetProperty("output_tokens_details").GetProperty("reasoning_tokens").GetInt32() > 0);
    }

    [Fact]
    public async Task Done_text_is_whole_even_with_a_surrogate_pair_split_across_deltas()
    {
        var long1 = new string('x', 9000);
        var frames = await Run(new TextDelta(long1 + "a\uD83D"), new TextDelta("\uDE00b é"), new MessageEnd(StopReason.EndTurn, Usage.Zero));
        var done = frames.Single(f => f.Event == "response.output_text.done");
        Assert.Equal(long1 + "a\U0001F600b é", done.Json.GetProperty("text").GetString());
    }

    [Fact]
    public async Task Max_tokens_ends_with_response_incomplete()
    {
        var frames = await Run(new TextDelta("cut"), new MessageEnd(StopReason.MaxTokens, new Usage(3, 1)));

        AssertWellFormed(frames);
        Assert.Equal("response.incomplete", frames[^1].Event);
        Assert.DoesNotContain("response.completed", Types(frames));
        var response = frames[^1].Json.GetProperty("response");
        Assert.Equal("incomplete", response.GetProperty("status").GetString());
        Assert.Equal("max_output_tokens", response.GetProperty("incomplete_details").GetProperty("reason").GetString());
        Assert.Equal("incomplete", response.GetProperty("output")[0].GetProperty("status").GetString());
        Assert.Equal("cut", response.GetProperty("output")[0].GetProperty("content")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task Error_mid_stream_is_response_failed_and_nothing_after()
    {
        var frames = await Run(new TextDelta("half"),
            new GatewayException(ErrorKind.UpstreamUnavailable, "Kiro went away"),
            new TextDelta("more"), new MessageEnd(StopReason.EndTurn, Usage.Zero));

        AssertWellFormed(frames);
        Assert.Equal("response.failed", frames[^1].Event);
        Assert.DoesNotContain("response.completed", Types(frames));
        Assert.DoesNotContain("response.output_item.done", Types(frames));
        var response = frames[^1].Json.GetProperty("response");
        Assert.Equal("failed", response.GetProperty("status").GetString());
        Assert.Equal("Kiro went away", response.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal("upstream_unavailable", response.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("half", response.GetProperty("output")[0].GetProperty("content")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task Keep_alive_is_a_comment_and_an_error_after_it_still_opens_the_response()
    {
        var frames = await Run("keep-alive", new GatewayException(ErrorKind.Timeout, "silent"));

        Assert.Equal("keep-alive", frames[0].Comment);
        Assert.Null(frames[0].Data);
        Assert.Equal(["response.created", "response.in_progress", "response.failed"], Types(frames));
        AssertWellFormed(frames);
    }

    [Fact]
    public async Task Request_settings_are_echoed_in_the_response_object()
    {
        var request = Request() with
        {
            MaxTokens = 64,
            Temperature = 0.3,
            ToolChoice = new ToolChoice(ToolChoiceKind.Tool, "read"),
            Tools = [new ToolDefinition("read", "Read a file", Json("""{"type":"object"}"""))],
        };
        var frames = await Run(request, new TextDelta("x"), new MessageEnd(StopReason.EndTurn, Usage.Zero));
        var response = frames[^1].Json.GetProperty("response");
        Assert.Equal(64, response.GetProperty("max_output_tokens").GetInt32());
        Assert.Equal(0.3, response.GetProperty("temperature").GetDouble());
        Assert.Equal("read", response.GetProperty("tool_choice").GetProperty("name").GetString());
        Assert.Equal("read", response.GetProperty("tools")[0].GetProperty("name").GetString());
        Assert.False(response.GetProperty("store").GetBoolean());
    }

    [Fact]
    public async Task Whole_response_has_output_items_and_usage()
    {
        var http = HttpContext();
        var result = new ChatResult("Hi there", "thought", "sig", [new ToolCall("call_1", "read", """{"p":1}""")], StopReason.ToolUse, new Usage(7, 3), null);
        await ResponsesFrontDoor.Instance.WriteResultAsync(http.Response, result, Context(), CancellationToken.None);

        Assert.Equal(200, http.Response.StatusCode);
        var body = Body(http.Response);
        Assert.Equal(("resp_1", "response", "completed"), (body.GetProperty("id").GetString(), body.GetProperty("object").GetString(), body.GetProperty("status").GetString()));
        var output = body.GetProperty("output").EnumerateArray().ToList();
        Assert.Equal(["reasoning", "message", "function_call"], output.Select(i => i.GetProperty("type").GetString()));
        Assert.Equal("thought", output[0].GetProperty("summary")[0].GetProperty("text").GetString());
        Assert.Equal("Hi there", output[1].GetProperty("content")[0].GetProperty("text").GetString());
        Assert.Equal(("call_1", "read", """{"p":1}"""), (output[2].GetProperty("call_id").GetString(), output[2].GetProperty("name").GetString(), output[2].GetProperty("arguments").GetString()));
        Assert.Equal(10, body.GetProperty("usage").GetProperty("total_tokens").GetInt32());
    }

    [Fact]
    public async Task Whole_response_cut_by_max_tokens_is_incomplete()
    {
        var http = HttpContext();
        var result = new ChatResult("cut", null, null, [], StopReason.MaxTokens, new Usage(1, 1), null);
        await ResponsesFrontDoor.Instance.WriteResultAsync(http.Response, result, Context(), CancellationToken.None);
        var body = Body(http.Response);
        Assert.Equal("incomplete", body.GetProperty("status").GetString());
        Assert.Equal("max_output_tokens", body.GetProperty("incomplete_details").GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Errors_before_the_first_byte_use_the_openai_error_shape()
    {
        var http = HttpContext();
        await ResponsesFrontDoor.Instance.WriteErrorAsync(http.Response, new GatewayException(ErrorKind.RateLimited, "slow down", retryAfter: TimeSpan.FromSeconds(3)));
        Assert.Equal(429, http.Response.StatusCode);
        Assert.Equal("3", http.Response.Headers.RetryAfter.ToString());
        var error = Body(http.Response).GetProperty("error");
        Assert.Equal(("slow down", "rate_limit_error", "rate_limit_exceeded"), (error.GetProperty("message").GetString(), error.GetProperty("type").GetString(), error.GetProperty("code").GetString()));
    }

    [Fact]
    public void Response_ids_look_like_openai_ones()
        => Assert.Matches("^resp_[0-9a-f]{32}$", ResponsesFrontDoor.Instance.NewResponseId());
}
