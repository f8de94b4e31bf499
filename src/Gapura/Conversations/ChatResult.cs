using System.Text;

namespace Gapura.Conversations;

/// <summary>A whole (non-streamed) answer, folded from the canonical stream by <see cref="ChatResultBuilder"/>.</summary>
public sealed record ChatResult(
    string Text,
    string? Reasoning,
    string? ReasoningSignature,
    IReadOnlyList<ToolCall> ToolCalls,
    StopReason StopReason,
    Usage Usage,
    string? StopSequence);

/// <summary>A finished tool call; <paramref name="Arguments"/> is the JSON text the model produced.</summary>
public sealed record ToolCall(string Id, string Name, string Arguments);

/// <summary>
/// Folds stream events into a <see cref="ChatResult"/>. Non-streaming requests use the same provider
/// stream as streaming ones, so there is exactly one decoding path per upstream.
/// </summary>
public sealed class ChatResultBuilder
{
    private readonly StringBuilder _text = new();
    private StringBuilder? _reasoning;
    private string? _signature;
    private readonly List<(string Id, string Name, StringBuilder Args)> _calls = [];
    private MessageEnd? _end;

    public void Add(StreamEvent e)
    {
        switch (e)
        {
            case TextDelta t: _text.Append(t.Text); break;
            case ReasoningDelta r: (_reasoning ??= new StringBuilder()).Append(r.Text); break;
            case ReasoningSignature s: _signature = s.Signature; break;
            case ToolCallStart s:
                while (_calls.Count <= s.Index) _calls.Add(("", "", new StringBuilder()));
                _calls[s.Index] = (s.Id, s.Name, new StringBuilder());
                break;
            case ToolCallDelta d: _calls[d.Index].Args.Append(d.ArgumentsFragment); break;
            case MessageEnd m: _end = m; break;
        }
    }

    public ChatResult Build()
    {
        var end = _end ?? throw new InvalidOperationException("The stream ended without a MessageEnd event.");
        var calls = _calls.Select(c => new ToolCall(c.Id, c.Name, c.Args.Length == 0 ? "{}" : c.Args.ToString())).ToList();
        return new ChatResult(_text.ToString(), _reasoning?.ToString(), _signature, calls, end.StopReason, end.Usage, end.StopSequence);
    }

    public static async Task<ChatResult> CollectAsync(IAsyncEnumerable<StreamEvent> events, CancellationToken ct)
    {
        var builder = new ChatResultBuilder();
        await foreach (var e in events.WithCancellation(ct)) builder.Add(e);
        return builder.Build();
    }
}
