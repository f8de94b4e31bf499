using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.Anthropic;

/// <summary>
/// Anthropic's SSE stream → canonical events, decoded as the bytes arrive: lines are cut at <c>\n</c> on raw
/// bytes (so a chunk boundary inside a UTF-8 character or a line is harmless), an event is dispatched at its
/// blank line, and each event's JSON is parsed once. <c>message_stop</c> is the only clean end: an
/// <c>event: error</c> or a stream that simply stops is a <see cref="GatewayException"/>.
/// </summary>
internal sealed class AnthropicStreamReader
{
    private enum BlockKind { Other, Text, Thinking, Tool }

    private readonly Dictionary<int, (BlockKind Kind, int ToolIndex)> _blocks = [];
    private int _nextToolIndex;
    private int _inputTokens, _outputTokens, _cacheRead, _cacheWrite;
    private StopReason _stopReason = StopReason.EndTurn;
    private string? _stopSequence;

    public static IAsyncEnumerable<StreamEvent> ReadAsync(Stream body, CancellationToken ct) => new AnthropicStreamReader().ReadEventsAsync(body, ct);

    private async IAsyncEnumerable<StreamEvent> ReadEventsAsync(Stream body, [EnumeratorCancellation] CancellationToken ct)
    {
        var buffer = new byte[16 * 1024];
        var filled = 0;
        var data = new ArrayBufferWriter<byte>(1024);
        var hasData = false;
        var pending = new List<StreamEvent>(4);
        while (true)
        {
            if (filled == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
            int read;
            try
            {
                read = await body.ReadAsync(buffer.AsMemory(filled), ct);
            }
            catch (Exception e) when (e is IOException or HttpRequestException && !ct.IsCancellationRequested)
            {
                throw new GatewayException(ErrorKind.UpstreamUnavailable, $"The connection to Anthropic broke mid-answer: {e.Message}", 502, inner: e);
            }
            if (read == 0) break;
            filled += read;

            var start = 0;
            int newline;
            while ((newline = Array.IndexOf(buffer, (byte)'\n', start, filled - start)) >= 0)
            {
                var line = buffer.AsSpan(start, newline - start);
                if (line.Length > 0 && line[^1] == (byte)'\r') line = line[..^1];
                start = newline + 1;
                if (line.IsEmpty)
                {
                    if (hasData && Dispatch(data.WrittenSpan, pending)) { foreach (var e in pending) yield return e; yield break; }
                    foreach (var e in pending) yield return e;
                    pending.Clear();
                    data.Clear();
                    hasData = false;
                }
                else if (line.StartsWith("data:"u8))
                {
                    var value = line[5..];
                    if (!value.IsEmpty && value[0] == (byte)' ') value = value[1..];
                    // Several data lines of one event are joined with a newline (the SSE rule).
                    if (hasData) data.Write("\n"u8);
                    data.Write(value);
                    hasData = true;
                }
                // "event:" names duplicate the JSON's own "type", which is what decides; ":" lines are comments.
            }
            if (start > 0)
            {
                Buffer.BlockCopy(buffer, start, buffer, 0, filled - start);
                filled -= start;
            }
        }
        // A last event without its blank line (or even its newline) still counts: a server closing right after message_stop.
        if (filled > 0) AppendTrailingData(buffer.AsSpan(0, filled), data, ref hasData);
        if (hasData && Dispatch(data.WrittenSpan, pending)) { foreach (var e in pending) yield return e; yield break; }
        throw new GatewayException(ErrorKind.UpstreamUnavailable, "Anthropic's stream ended before message_stop; the answer is incomplete.", 502);
    }

    private static void AppendTrailingData(ReadOnlySpan<byte> tail, ArrayBufferWriter<byte> data, ref bool hasData)
    {
        tail = tail.TrimEnd((byte)'\r');
        if (!tail.StartsWith("data:"u8)) return;
        var value = tail[5..];
        if (!value.IsEmpty && value[0] == (byte)' ') value = value[1..];
        if (hasData) data.Write("\n"u8);
        data.Write(value);
        hasData = true;
    }

    /// <summary>Decodes one event into <paramref name="output"/>; true when it was <c>message_stop</c>.</summary>
    internal bool Dispatch(ReadOnlySpan<byte> json, List<StreamEvent> output)
    {
        JsonDocument doc;
        try
        {
            var reader = new Utf8JsonReader(json);
            doc = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException e)
        {
            throw new GatewayException(ErrorKind.UpstreamUnavailable, $"Anthropic sent an event that is not JSON: {e.Message}", 502, inner: e);
        }
        using (doc)
        {
            var root = doc.RootElement;
            switch (Str(root, "type"))
            {
                case "message_start":
                    if (root.TryGetProperty("message", out var message) && message.TryGetProperty("usage", out var startUsage)) ReadUsage(startUsage);
                    return false;
                case "content_block_start":
                    BlockStart(Int(root, "index"), root.GetProperty("content_block"), output);
                    return false;
                case "content_block_delta":
                    BlockDelta(Int(root, "index"), root.GetProperty("delta"), output);
                    return false;
                case "content_block_stop":
                    if (_blocks.TryGetValue(Int(root, "index"), out var stopped) && stopped.Kind == BlockKind.Tool) output.Add(new ToolCallEnd(stopped.ToolIndex));
                    return false;
                case "message_delta":
                    if (root.TryGetProperty("delta", out var delta))
                    {
                        if (Str(delta, "stop_reason") is { } reason) _stopReason = MapStopReason(reason);
                        _stopSequence = Str(delta, "stop_sequence") ?? _stopSequence;
                    }
                    if (root.TryGetProperty("usage", out var usage)) ReadUsage(usage);
                    return false;
                case "message_stop":
                    output.Add(new MessageEnd(_stopReason, new Usage(_inputTokens, _outputTokens, _cacheRead, _cacheWrite), _stopReason == StopReason.StopSequence ? _stopSequence : null));
                    return true;
                case "error":
                    var error = root.TryGetProperty("error", out var e) ? e : default;
                    throw AnthropicErrors.FromStreamError(error.ValueKind == JsonValueKind.Object ? Str(error, "type") : null, error.ValueKind == JsonValueKind.Object ? Str(error, "message") : null);
                default:
                    // ping, and event types added after this was written: ignoring them is what Anthropic asks of clients.
                    return false;
            }
        }
    }

    private void BlockStart(int index, JsonElement block, List<StreamEvent> output)
    {
        switch (Str(block, "type"))
        {
            case "text":
                _blocks[index] = (BlockKind.Text, -1);
                if (Str(block, "text") is { Length: > 0 } text) output.Add(new TextDelta(text));
                break;
            case "thinking":
                _blocks[index] = (BlockKind.Thinking, -1);
                if (Str(block, "thinking") is { Length: > 0 } thinking) output.Add(new ReasoningDelta(thinking));
                if (Str(block, "signature") is { Length: > 0 } signature) output.Add(new ReasoningSignature(signature));
                break;
            case "redacted_thinking":
                // Same convention as the Anthropic parser: redacted thinking is a signature with no text.
                _blocks[index] = (BlockKind.Other, -1);
                if (Str(block, "data") is { Length: > 0 } data) output.Add(new ReasoningSignature(data));
                break;
            case "tool_use":
                var toolIndex = _nextToolIndex++;
                _blocks[index] = (BlockKind.Tool, toolIndex);
                output.Add(new ToolCallStart(toolIndex, Str(block, "id") ?? $"toolu_{toolIndex}", Str(block, "name") ?? ""));
                // Streams start with an empty input and send it as input_json_delta; a filled one is passed on as one fragment.
                if (block.TryGetProperty("input", out var input) && input.ValueKind == JsonValueKind.Object && input.EnumerateObject().Any())
                    output.Add(new ToolCallDelta(toolIndex, input.GetRawText()));
                break;
            default:
                // server_tool_use, web_search_tool_result…: the canonical stream has no place for them.
                _blocks[index] = (BlockKind.Other, -1);
                break;
        }
    }

    private void BlockDelta(int index, JsonElement delta, List<StreamEvent> output)
    {
        var block = _blocks.TryGetValue(index, out var b) ? b : (Kind: BlockKind.Other, ToolIndex: -1);
        switch (Str(delta, "type"))
        {
            case "text_delta" when Str(delta, "text") is { Length: > 0 } text:
                output.Add(new TextDelta(text));
                break;
            case "thinking_delta" when Str(delta, "thinking") is { Length: > 0 } thinking:
                output.Add(new ReasoningDelta(thinking));
                break;
            case "signature_delta" when Str(delta, "signature") is { Length: > 0 } signature:
                output.Add(new ReasoningSignature(signature));
                break;
            case "input_json_delta" when block.Kind == BlockKind.Tool && Str(delta, "partial_json") is { Length: > 0 } fragment:
                output.Add(new ToolCallDelta(block.ToolIndex, fragment));
                break;
        }
    }

    /// <summary>message_start carries the input side; message_delta carries cumulative counts, so later values replace earlier ones.</summary>
    private void ReadUsage(JsonElement usage)
    {
        if (usage.ValueKind != JsonValueKind.Object) return;
        if (TryInt(usage, "input_tokens", out var input)) _inputTokens = input;
        if (TryInt(usage, "output_tokens", out var output)) _outputTokens = output;
        if (TryInt(usage, "cache_read_input_tokens", out var read)) _cacheRead = read;
        if (TryInt(usage, "cache_creation_input_tokens", out var write)) _cacheWrite = write;
    }

    internal static StopReason MapStopReason(string reason) => reason switch
    {
        "max_tokens" => StopReason.MaxTokens,
        "tool_use" => StopReason.ToolUse,
        "stop_sequence" => StopReason.StopSequence,
        "model_context_window_exceeded" => StopReason.ContextWindowExceeded,
        // end_turn, pause_turn (a server tool paused; the client continues the turn) and refusal end the answer normally.
        _ => StopReason.EndTurn,
    };

    private static string? Str(JsonElement obj, string name)
        => obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static int Int(JsonElement obj, string name) => TryInt(obj, name, out var value) ? value : 0;

    private static bool TryInt(JsonElement obj, string name, out int value)
    {
        value = 0;
        return obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out value);
    }
}
