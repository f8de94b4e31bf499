using Gapura.Conversations;
using Gapura.Formats.Responses;
using static Gapura.Tests.Formats.FormatTestKit;

namespace Gapura.Tests.Formats;

/// <summary>
/// What a Responses client (Codex, the OpenAI SDKs) can read while a stream is still running, pinned by mutation
/// testing (see DEVELOPERS.md, "Mutation testing"): each event leaves when it is written.
/// </summary>
public class ResponsesSseWriterMutationTests
{
    [Fact]
    public async Task Every_event_reaches_the_client_as_soon_as_it_is_written()
    {
        var received = await ReadAfterEachStepAsync(pipe => ResponsesFrontDoor.Instance.CreateStreamWriter(pipe, Context()),
            "keep-alive", new TextDelta("a"), new ReasoningDelta("b"), new ReasoningSignature("s"), new ToolCallStart(0, "call_1", "ls"),
            new ToolCallDelta(0, "{}"), new ToolCallEnd(0), new MessageEnd(StopReason.EndTurn, Usage.Zero));

        string[] expected = [": keep-alive", "event: response.output_text.delta", "event: response.reasoning_summary_text.delta",
            "event: response.reasoning_summary_text.done", "\"type\":\"function_call\"", "event: response.function_call_arguments.delta",
            "event: response.function_call_arguments.done", "event: response.completed"];
        for (var i = 0; i < expected.Length; i++) Assert.Contains(expected[i], received[i]);
        Assert.StartsWith("event: response.created", received[1]);

        var failed = await ReadAfterEachStepAsync(pipe => ResponsesFrontDoor.Instance.CreateStreamWriter(pipe, Context()),
            new TextDelta("a"), new GatewayException(ErrorKind.Internal, "boom"));
        Assert.StartsWith("event: response.failed", failed[1]);
    }
}
