using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// Decodes a chat-completions SSE body (<c>data: {chat.completion.chunk}</c> … <c>data: [DONE]</c>) into
/// canonical events, fed with bytes as they arrive in any split (a line, even a UTF-8 character, may
/// straddle two reads). Each event is produced as soon as its line is complete.
/// </summary>
/// <remarks>
/// Tool calls arrive by <c>index</c>: the first delta of a call carries its id and name, later ones argument
/// fragments. The canonical stream wants each call contiguous (start, deltas, end), so a call ends when
/// the next one begins, when text follows it, or at <c>finish_reason</c>. OpenAI, vLLM, Ollama and LM
/// Studio all send calls one after another; a server that went back to an ended call is reported as a
/// broken stream rather than silently mangling the arguments.
/// </remarks>
internal sealed class ChatCompletionsStreamDecoder(string label, int estimatedInputTokens)
{
    private readonly ArrayBufferWriter<byte> _line = new(1024);
    private readonly ArrayBufferWriter<byte> _data = new(1024);
    private bool _hasData;
    private string? _eventName;

    private readonly Dictionary<int, int> _callByUpstreamIndex = [];
    private int _calls;
    private int _openCall = -1;
    private StopReason? _finish;
    private Usage? _usage;
    private int _outputEstimate;

    /// <summary>True once <c>[DONE]</c> was read: the answer is complete, whatever follows is ignored.</summary>
    public bool IsDone { get; private set; }

    public void Feed(ReadOnlySpan<byte> bytes, List<StreamEvent> output)
    {
        while (!bytes.IsEmpty && !IsDone)
        {
            var newline = bytes.IndexOf((byte)'\n');
            if (newline < 0)
            {
                _line.Write(bytes);
                return;
            }
            if (_line.WrittenCount == 0) HandleLine(bytes[..newline], output);
            else
            {
                _line.Write(bytes[..newline]);
                HandleLine(_line.WrittenSpan, output);
                _line.ResetWrittenCount();
            }
            bytes = bytes[(newline + 1)..];
        }
    }

    /// <summary>The body ended. A stream that never finished is a failure, not a short answer.</summary>
    public void Complete(List<StreamEvent> output)
    {
        if (IsDone) return;
        if (_line.WrittenCount > 0)
        {
            HandleLine(_line.WrittenSpan, output);
            _line.ResetWrittenCount();
        }
        if (_hasData) Dispatch(output);
        if (IsDone) return;
        // Some servers close without [DONE]; a finish_reason already told us the answer is whole.
        if (_finish is null)
            throw new GatewayException(ErrorKind.UpstreamUnavailable, $"{label}'s response stream broke off before the answer was complete.", 502);
        Finish(output);
    }

    private void HandleLine(ReadOnlySpan<byte> line, List<StreamEvent> output)
    {
        if (!line.IsEmpty && line[^1] == (byte)'\r') line = line[..^1];
        if (line.IsEmpty)
        {
            if (_hasData) Dispatch(output);
            _eventName = null;
            return;
        }
        if (line[0] == (byte)':') return; // comment / keep-alive
        var colon = line.IndexOf((byte)':');
        var field = colon < 0 ? line : line[..colon];
        var value = colon < 0 ? [] : line[(colon + 1)..];
        if (!value.IsEmpty && value[0] == (byte)' ') value = value[1..];
        if (field.SequenceEqual("data"u8))
        {
            if (_hasData) _data.Write("\n"u8);
            _data.Write(value);
            _hasData = true;
        }
        else if (field.SequenceEqual("event"u8)) _eventName = System.Text.Encoding.UTF8.GetString(value);
    }

    private void Dispatch(List<StreamEvent> output)
    {
        var data = _data.WrittenSpan;
        try
        {
            if (data.Trim(" \t"u8).SequenceEqual("[DONE]"u8))
            {
                Finish(output);
                return;
            }
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(_data.WrittenMemory);
            }
            catch (JsonException e)
            {
                throw new GatewayException(ErrorKind.UpstreamUnavailable, $"{label} sent a stream event that is not JSON: {e.Message}", 502, inner: e);
            }
            using (doc) Translate(doc.RootElement, output);
        }
        finally
        {
            _data.ResetWrittenCount();
            _hasData = false;
        }
    }

    private void Translate(JsonElement chunk, List<StreamEvent> output)
    {
        if (chunk.ValueKind != JsonValueKind.Object) return;
        if (chunk.TryGetProperty("error", out var error) && error.ValueKind != JsonValueKind.Null || _eventName == "error")
            throw OpenAiErrors.FromStream(label, error.ValueKind == JsonValueKind.Undefined ? chunk : error);

        if (chunk.TryGetProperty("choices", out var choices) && choices.ValueKind == JsonValueKind.Array)
        {
            foreach (var choice in choices.EnumerateArray())
            {
                // n is always 1 here; another index would be a second answer the canonical stream cannot carry.
                if (choice.TryGetProperty("index", out var index) && index.ValueKind == JsonValueKind.Number && index.GetInt32() != 0) continue;
                if (choice.TryGetProperty("delta", out var delta) && delta.ValueKind == JsonValueKind.Object) TranslateDelta(delta, output);
                if (choice.TryGetProperty("finish_reason", out var reason) && reason.ValueKind == JsonValueKind.String)
                {
                    CloseCall(output);
                    _finish = reason.GetString() switch
                    {
                        "length" => StopReason.MaxTokens,
                        "tool_calls" or "function_call" => StopReason.ToolUse,
                        // Ollama has said "stop" after tool calls; the client must still run them.
                        _ when _calls > 0 => StopReason.ToolUse,
                        _ => StopReason.EndTurn,
                    };
                }
            }
        }
        if (chunk.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object) _usage = ReadUsage(usage);
    }

    private void TranslateDelta(JsonElement delta, List<StreamEvent> output)
    {
        // Reasoning: reasoning_content (DeepSeek, vLLM, the gateway's own front door) or reasoning (Ollama, OpenRouter).
        foreach (var field in (ReadOnlySpan<string>)["reasoning_content", "reasoning"])
        {
            if (delta.TryGetProperty(field, out var r) && r.ValueKind == JsonValueKind.String && r.GetString() is { Length: > 0 } reasoning)
            {
                CloseCall(output);
                _outputEstimate += TokenEstimator.Count(reasoning);
                output.Add(new ReasoningDelta(reasoning));
                break;
            }
        }
        foreach (var field in (ReadOnlySpan<string>)["content", "refusal"])
        {
            // A refusal is what the model said: the client sees it as text.
            if (delta.TryGetProperty(field, out var c) && c.ValueKind == JsonValueKind.String && c.GetString() is { Length: > 0 } text)
            {
                CloseCall(output);
                _outputEstimate += TokenEstimator.Count(text);
                output.Add(new TextDelta(text));
            }
        }
        if (delta.TryGetProperty("tool_calls", out var calls) && calls.ValueKind == JsonValueKind.Array)
        {
            var position = 0;
            foreach (var call in calls.EnumerateArray()) TranslateToolCall(call, position++, output);
        }
    }

    private void TranslateToolCall(JsonElement call, int position, List<StreamEvent> output)
    {
        var upstreamIndex = call.TryGetProperty("index", out var i) && i.ValueKind == JsonValueKind.Number ? i.GetInt32() : position;
        var function = call.TryGetProperty("function", out var f) && f.ValueKind == JsonValueKind.Object ? f : default;
        if (!_callByUpstreamIndex.TryGetValue(upstreamIndex, out var index))
        {
            CloseCall(output);
            index = _calls++;
            _callByUpstreamIndex[upstreamIndex] = index;
            _openCall = index;
            var id = call.TryGetProperty("id", out var idEl) && idEl.GetString() is { Length: > 0 } given ? given : "call_" + Guid.NewGuid().ToString("N")[..24];
            var name = function.ValueKind == JsonValueKind.Object && function.TryGetProperty("name", out var n) ? n.GetString() ?? "" : "";
            output.Add(new ToolCallStart(index, id, name));
        }
        else if (index != _openCall)
        {
            throw new GatewayException(ErrorKind.UpstreamUnavailable,
                $"{label} interleaved the arguments of several tool calls, which the gateway cannot relay in order.", 502);
        }
        if (function.ValueKind == JsonValueKind.Object && function.TryGetProperty("arguments", out var a))
        {
            // Arguments are a JSON string; Ollama has sent them as an object, whole.
            var fragment = a.ValueKind switch
            {
                JsonValueKind.String => a.GetString(),
                JsonValueKind.Object => a.GetRawText(),
                _ => null,
            };
            if (!string.IsNullOrEmpty(fragment))
            {
                _outputEstimate += TokenEstimator.Count(fragment);
                output.Add(new ToolCallDelta(index, fragment));
            }
        }
    }

    private void CloseCall(List<StreamEvent> output)
    {
        if (_openCall < 0) return;
        output.Add(new ToolCallEnd(_openCall));
        _openCall = -1;
    }

    private void Finish(List<StreamEvent> output)
    {
        CloseCall(output);
        IsDone = true;
        var stop = _finish ?? (_calls > 0 ? StopReason.ToolUse : StopReason.EndTurn);
        output.Add(new MessageEnd(stop, _usage ?? new Usage(estimatedInputTokens, _outputEstimate, Estimated: true)));
    }

    /// <summary>OpenAI's prompt_tokens includes cached tokens; the canonical input count does not.</summary>
    internal static Usage ReadUsage(JsonElement usage)
    {
        static int Int(JsonElement obj, string name)
            => obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n : 0;
        var prompt = Int(usage, "prompt_tokens");
        var cached = usage.TryGetProperty("prompt_tokens_details", out var details) ? Int(details, "cached_tokens") : 0;
        return new Usage(Math.Max(0, prompt - cached), Int(usage, "completion_tokens"), CacheReadTokens: cached);
    }

    /// <summary>Reads <paramref name="body"/> to <c>[DONE]</c> or its end; the stream is left for its owner to dispose.</summary>
    public static async IAsyncEnumerable<StreamEvent> ReadAsync(Stream body, ChatCompletionsStreamDecoder decoder,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        var events = new List<StreamEvent>();
        try
        {
            while (!decoder.IsDone)
            {
                int read;
                try
                {
                    read = await body.ReadAsync(buffer, ct).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or HttpRequestException && !ct.IsCancellationRequested)
                {
                    throw new GatewayException(ErrorKind.UpstreamUnavailable, $"The connection to {decoder.Label} failed while the answer was streaming.", 502, inner: ex);
                }
                if (read == 0) break;
                decoder.Feed(buffer.AsSpan(0, read), events);
                foreach (var e in events) yield return e;
                events.Clear();
            }
            decoder.Complete(events);
            foreach (var e in events) yield return e;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private string Label => label;
}
