using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// Decodes a chat-completions SSE body (<c>data: {chat.completion.chunk}</c> … <c>data: [DONE]</c>) into
/// canonical events (framing in <see cref="SseStreamDecoder"/>). Each event is produced as soon as its line is complete.
/// </summary>
/// <remarks>
/// Tool calls arrive by <c>index</c>: the first delta of a call carries its id and name, later ones argument
/// fragments. The canonical stream wants each call contiguous (start, deltas, end), so a call ends when
/// the next one begins, when text follows it, or at <c>finish_reason</c>. OpenAI, vLLM, Ollama and LM
/// Studio all send calls one after another; a server that went back to an ended call is reported as a
/// broken stream rather than silently mangling the arguments.
/// </remarks>
internal sealed class ChatCompletionsStreamDecoder(string label, int estimatedInputTokens) : SseStreamDecoder(label)
{
    private readonly Dictionary<int, int> _callByUpstreamIndex = [];
    private int _calls;
    private int _openCall = -1;
    private StopReason? _finish;
    private Usage? _usage;
    private int _outputEstimate;

    /// <summary>Some servers close without [DONE]; a finish_reason already told us the answer is whole.</summary>
    protected override void EndOfBody(List<StreamEvent> output)
    {
        if (_finish is null) throw BrokenOff();
        Finish(output);
    }

    protected override void OnEvent(string? eventName, ReadOnlyMemory<byte> data, List<StreamEvent> output)
    {
        if (data.Span.Trim(" \t"u8).SequenceEqual("[DONE]"u8))
        {
            Finish(output);
            return;
        }
        using var doc = ParseJson(data);
        Translate(doc.RootElement, eventName, output);
    }

    private void Translate(JsonElement chunk, string? eventName, List<StreamEvent> output)
    {
        if (chunk.ValueKind != JsonValueKind.Object) return;
        if (chunk.TryGetProperty("error", out var error) && error.ValueKind != JsonValueKind.Null || eventName == "error")
            throw OpenAiErrors.FromStream(Label, error.ValueKind == JsonValueKind.Undefined ? chunk : error);

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
        // Reasoning: reasoning_content (DeepSeek, vLLM, the gateway's own front door), reasoning (Ollama, OpenRouter)
        // or reasoning_text (GitHub Copilot, whose reasoning_opaque beside it is encrypted state, not text).
        foreach (var field in (ReadOnlySpan<string>)["reasoning_content", "reasoning", "reasoning_text"])
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
                $"{Label} interleaved the arguments of several tool calls, which the gateway cannot relay in order.", 502);
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
}
