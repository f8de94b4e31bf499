using System.ClientModel.Primitives;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Formats.Anthropic;
using Gapura.Formats.OpenAi;
using static Gapura.Tests.Formats.FormatTestKit;

namespace Gapura.Tests.Formats;

/// <summary>The official .NET SDKs must read what the writers produce, event by event.</summary>
public class SdkCompatibilityTests
{
    private static readonly object[] FullTurn =
    [
        new ReasoningDelta("think"), new ReasoningSignature("sig"), new TextDelta("Hi"),
        new ToolCallStart(0, "call_1", "read"), new ToolCallDelta(0, "{\"p\":"), new ToolCallDelta(0, "1}"), new ToolCallEnd(0),
        new MessageEnd(StopReason.ToolUse, new Usage(10, 5, 2, 1)),
    ];

    [Fact]
    public async Task Anthropic_sdk_validates_every_stream_event()
    {
        var frames = await RunAsync(pipe => AnthropicMessagesFrontDoor.Instance.CreateStreamWriter(pipe, Context()), FullTurn);
        foreach (var frame in frames)
        {
            var ev = JsonSerializer.Deserialize<global::Anthropic.Models.Messages.RawMessageStreamEvent>(frame.Data!)!;
            ev.Validate();
        }
    }

    [Fact]
    public async Task Anthropic_sdk_validates_the_result_message()
    {
        var http = HttpContext();
        var result = new ChatResult("Hi", "think", "sig", [new ToolCall("toolu_1", "read", "{\"p\":1}")], StopReason.ToolUse, new Usage(1, 2), null);
        await AnthropicMessagesFrontDoor.Instance.WriteResultAsync(http.Response, result, Context(), CancellationToken.None);
        var message = JsonSerializer.Deserialize<global::Anthropic.Models.Messages.Message>(((MemoryStream)http.Response.Body).ToArray())!;
        message.Validate();
        Assert.Equal(3, message.Content.Count);
    }

    [Fact]
    public async Task OpenAI_sdk_reads_every_stream_chunk()
    {
        var frames = await RunAsync(pipe => OpenAiChatFrontDoor.Instance.CreateStreamWriter(pipe, Context(Request(includeUsage: true))), FullTurn);
        var updates = frames.Where(f => f.Data != "[DONE]")
            .Select(f => ModelReaderWriter.Read<OpenAI.Chat.StreamingChatCompletionUpdate>(BinaryData.FromString(f.Data!))!)
            .ToList();
        Assert.Equal("Hi", string.Concat(updates.SelectMany(u => u.ContentUpdate).Select(p => p.Text)));
        var toolUpdates = updates.SelectMany(u => u.ToolCallUpdates).ToList();
        Assert.Equal("read", toolUpdates[0].FunctionName);
        Assert.Equal("{\"p\":1}", string.Concat(toolUpdates.Select(t => t.FunctionArgumentsUpdate?.ToString())));
        Assert.Equal(OpenAI.Chat.ChatFinishReason.ToolCalls, updates.Single(u => u.FinishReason is not null).FinishReason);
        Assert.Equal(18, updates[^1].Usage.TotalTokenCount);
    }
}
