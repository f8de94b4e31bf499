using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Providers.EventStream;

namespace Gapura.Providers.Bedrock;

/// <summary>
/// ConverseStream frames (decoded by the shared <see cref="EventStreamDecoder"/>) → canonical events, one
/// frame at a time: text and reasoning deltas as they come, tool calls as Start/Delta…/End (Bedrock already
/// keeps a tool block contiguous), and <see cref="MessageEnd"/> once both messageStop and metadata (usage)
/// arrived. Exception frames become <see cref="GatewayException"/>s; a stream that ends without messageStop
/// is an error too, so a cut answer never looks complete.
/// </summary>
internal sealed class BedrockStreamTranslator
{
    public static readonly IReadOnlyList<string> KnownEventTypes =
        ["messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata"];

    private static readonly EventStreamDecoder Decoder = new(KnownEventTypes);

    // Bedrock's contentBlockIndex → our tool call index (tool calls counted from 0 within the response).
    private readonly Dictionary<int, int> _toolIndexByBlock = [];
    private int _nextToolIndex;
    private StopReason? _stop;
    private string? _stopSequence;
    private Usage? _usage;
    private bool _ended;

    public static async IAsyncEnumerable<StreamEvent> ReadAsync(Stream body, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var reader = PipeReader.Create(body, new StreamPipeReaderOptions(leaveOpen: true, useZeroByteReads: true));
        var translator = new BedrockStreamTranslator();
        var events = new List<StreamEvent>();
        try
        {
            var frames = Decoder.ReadFramesAsync(reader, ct).GetAsyncEnumerator(ct);
            try
            {
                while (true)
                {
                    bool more;
                    try
                    {
                        more = await frames.MoveNextAsync().ConfigureAwait(false);
                    }
                    catch (EventStreamTruncatedException ex)
                    {
                        throw new GatewayException(ErrorKind.UpstreamUnavailable, "Bedrock's response stream broke off in the middle of a frame.", 502, inner: ex);
                    }
                    catch (EventStreamFormatException ex)
                    {
                        throw new GatewayException(ErrorKind.UpstreamUnavailable, $"Bedrock sent a corrupt event stream: {ex.Message}", 502, inner: ex);
                    }
                    catch (Exception ex) when (ex is IOException or HttpRequestException && !ct.IsCancellationRequested)
                    {
                        throw new GatewayException(ErrorKind.UpstreamUnavailable, "The connection to Bedrock failed while the answer was streaming.", 502, inner: ex);
                    }
                    if (!more) break;
                    translator.Translate(frames.Current, events);
                    foreach (var e in events) yield return e;
                    events.Clear();
                }
            }
            finally
            {
                await frames.DisposeAsync().ConfigureAwait(false);
            }
            translator.Complete(events);
            foreach (var e in events) yield return e;
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>A Converse (non-streaming) answer as the same events a stream of it would give.</summary>
    public static async Task<List<StreamEvent>> FromConverseResponseAsync(Stream body, CancellationToken ct)
    {
        JsonDocument doc;
        try { doc = await JsonDocument.ParseAsync(body, cancellationToken: ct); }
        catch (JsonException ex) { throw new GatewayException(ErrorKind.UpstreamUnavailable, $"Bedrock sent an unreadable Converse answer: {ex.Message}", 502, inner: ex); }
        using (doc)
        {
            var root = doc.RootElement;
            var events = new List<StreamEvent>();
            var toolIndex = 0;
            if (root.TryGetProperty("output", out var output) && output.TryGetProperty("message", out var message)
                && message.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Array)
            {
                foreach (var block in content.EnumerateArray())
                {
                    if (Str(block, "text") is { Length: > 0 } text) events.Add(new TextDelta(text));
                    else if (block.TryGetProperty("toolUse", out var use))
                    {
                        var index = toolIndex++;
                        events.Add(new ToolCallStart(index, Str(use, "toolUseId") ?? $"tooluse_{index}", Str(use, "name") ?? ""));
                        events.Add(new ToolCallDelta(index, use.TryGetProperty("input", out var input) ? input.GetRawText() : "{}"));
                        events.Add(new ToolCallEnd(index));
                    }
                    else if (block.TryGetProperty("reasoningContent", out var reasoning))
                    {
                        if (reasoning.TryGetProperty("reasoningText", out var rt))
                        {
                            if (Str(rt, "text") is { Length: > 0 } r) events.Add(new ReasoningDelta(r));
                            if (Str(rt, "signature") is { Length: > 0 } sig) events.Add(new ReasoningSignature(sig));
                        }
                        if (Str(reasoning, "redactedContent") is { Length: > 0 } redacted) events.Add(new ReasoningSignature(redacted));
                    }
                }
            }
            var translator = new BedrockStreamTranslator();
            translator._stop = StopReasonOf(Str(root, "stopReason"));
            if (root.TryGetProperty("additionalModelResponseFields", out var extra) && extra.ValueKind == JsonValueKind.Object)
                translator._stopSequence = Str(extra, "stop_sequence");
            if (root.TryGetProperty("usage", out var usage))
                translator._usage = new Usage(Int(usage, "inputTokens"), Int(usage, "outputTokens"), Int(usage, "cacheReadInputTokens"), Int(usage, "cacheWriteInputTokens"));
            translator.Complete(events);
            return events;
        }
    }

    private static StopReason StopReasonOf(string? wire) => wire switch
    {
        "tool_use" => StopReason.ToolUse,
        "max_tokens" => StopReason.MaxTokens,
        "stop_sequence" => StopReason.StopSequence,
        "model_context_window_exceeded" => StopReason.ContextWindowExceeded,
        _ => StopReason.EndTurn,   // end_turn, guardrail_intervened, content_filtered
    };

    public void Translate(in EventStreamFrame frame, List<StreamEvent> output)
    {
        switch (frame.MessageType)
        {
            case "exception":
                throw BedrockErrors.FromStream(frame.ExceptionType, frame.Payload.Span);
            case "error":
                throw new GatewayException(ErrorKind.UpstreamUnavailable, $"Bedrock stream error {frame.ErrorCode}: {frame.ErrorMessage}", 502);
            case "event":
                break;
            default:
                return;   // unknown message types are for newer clients; nothing to show
        }
        if (_ended) return;
        JsonDocument doc;
        try { doc = JsonDocument.Parse(frame.Payload); }
        catch (JsonException ex)
        {
            throw new GatewayException(ErrorKind.UpstreamUnavailable, $"Bedrock sent an unreadable {frame.EventType} event: {ex.Message}", 502, inner: ex);
        }
        using var _ = doc;
        var root = doc.RootElement;
        switch (frame.EventType)
        {
            case "contentBlockStart":
                if (root.TryGetProperty("start", out var start) && start.TryGetProperty("toolUse", out var toolStart))
                {
                    var block = BlockIndex(root);
                    var index = _nextToolIndex++;
                    _toolIndexByBlock[block] = index;
                    output.Add(new ToolCallStart(index, Str(toolStart, "toolUseId") ?? $"tooluse_{index}", Str(toolStart, "name") ?? ""));
                }
                break;
            case "contentBlockDelta":
                if (!root.TryGetProperty("delta", out var delta)) break;
                if (delta.TryGetProperty("text", out var text) && text.GetString() is { Length: > 0 } t) output.Add(new TextDelta(t));
                else if (delta.TryGetProperty("toolUse", out var toolDelta))
                {
                    if (_toolIndexByBlock.TryGetValue(BlockIndex(root), out var index) && Str(toolDelta, "input") is { Length: > 0 } fragment)
                        output.Add(new ToolCallDelta(index, fragment));
                }
                else if (delta.TryGetProperty("reasoningContent", out var reasoning))
                {
                    if (Str(reasoning, "text") is { Length: > 0 } r) output.Add(new ReasoningDelta(r));
                    if (Str(reasoning, "signature") is { Length: > 0 } sig) output.Add(new ReasoningSignature(sig));
                    // Redacted reasoning has no text; its encrypted data is what must come back next turn,
                    // carried like a signature (the canonical shape of redacted thinking).
                    if (Str(reasoning, "redactedContent") is { Length: > 0 } redacted) output.Add(new ReasoningSignature(redacted));
                }
                break;
            case "contentBlockStop":
                if (_toolIndexByBlock.Remove(BlockIndex(root), out var ended)) output.Add(new ToolCallEnd(ended));
                break;
            case "messageStop":
                _stop = StopReasonOf(Str(root, "stopReason"));
                if (root.TryGetProperty("additionalModelResponseFields", out var extra) && extra.ValueKind == JsonValueKind.Object)
                    _stopSequence = Str(extra, "stop_sequence");
                TryEnd(output);
                break;
            case "metadata":
                if (root.TryGetProperty("usage", out var usage))
                    _usage = new Usage(Int(usage, "inputTokens"), Int(usage, "outputTokens"), Int(usage, "cacheReadInputTokens"), Int(usage, "cacheWriteInputTokens"));
                TryEnd(output);
                break;
        }
    }

    /// <summary>The stream ended: without messageStop the answer is incomplete (an error); without metadata, usage is zero.</summary>
    public void Complete(List<StreamEvent> output)
    {
        if (_ended) return;
        if (_stop is null)
            throw new GatewayException(ErrorKind.UpstreamUnavailable, "Bedrock's response stream ended before the message was complete.", 502);
        _usage ??= Usage.Zero with { Estimated = true };
        TryEnd(output);
    }

    // messageStop comes before metadata on the wire; MessageEnd needs both, and must be the last event.
    private void TryEnd(List<StreamEvent> output)
    {
        if (_ended || _stop is null || _usage is null) return;
        foreach (var open in _toolIndexByBlock.Values.Order()) output.Add(new ToolCallEnd(open));
        _toolIndexByBlock.Clear();
        _ended = true;
        output.Add(new MessageEnd(_stop.Value, _usage, _stop == StopReason.StopSequence ? _stopSequence : null));
    }

    private static int BlockIndex(JsonElement root)
        => root.TryGetProperty("contentBlockIndex", out var i) && i.TryGetInt32(out var v) ? v : 0;

    private static string? Str(JsonElement obj, string name)
        => obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static int Int(JsonElement obj, string name)
        => obj.TryGetProperty(name, out var v) && v.TryGetInt32(out var n) ? n : 0;
}
