using System.IO.Pipelines;
using Gapura.Conversations;
using Gapura.Providers.Kiro;
using Gapura.Tests.Providers.EventStream;
using static Gapura.Tests.Providers.Kiro.KiroFrames;

namespace Gapura.Tests.Providers.Kiro;

public class KiroStreamTranslatorTests
{
    [Fact]
    public async Task Text_deltas_pass_through_without_deduplication()
    {
        var events = await RunAsync(Text("Hel"), Text("lo"), Text("lo"), Metering(0.1));
        Assert.Equal(["Hel", "lo", "lo"], events.OfType<TextDelta>().Select(t => t.Text));
        Assert.Equal(StopReason.EndTurn, End(events).StopReason);
    }

    [Fact]
    public async Task Tool_call_fragments_stream_as_they_arrive_under_the_original_name()
    {
        var t = new KiroStreamTranslator(200_000, resolveToolName: alias => alias == "t_abc123" ? "a_very_long_original_tool_name" : alias);
        var events = await RunAsync(t,
            Text("Let me look."),
            Tool("call1", "t_abc123"),
            Tool("call1", "t_abc123", "{\"path\":"),
            Tool("call1", "t_abc123", "\"a.txt\"}"),
            Tool("call1", "t_abc123", stop: true),
            Metering(0.2));

        Assert.Equal<StreamEvent>(
        [
            new TextDelta("Let me look."),
            new ToolCallStart(0, "call1", "a_very_long_original_tool_name"),
            new ToolCallDelta(0, "{\"path\":"),
            new ToolCallDelta(0, "\"a.txt\"}"),
            new ToolCallEnd(0),
        ], events[..^1]);
        Assert.Equal(StopReason.ToolUse, End(events).StopReason);
    }

    [Fact]
    public async Task Tool_input_given_as_an_object_is_serialised()
    {
        var events = await RunAsync(ToolRaw("""{"toolUseId":"c","name":"n","input":{"a":[1,2]},"stop":true}"""), Metering(1));
        Assert.Equal(new ToolCallDelta(0, """{"a":[1,2]}"""), Assert.Single(events.OfType<ToolCallDelta>()));
    }

    [Fact]
    public async Task Late_duplicates_of_a_finished_call_are_ignored()
    {
        var events = await RunAsync(
            Tool("c1", "read", "{}"), Tool("c1", "read", stop: true),
            Tool("c1", "read", "{}"), Tool("c1", "read", stop: true),
            Metering(1));
        Assert.Single(events.OfType<ToolCallStart>());
        Assert.Single(events.OfType<ToolCallDelta>());
        Assert.Single(events.OfType<ToolCallEnd>());
    }

    [Fact]
    public async Task Interleaved_calls_are_emitted_one_after_the_other()
    {
        var events = await RunAsync(
            Tool("a", "one", "{\"x\":"),
            Tool("b", "two", "{\"y\":"),
            Tool("a", "one", "1}"),
            Tool("b", "two", "2}"),
            Tool("a", "one", stop: true),
            Tool("b", "two", stop: true),
            Metering(1));
        Assert.Equal<StreamEvent>(
        [
            new ToolCallStart(0, "a", "one"), new ToolCallDelta(0, "{\"x\":"), new ToolCallDelta(0, "1}"), new ToolCallEnd(0),
            new ToolCallStart(1, "b", "two"), new ToolCallDelta(1, "{\"y\":"), new ToolCallDelta(1, "2}"), new ToolCallEnd(1),
        ], events[..^1]);
    }

    [Fact]
    public async Task A_waiting_call_that_finished_early_is_emitted_whole_after_the_current_one()
    {
        var events = await RunAsync(
            Tool("a", "one", "{"),
            Tool("b", "two", "{}", stop: true),
            Text("between"),
            Tool("a", "one", "}"),
            Tool("a", "one", stop: true),
            Tool("c", "three", "{}", stop: true),
            Metering(1));
        Assert.Equal<StreamEvent>(
        [
            new ToolCallStart(0, "a", "one"), new ToolCallDelta(0, "{"), new ToolCallDelta(0, "}"), new ToolCallEnd(0),
            new ToolCallStart(1, "b", "two"), new ToolCallDelta(1, "{}"), new ToolCallEnd(1),
            new TextDelta("between"),
            new ToolCallStart(2, "c", "three"), new ToolCallDelta(2, "{}"), new ToolCallEnd(2),
        ], events[..^1]);
    }

    [Fact]
    public async Task A_call_never_stopped_is_closed_at_the_end_of_the_stream()
    {
        var events = await RunAsync(Tool("a", "one", "{}"), Tool("b", "two", "{\"q\":1}"), Metering(1));
        Assert.Equal<StreamEvent>(
        [
            new ToolCallStart(0, "a", "one"), new ToolCallDelta(0, "{}"), new ToolCallEnd(0),
            new ToolCallStart(1, "b", "two"), new ToolCallDelta(1, "{\"q\":1}"), new ToolCallEnd(1),
        ], events[..^1]);
        Assert.Equal(StopReason.ToolUse, End(events).StopReason);
    }

    [Fact]
    public async Task Tool_events_without_an_id_are_ignored()
    {
        var events = await RunAsync(ToolRaw("""{"name":"x","input":"{}"}"""), Text("ok"), Metering(1));
        Assert.Empty(events.OfType<ToolCallStart>());
        Assert.Equal(StopReason.EndTurn, End(events).StopReason);
    }

    [Theory]
    [InlineData("thinking")]
    [InlineData("think")]
    [InlineData("reasoning")]
    [InlineData("thought")]
    public async Task Thinking_tags_split_at_every_position_route_to_reasoning_without_leaking(string tag)
    {
        var full = $"<{tag}>I should greet. 2<3</{tag}>\n\nHello <b>there</b>!";
        for (int i = 0; i <= full.Length; i++)
            for (int j = i; j <= full.Length; j += 3)
            {
                var chunks = new[] { full[..i], full[i..j], full[j..] }.Where(c => c.Length > 0).Select(Text).ToList();
                chunks.Add(Metering(1));
                var events = await RunAsync(new KiroStreamTranslator(200_000, thinkingRequested: true), [.. chunks]);
                Assert.Equal("I should greet. 2<3", AllReasoning(events));
                Assert.Equal("Hello <b>there</b>!", AllText(events));
                Assert.DoesNotContain(events.OfType<ReasoningDelta>(), r => r.Text.Contains('>'));
                // reasoning comes first, answer after
                Assert.True(events.FindLastIndex(e => e is ReasoningDelta) < events.FindIndex(e => e is TextDelta));
            }
    }

    [Fact]
    public async Task Only_a_possible_partial_closing_tag_is_held_back()
    {
        var pipe = new Pipe();
        var reader = KiroStreamReader.ReadAsync(pipe.Reader, new KiroStreamTranslator(200_000, thinkingRequested: true)).GetAsyncEnumerator();
        await pipe.Writer.WriteAsync(AwsFrames.Concat(Text("<thinking>abc</th")));
        Assert.True(await reader.MoveNextAsync());
        Assert.Equal(new ReasoningDelta("abc"), reader.Current);
        await pipe.Writer.WriteAsync(AwsFrames.Concat(Text("ought and more")));
        Assert.True(await reader.MoveNextAsync());
        Assert.Equal(new ReasoningDelta("</thought and more"), reader.Current);
        await pipe.Writer.CompleteAsync();
        await reader.DisposeAsync();
    }

    [Fact]
    public async Task Held_text_is_flushed_at_the_end_of_the_stream()
    {
        var open = await RunAsync(new KiroStreamTranslator(200_000, thinkingRequested: true), Text("<thin"));
        Assert.Equal("<thin", AllText(open));
        var unclosed = await RunAsync(new KiroStreamTranslator(200_000, thinkingRequested: true), Text("<think>deep thought</th"));
        Assert.Equal("deep thought</th", AllReasoning(unclosed));
        Assert.Equal("", AllText(unclosed));
    }

    [Fact]
    public async Task Text_not_opening_with_a_tag_passes_through_even_when_thinking_was_requested()
    {
        var events = await RunAsync(new KiroStreamTranslator(200_000, thinkingRequested: true), Text("Plain <thinking>quoted</thinking>"), Metering(1));
        Assert.Equal("Plain <thinking>quoted</thinking>", AllText(events));
        Assert.Empty(events.OfType<ReasoningDelta>());
    }

    [Fact]
    public async Task Thinking_tags_stay_text_when_thinking_was_not_requested()
    {
        var events = await RunAsync(Text("<thinking>x</thinking>y"), Metering(1));
        Assert.Equal("<thinking>x</thinking>y", AllText(events));
    }

    [Fact]
    public async Task Held_partial_tag_is_released_before_a_tool_call()
    {
        var events = await RunAsync(new KiroStreamTranslator(200_000, thinkingRequested: true), Text("<rea"), Tool("c", "n", "{}", stop: true), Metering(1));
        Assert.Equal(new TextDelta("<rea"), events[0]);
        Assert.IsType<ToolCallStart>(events[1]);
    }

    [Fact]
    public async Task Native_reasoning_events_become_reasoning_and_signature()
    {
        var events = await RunAsync(Reasoning("step one"), Reasoning(signature: "sig=="), Text("answer"), Metering(1));
        Assert.Equal<StreamEvent>([new ReasoningDelta("step one"), new ReasoningSignature("sig=="), new TextDelta("answer")], events[..^1]);
    }

    [Fact]
    public async Task Metadata_token_usage_is_reported_as_real()
    {
        var events = await RunAsync(Text("hi"), Context(30),
            Metadata(new { uncachedInputTokens = 1200, outputTokens = 34, totalTokens = 1234, cacheReadInputTokens = 500, cacheWriteInputTokens = 7 }),
            Metering(0.25));
        var usage = End(events).Usage;
        Assert.Equal(new Usage(1200, 34, 500, 7, 0.25, Estimated: false, ContextUsagePercent: 30), usage); // the percentage is passed on too (probe-limits reads it)
    }

    [Fact]
    public async Task Context_percentage_gives_estimated_input_tokens()
    {
        var events = await RunAsync(new KiroStreamTranslator(200_000, estimatedInputTokens: 999), Text("Hello, world!"), Context(12.5), Metering(0.14));
        var usage = End(events).Usage;
        Assert.Equal(25_000, usage.InputTokens);
        Assert.Equal(TokenEstimator.Count("Hello, world!"), usage.OutputTokens);
        Assert.True(usage.Estimated);
        Assert.Equal(0.14, usage.Credits);
    }

    [Fact]
    public async Task Without_any_usage_event_the_gateway_estimate_is_used()
    {
        var events = await RunAsync(new KiroStreamTranslator(200_000, estimatedInputTokens: 321), Text("x"));
        Assert.Equal(321, End(events).Usage.InputTokens);
        Assert.True(End(events).Usage.Estimated);
    }

    [Fact]
    public async Task Estimated_output_counts_text_reasoning_and_tool_arguments()
    {
        var events = await RunAsync(new KiroStreamTranslator(200_000, thinkingRequested: true),
            Text("<thinking>Let me think</thinking>Answer text"), Tool("c", "n", "{\"path\":\"src/main.cs\"}", stop: true), Context(1));
        int expected = TokenEstimator.Count("Let me think") + TokenEstimator.Count("Answer text") + TokenEstimator.Count("{\"path\":\"src/main.cs\"}");
        Assert.Equal(expected, End(events).Usage.OutputTokens);
    }

    [Fact]
    public async Task Credits_from_several_metering_events_add_up()
    {
        var events = await RunAsync(Text("x"), Metering(0.1), Metering(0.05));
        Assert.Equal(0.15, End(events).Usage.Credits!.Value, 6);
    }

    [Fact]
    public async Task Content_length_exceeded_is_a_max_tokens_stop_not_an_error()
    {
        var events = await RunAsync(Text("partial ans"), AwsFrames.Exception("ContentLengthExceededException", """{"message":"Response too long"}"""));
        Assert.Equal("partial ans", AllText(events));
        Assert.Equal(StopReason.MaxTokens, End(events).StopReason);
    }

    [Fact]
    public async Task Full_context_window_is_reported()
    {
        var events = await RunAsync(Text("x"), Context(100), Metering(1));
        Assert.Equal(StopReason.ContextWindowExceeded, End(events).StopReason);
    }

    [Fact]
    public async Task Text_without_any_closing_event_is_treated_as_truncated()
    {
        var events = await RunAsync(Text("The answer is"));
        Assert.Equal(StopReason.MaxTokens, End(events).StopReason);
    }

    [Theory]
    [InlineData("metering")]
    [InlineData("context")]
    [InlineData("metadata")]
    public async Task Text_followed_by_a_closing_event_ends_the_turn(string closing)
    {
        var last = closing switch
        {
            "metering" => Metering(0.1),
            "context" => Context(5),
            _ => Metadata(new { uncachedInputTokens = 1, outputTokens = 1 }),
        };
        var events = await RunAsync(Text("Done."), last);
        Assert.Equal(StopReason.EndTurn, End(events).StopReason);
    }

    [Theory]
    [InlineData("ThrottlingException", """{"message":"Rate exceeded"}""", ErrorKind.RateLimited, 429)]
    [InlineData("ThrottlingException", """{"message":"quota","reason":"MONTHLY_REQUEST_COUNT"}""", ErrorKind.QuotaExceeded, 429)]
    [InlineData("ServiceQuotaExceededException", """{"message":"x","reason":"OVERAGE_REQUEST_LIMIT_EXCEEDED"}""", ErrorKind.QuotaExceeded, 429)]
    [InlineData("ThrottlingException", """{"message":"busy","reason":"INSUFFICIENT_MODEL_CAPACITY"}""", ErrorKind.UpstreamUnavailable, 503)]
    [InlineData("ValidationException", """{"message":"Improperly formed request."}""", ErrorKind.InvalidRequest, 400)]
    [InlineData("ValidationException", """{"message":"x","reason":"INVALID_MODEL_ID"}""", ErrorKind.InvalidRequest, 400)]
    [InlineData("SomethingException", "Input is too long.", ErrorKind.InvalidRequest, 400)]
    [InlineData("InternalServerException", """{"message":"unexpectedly high load"}""", ErrorKind.UpstreamUnavailable, 503)]
    [InlineData("ServiceUnavailableException", "down", ErrorKind.UpstreamUnavailable, 503)]
    [InlineData("AccessDeniedException", "no", ErrorKind.PermissionDenied, 403)]
    [InlineData("com.amazon.aws.codewhisperer#ThrottlingException", "slow", ErrorKind.RateLimited, 429)]
    [InlineData("BrandNewException", "??", ErrorKind.UpstreamUnavailable, 502)]
    public async Task Exception_frames_become_gateway_errors(string type, string payload, ErrorKind kind, int status)
    {
        var seen = new List<StreamEvent>();
        var ex = await Assert.ThrowsAsync<GatewayException>(async () =>
        {
            await foreach (var e in KiroStreamReader.ReadAsync(new MemoryStream(AwsFrames.Concat(Text("partial"), AwsFrames.Exception(type, payload))), new KiroStreamTranslator(1000)))
                seen.Add(e);
        });
        Assert.Equal(kind, ex.Kind);
        Assert.Equal(status, ex.Status);
        Assert.Equal([new TextDelta("partial")], seen);   // what came before is delivered, then the failure
        Assert.DoesNotContain(seen, e => e is MessageEnd);
    }

    [Fact]
    public async Task Error_frames_become_gateway_errors()
    {
        var ex = await Assert.ThrowsAsync<GatewayException>(() => RunAsync(AwsFrames.Error("InternalServerException", "boom")));
        Assert.Equal(ErrorKind.UpstreamUnavailable, ex.Kind);
        Assert.Contains("boom", ex.Message);
    }

    [Fact]
    public async Task Invalid_state_event_is_an_error()
    {
        var ex = await Assert.ThrowsAsync<GatewayException>(() => RunAsync(AwsFrames.Event("invalidStateEvent", """{"reason":"INVALID_STATE","message":"bad state"}""")));
        Assert.Equal(ErrorKind.InvalidRequest, ex.Kind);
        Assert.Contains("bad state", ex.Message);
    }

    [Fact]
    public async Task Unknown_events_and_message_types_are_skipped()
    {
        var events = await RunAsync(
            AwsFrames.Event("followupPromptEvent", """{"followupPrompt":{"content":"more?"}}"""),
            AwsFrames.Event("brandNewEvent", "not even json"),
            AwsFrames.Event("messageMetadataEvent", """{"conversationId":"c","utteranceId":"u"}"""),
            AwsFrames.Encode([AwsFrames.Str(":message-type", "somethingelse")], [1, 2]),
            Text("ok"),
            Metering(1));
        Assert.Equal<StreamEvent>([new TextDelta("ok")], events[..^1]);
    }

    [Fact]
    public async Task A_malformed_known_event_is_an_upstream_failure()
    {
        var ex = await Assert.ThrowsAsync<GatewayException>(() => RunAsync(AwsFrames.Event("assistantResponseEvent", "{\"content\":")));
        Assert.Equal(ErrorKind.UpstreamUnavailable, ex.Kind);
    }

    [Fact]
    public async Task A_stream_cut_mid_frame_fails_after_delivering_whole_frames()
    {
        var bytes = AwsFrames.Concat(Text("first"), Text("second"));
        var seen = new List<StreamEvent>();
        var ex = await Assert.ThrowsAsync<GatewayException>(async () =>
        {
            await foreach (var e in KiroStreamReader.ReadAsync(new MemoryStream(bytes[..^10]), new KiroStreamTranslator(1000))) seen.Add(e);
        });
        Assert.Equal(ErrorKind.UpstreamUnavailable, ex.Kind);
        Assert.Equal([new TextDelta("first")], seen);
    }

    [Fact]
    public async Task A_corrupt_stream_is_an_upstream_failure()
    {
        var bytes = Text("hello");
        bytes[^6] ^= 1;
        var ex = await Assert.ThrowsAsync<GatewayException>(() => RunAsync(bytes));
        Assert.Equal(ErrorKind.UpstreamUnavailable, ex.Kind);
    }

    [Fact]
    public async Task An_empty_body_is_not_a_clean_answer()
    {
        var ex = await Assert.ThrowsAsync<GatewayException>(() => RunAsync());
        Assert.Equal(ErrorKind.UpstreamUnavailable, ex.Kind);
    }

    [Fact]
    public async Task Each_event_is_yielded_as_soon_as_its_frame_arrives()
    {
        var pipe = new Pipe();
        var reader = KiroStreamReader.ReadAsync(pipe.Reader, new KiroStreamTranslator(1000)).GetAsyncEnumerator();
        var frame = Text("one");
        await pipe.Writer.WriteAsync(frame.AsMemory(0, 30));
        var next = reader.MoveNextAsync().AsTask();
        await Task.Delay(20);
        Assert.False(next.IsCompleted);             // half a frame: nothing yet
        await pipe.Writer.WriteAsync(frame.AsMemory(30));
        Assert.True(await next);
        Assert.Equal(new TextDelta("one"), reader.Current);
        await pipe.Writer.WriteAsync(Text("two"));
        Assert.True(await reader.MoveNextAsync());
        Assert.Equal(new TextDelta("two"), reader.Current);
        await pipe.Writer.WriteAsync(Metering(1));
        await pipe.Writer.CompleteAsync();
        Assert.True(await reader.MoveNextAsync());
        Assert.IsType<MessageEnd>(reader.Current);
        Assert.False(await reader.MoveNextAsync());
    }

    [Fact]
    public async Task Frames_split_at_random_points_translate_identically()
    {
        var bytes = AwsFrames.Concat(Text("Grüße 🌍 "), Tool("a", "n", "{\"k\":\"日本\"}", stop: true), Text("done"), Metering(0.3));
        var expected = await RunAsync(new KiroStreamTranslator(1000), Text("Grüße 🌍 "), Tool("a", "n", "{\"k\":\"日本\"}", stop: true), Text("done"), Metering(0.3));
        var random = new Random(7);
        for (int round = 0; round < 50; round++)
        {
            var pipe = new Pipe();
            var chunks = AwsFrames.RandomSplit(bytes, random, random.Next(1, 30));
            var writer = Task.Run(async () =>
            {
                foreach (var c in chunks) await pipe.Writer.WriteAsync(c);
                await pipe.Writer.CompleteAsync();
            });
            var events = new List<StreamEvent>();
            await foreach (var e in KiroStreamReader.ReadAsync(pipe.Reader, new KiroStreamTranslator(1000))) events.Add(e);
            await writer;
            Assert.Equal(expected, events);
        }
    }
}
