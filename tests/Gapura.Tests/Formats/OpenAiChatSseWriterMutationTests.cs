using Gapura.Conversations;
using Gapura.Formats.OpenAi;
using static Gapura.Tests.Formats.FormatTestKit;

namespace Gapura.Tests.Formats;

/// <summary>
/// The exact chunks an OpenAI chat-completions client reads from a stream, pinned by mutation testing (see
/// DEVELOPERS.md, "Mutation testing"): the role chunk first, one delta per event, tool calls by index, the
/// finish chunk, the usage chunk only when asked for, then <c>[DONE]</c> and nothing after.
/// </summary>
public class OpenAiChatSseWriterMutationTests
{
    private static Task<string> Raw(bool includeUsage, params object[] steps)
        => RunRawAsync(pipe => OpenAiChatFrontDoor.Instance.CreateStreamWriter(pipe, Context(Request(includeUsage))), steps);

    private const string Head = "data: {\"id\":\"resp_1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"test-model\",\"choices\":[";

    private static string Chunk(string delta, string finish = "null") => $"{Head}{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n";

    private static readonly string RoleChunk = Chunk("{\"role\":\"assistant\",\"content\":\"\"}");

    [Fact]
    public async Task A_text_reasoning_and_tool_stream_with_usage_is_exactly_the_openai_wire_format()
    {
        var text = await Raw(true,
            new ReasoningDelta("hmm"), new ReasoningSignature("ignored"), new TextDelta("Hi"),
            new ToolCallStart(2, "call_1", "read"), new ToolCallDelta(2, "{\"p\":1}"), new ToolCallEnd(2),
            new MessageEnd(StopReason.ToolUse, new Usage(10, 5, 3, 2)));

        Assert.Equal(
            RoleChunk +
            Chunk("{\"reasoning_content\":\"hmm\"}") +
            Chunk("{\"content\":\"Hi\"}") +
            Chunk("{\"tool_calls\":[{\"index\":2,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"read\",\"arguments\":\"\"}}]}") +
            Chunk("{\"tool_calls\":[{\"index\":2,\"function\":{\"arguments\":\"{\\\"p\\\":1}\"}}]}") +
            Chunk("{}", "\"tool_calls\"") +
            "data: {\"id\":\"resp_1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"test-model\",\"choices\":[]," +
            "\"usage\":{\"prompt_tokens\":15,\"completion_tokens\":5,\"total_tokens\":20,\"prompt_tokens_details\":{\"cached_tokens\":3}}}\n\n" +
            "data: [DONE]\n\n",
            text);
    }

    [Fact]
    public async Task Empty_deltas_send_no_chunk_and_without_include_usage_there_is_no_usage_chunk()
    {
        var text = await Raw(false, new TextDelta(""), new ReasoningDelta(""), new ToolCallDelta(0, ""), new MessageEnd(StopReason.MaxTokens, new Usage(1, 1)));

        Assert.Equal(RoleChunk + Chunk("{}", "\"length\"") + "data: [DONE]\n\n", text);
    }

    [Fact]
    public async Task Nothing_follows_done_not_even_an_error_or_a_keep_alive()
    {
        var text = await Raw(false, new MessageEnd(StopReason.EndTurn, Usage.Zero), new TextDelta("late"), "keep-alive",
            new GatewayException(ErrorKind.UpstreamUnavailable, "late failure"));

        Assert.Equal(RoleChunk + Chunk("{}", "\"stop\"") + "data: [DONE]\n\n", text);
    }

    [Fact]
    public async Task A_keep_alive_is_a_comment_and_an_error_ends_the_stream_without_done()
    {
        var text = await Raw(false, "keep-alive", new TextDelta("par"), new GatewayException(ErrorKind.RateLimited, "slow down"), new TextDelta("late"), "keep-alive");

        Assert.Equal(
            ": keep-alive\n\n" +
            RoleChunk +
            Chunk("{\"content\":\"par\"}") +
            "data: {\"error\":{\"message\":\"slow down\",\"type\":\"rate_limit_error\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}\n\n",
            text);
    }

    [Fact]
    public async Task Every_chunk_reaches_the_client_as_soon_as_it_is_written()
    {
        var received = await ReadAfterEachStepAsync(pipe => OpenAiChatFrontDoor.Instance.CreateStreamWriter(pipe, Context(Request(includeUsage: true))),
            "keep-alive", new TextDelta("a"), new ReasoningDelta("b"), new ToolCallStart(0, "t", "n"), new ToolCallDelta(0, "{}"),
            new MessageEnd(StopReason.EndTurn, Usage.Zero));

        string[] expected = [": keep-alive", "\"content\":\"a\"", "reasoning_content", "\"id\":\"t\"", "\"arguments\":\"{}\"", "data: [DONE]"];
        for (var i = 0; i < expected.Length; i++) Assert.Contains(expected[i], received[i]);

        var error = await ReadAfterEachStepAsync(pipe => OpenAiChatFrontDoor.Instance.CreateStreamWriter(pipe, Context()),
            new TextDelta("a"), new GatewayException(ErrorKind.Internal, "boom"));
        Assert.StartsWith("data: {\"error\"", error[1]);
    }
}
