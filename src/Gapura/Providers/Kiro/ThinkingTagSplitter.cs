using System.Text;
using Gapura.Conversations;

namespace Gapura.Providers.Kiro;

/// <summary>
/// Kiro has no thinking field: when thinking is injected into the prompt, the model answers with
/// <c>&lt;thinking&gt;…&lt;/thinking&gt;</c> (or <c>think</c>, <c>reasoning</c>, <c>thought</c>) at the start of
/// its text. This splits that block into reasoning and the rest into text, across arbitrary delta
/// boundaries, holding back only what a partially received tag needs. Tags never reach the client.
/// </summary>
internal sealed class ThinkingTagSplitter
{
    private static readonly string[] OpenTags = ["<thinking>", "<think>", "<reasoning>", "<thought>"];

    private enum State
    {
        /// <summary>Deciding whether the text opens with a tag (leading whitespace allowed).</summary>
        Opening,
        Inside,
        /// <summary>Just past the closing tag: whitespace separating reasoning from the answer is dropped.</summary>
        AfterClose,
        Text,
    }

    private State _state = State.Opening;
    private string _closeTag = "";
    private readonly StringBuilder _held = new();

    public void Push(string chunk, List<StreamEvent> output)
    {
        if (chunk.Length == 0) return;
        switch (_state)
        {
            case State.Text:
                output.Add(new TextDelta(chunk));
                return;
            case State.AfterClose:
                PushAfterClose(chunk, output);
                return;
            case State.Inside:
                _held.Append(chunk);
                PushInside(output);
                return;
            default:
                _held.Append(chunk);
                PushOpening(output);
                return;
        }
    }

    /// <summary>
    /// Releases what is held: at the end of the stream, or when a tool call begins (text cannot continue
    /// a tag across a tool call). A held partial tag is released as what it was inside of.
    /// </summary>
    public void Flush(List<StreamEvent> output)
    {
        if (_held.Length == 0)
        {
            if (_state == State.Opening) _state = State.Text;
            return;
        }
        var held = _held.ToString();
        _held.Clear();
        if (_state == State.Inside) output.Add(new ReasoningDelta(held));
        else
        {
            output.Add(new TextDelta(held));
            _state = State.Text;
        }
    }

    private void PushOpening(List<StreamEvent> output)
    {
        var held = _held.ToString();
        var rest = held.AsSpan().TrimStart();
        if (rest.IsEmpty) return;
        foreach (var tag in OpenTags)
        {
            if (rest.StartsWith(tag, StringComparison.Ordinal))
            {
                _state = State.Inside;
                _closeTag = "</" + tag[1..];
                _held.Clear().Append(rest[tag.Length..]);
                PushInside(output);
                return;
            }
        }
        foreach (var tag in OpenTags)
            if (tag.AsSpan().StartsWith(rest, StringComparison.Ordinal)) return;   // maybe a tag, still arriving
        _held.Clear();
        _state = State.Text;
        output.Add(new TextDelta(held));
    }

    private void PushInside(List<StreamEvent> output)
    {
        var buffer = _held.ToString();
        int close = buffer.IndexOf(_closeTag, StringComparison.Ordinal);
        if (close >= 0)
        {
            _held.Clear();
            if (close > 0) output.Add(new ReasoningDelta(buffer[..close]));
            _state = State.AfterClose;
            PushAfterClose(buffer[(close + _closeTag.Length)..], output);
            return;
        }
        int keep = PartialSuffix(buffer, _closeTag);
        if (keep == buffer.Length) return;
        output.Add(new ReasoningDelta(buffer[..^keep]));
        _held.Clear().Append(buffer, buffer.Length - keep, keep);
    }

    private void PushAfterClose(string chunk, List<StreamEvent> output)
    {
        int start = 0;
        while (start < chunk.Length && char.IsWhiteSpace(chunk[start])) start++;
        if (start == chunk.Length) return;
        _state = State.Text;
        output.Add(new TextDelta(start == 0 ? chunk : chunk[start..]));
    }

    /// <summary>Length of the longest suffix of <paramref name="text"/> that is a proper prefix of <paramref name="tag"/>.</summary>
    internal static int PartialSuffix(ReadOnlySpan<char> text, string tag)
    {
        for (int k = Math.Min(tag.Length - 1, text.Length); k > 0; k--)
            if (text[^k..].SequenceEqual(tag.AsSpan(0, k))) return k;
        return 0;
    }
}
