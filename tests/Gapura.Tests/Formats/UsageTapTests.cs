using System.Text;
using Gapura.Formats;

namespace Gapura.Tests.Formats;

public class UsageTapTests
{
    private const string AnthropicStream = """
        event: message_start
        data: {"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":120,"cache_read_input_tokens":30,"cache_creation_input_tokens":7,"output_tokens":1}}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"the word usage in text: \"usage\""}}

        event: message_delta
        data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":42}}

        event: message_stop
        data: {"type":"message_stop"}


        """;

    private const string OpenAiStream = """
        data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"hi"}}]}

        data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":55,"completion_tokens":9,"total_tokens":64,"prompt_tokens_details":{"cached_tokens":11}}}

        data: [DONE]


        """;

    [Fact]
    public void Reads_anthropic_usage_split_over_message_start_and_message_delta()
    {
        var usage = Tap(AnthropicStream, streaming: true, chunk: 7)!;
        Assert.Equal((120, 42, 30, 7), (usage.InputTokens, usage.OutputTokens, usage.CacheReadTokens, usage.CacheWriteTokens));
    }

    [Fact]
    public void Reads_openai_chat_usage_from_the_final_chunk_whatever_the_split()
    {
        for (var chunk = 1; chunk <= OpenAiStream.Length; chunk += 13)
        {
            var usage = Tap(OpenAiStream, streaming: true, chunk)!;
            // prompt_tokens includes the cached ones; the canonical input does not.
            Assert.Equal((44, 9, 11), (usage.InputTokens, usage.OutputTokens, usage.CacheReadTokens));
        }
    }

    [Fact]
    public void Reads_a_whole_responses_or_messages_body()
    {
        var responses = Tap("""{"id":"resp_1","object":"response","output":[],"usage":{"input_tokens":70,"output_tokens":5,"input_tokens_details":{"cached_tokens":64}}}""", streaming: false, chunk: 10)!;
        Assert.Equal((6, 5, 64), (responses.InputTokens, responses.OutputTokens, responses.CacheReadTokens));
        var completed = Tap("data: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":8,\"output_tokens\":3}}}\n\n", streaming: true, chunk: 5)!;
        Assert.Equal((8, 3), (completed.InputTokens, completed.OutputTokens));
    }

    [Fact]
    public void An_answer_without_usage_reports_none()
        => Assert.Null(Tap("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: [DONE]\n\n", streaming: true, chunk: 4));

    [Fact]
    public void Null_usage_in_every_chunk_is_skipped_and_the_final_object_is_read_whatever_its_spacing()
    {
        // With include_usage, OpenAI sends "usage":null in every chunk before the one that counts.
        const string stream = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\n" +
                              "data: {\"choices\":[{\"delta\":{\"content\":\"\\\"usage\\\": {\"}}],\"usage\" : null}\n\n" +
                              "data: {\"choices\":[],\"usage\" :\t{ \"prompt_tokens\":5,\"completion_tokens\":2}}\n\ndata: [DONE]\n\n";
        var usage = Tap(stream, streaming: true, chunk: 9)!;
        Assert.Equal((5, 2), (usage.InputTokens, usage.OutputTokens));
        Assert.Null(Tap(stream[..stream.IndexOf("data: {\"choices\":[]", StringComparison.Ordinal)], streaming: true, chunk: 9));
    }

    private static Gapura.Conversations.Usage? Tap(string text, bool streaming, int chunk)
    {
        var bytes = Encoding.UTF8.GetBytes(text.Replace("\r\n", "\n"));
        var tap = new UsageTap(streaming);
        for (var i = 0; i < bytes.Length; i += chunk) tap.Observe(bytes.AsSpan(i, Math.Min(chunk, bytes.Length - i)));
        tap.Complete();
        return tap.Usage;
    }
}
