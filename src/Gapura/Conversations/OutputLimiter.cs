using System.Runtime.CompilerServices;

namespace Gapura.Conversations;

/// <summary>
/// Enforces <c>max_tokens</c> and stop sequences on a canonical stream, for upstreams that have neither
/// field (Kiro). Output tokens are estimated with <see cref="TokenEstimator"/> over text, reasoning and
/// tool arguments; at the limit the text is cut, the upstream is no longer read (disposing its
/// enumerator cancels the HTTP call), an open tool call is closed and the stream ends with
/// <see cref="StopReason.MaxTokens"/>. A stop sequence is found even when split across deltas; only a
/// possible partial match is held back, and the text ends right before the match.
/// </summary>
internal sealed class OutputLimiter
{
    private readonly int? _maxTokens;
    private readonly string[] _stops;
    private readonly int _estimatedInputTokens;
    private readonly TokenTally _tally = new();
    private Channel _channel;
    private int _channelIndex = -1;
    private string _held = "";
    private int? _openToolCall;

    /// <param name="maxTokens">Most output tokens to let through; null for no limit.</param>
    /// <param name="stopSequences">Text that ends the answer, matched in the text channel only.</param>
    /// <param name="estimatedInputTokens">Reported as input usage when the stream is cut before the upstream's own usage.</param>
    public OutputLimiter(int? maxTokens, IReadOnlyList<string>? stopSequences = null, int estimatedInputTokens = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxTokens ?? 1, nameof(maxTokens));
        _maxTokens = maxTokens;
        _stops = stopSequences?.Where(s => !string.IsNullOrEmpty(s)).Distinct(StringComparer.Ordinal).ToArray() ?? [];
        _estimatedInputTokens = estimatedInputTokens;
    }

    /// <summary>Output tokens let through so far (estimated).</summary>
    public int OutputTokens => _tally.Total;

    /// <summary>Wraps <paramref name="source"/>; see <see cref="OutputLimiter"/>.</summary>
    public static async IAsyncEnumerable<StreamEvent> Apply(IAsyncEnumerable<StreamEvent> source, int? maxTokens,
        IReadOnlyList<string>? stopSequences = null, int estimatedInputTokens = 0, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var limiter = new OutputLimiter(maxTokens, stopSequences, estimatedInputTokens);
        var output = new List<StreamEvent>();
        var upstream = source.GetAsyncEnumerator(ct);
        bool disposed = false;
        try
        {
            while (await upstream.MoveNextAsync().ConfigureAwait(false))
            {
                bool finished = limiter.Process(upstream.Current, output);
                if (finished)
                {
                    // Stop the upstream before the client sees the end, so the call is not left running.
                    disposed = true;
                    await upstream.DisposeAsync().ConfigureAwait(false);
                }
                foreach (var e in output) yield return e;
                output.Clear();
                if (finished) yield break;
            }
            limiter.Complete(output);
            foreach (var e in output) yield return e;
        }
        finally
        {
            if (!disposed) await upstream.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Handles one upstream event; returns true when the limiter ended the stream.</summary>
    public bool Process(StreamEvent e, List<StreamEvent> output)
    {
        if (e is TextDelta text) return OnText(text, output);

        if (FlushHeld(output)) return true;
        switch (e)
        {
            case ReasoningDelta r:
                return PassContent(r.Text, r, Channel.Reasoning, -1, output);
            case ToolCallStart s:
                _openToolCall = s.Index;
                output.Add(s);
                return false;
            case ToolCallDelta d:
                return PassContent(d.ArgumentsFragment, d, Channel.ToolArguments, d.Index, output);
            case ToolCallEnd end:
                if (_openToolCall == end.Index) _openToolCall = null;
                output.Add(end);
                return false;
            case MessageEnd m:
                output.Add(m.Usage.OutputTokens == 0 && _tally.Total > 0
                    ? m with { Usage = m.Usage with { OutputTokens = _tally.Total, Estimated = true } }
                    : m);
                return false;
            default:
                output.Add(e);
                return false;
        }
    }

    /// <summary>The upstream ended: releases held text.</summary>
    public void Complete(List<StreamEvent> output) => FlushHeld(output);

    private bool OnText(TextDelta delta, List<StreamEvent> output)
    {
        var text = delta.Text;
        if (_stops.Length == 0) return PassContent(text, delta, Channel.Text, -1, output);

        var pending = _held.Length == 0 ? text : _held + text;
        _held = "";
        int matchAt = -1;
        string? match = null;
        foreach (var stop in _stops)
        {
            int at = pending.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (matchAt < 0 || at < matchAt)) { matchAt = at; match = stop; }
        }
        if (match is not null)
        {
            if (PassContent(pending[..matchAt], null, Channel.Text, -1, output)) return true;
            Finish(StopReason.StopSequence, match, output);
            return true;
        }

        int hold = 0;
        foreach (var stop in _stops) hold = Math.Max(hold, PartialSuffix(pending, stop));
        _held = pending[^hold..];
        var passed = pending[..^hold];
        // Nothing held before or now: slicing returned the delta's own string, so the delta itself can go on.
        return PassContent(passed, ReferenceEquals(passed, text) ? delta : null, Channel.Text, -1, output);
    }

    private bool FlushHeld(List<StreamEvent> output)
    {
        if (_held.Length == 0) return false;
        var held = _held;
        _held = "";
        return PassContent(held, null, Channel.Text, -1, output);
    }

    /// <summary>
    /// Lets content through up to the token budget; returns true when it had to cut. <paramref name="whole"/>
    /// is the upstream event whose content is exactly <paramref name="content"/>, or null when the content
    /// was assembled here (held text, a slice before a stop sequence): an event that goes through unchanged
    /// is passed on as it is rather than rebuilt, since this runs for every delta of every answer.
    /// </summary>
    private bool PassContent(string content, StreamEvent? whole, Channel channel, int index, List<StreamEvent> output)
    {
        if (content.Length == 0) return false;
        if (channel != _channel || index != _channelIndex)
        {
            _tally.Break();   // a new text/reasoning/tool-arguments run: tokens do not span it
            _channel = channel;
            _channelIndex = index;
        }
        if (_maxTokens is not int max)
        {
            _tally.Add(content);
            output.Add(whole ?? Make(channel, index, content));
            return false;
        }
        if (_tally.TryAdd(content, max - _tally.Total))
        {
            output.Add(whole ?? Make(channel, index, content));
            return false;
        }
        int keep = _tally.LongestPrefixWithin(content, max - _tally.Total);
        if (keep > 0)
        {
            var kept = content[..keep];
            _tally.Add(kept);
            output.Add(Make(channel, index, kept));
        }
        Finish(StopReason.MaxTokens, null, output);
        return true;
    }

    private static StreamEvent Make(Channel channel, int index, string content) => channel switch
    {
        Channel.Text => new TextDelta(content),
        Channel.Reasoning => new ReasoningDelta(content),
        Channel.ToolArguments => new ToolCallDelta(index, content),
        _ => throw new ArgumentOutOfRangeException(nameof(channel)),
    };

    private void Finish(StopReason reason, string? stopSequence, List<StreamEvent> output)
    {
        if (_openToolCall is int open)
        {
            output.Add(new ToolCallEnd(open));
            _openToolCall = null;
        }
        output.Add(new MessageEnd(reason, new Usage(_estimatedInputTokens, _tally.Total, Estimated: true), stopSequence));
    }

    private static int PartialSuffix(string text, string stop)
    {
        for (int k = Math.Min(stop.Length - 1, text.Length); k > 0; k--)
            if (text.AsSpan(text.Length - k).SequenceEqual(stop.AsSpan(0, k))) return k;
        return 0;
    }

    /// <summary>Which stream of content the tally is counting; tokens never span two.</summary>
    private enum Channel
    {
        None,
        Text,
        Reasoning,
        ToolArguments,
    }

    /// <summary>
    /// Counts tokens of text that arrives in pieces, equal to counting the whole. It relies on
    /// <see cref="TokenEstimator"/> carrying state across characters only within a run of ASCII letters
    /// or of digits, so only the last such run is kept open — as its kind and length, not as text, so a
    /// delta is counted in one pass over it with nothing allocated; a test checks the equality on random splits.
    /// </summary>
    internal sealed class TokenTally
    {
        private int _committed;
        private Run _open;

        public int Total => _committed + _open.Tokens;

        /// <summary>Tokens that appending <paramref name="text"/> would add.</summary>
        public int CostOf(ReadOnlySpan<char> text) => Next(text).Total - Total;

        public void Add(ReadOnlySpan<char> text) => (_committed, _open) = Next(text);

        /// <summary>Adds <paramref name="text"/> if it costs at most <paramref name="budget"/> tokens; otherwise changes nothing.</summary>
        public bool TryAdd(ReadOnlySpan<char> text, int budget)
        {
            var next = Next(text);
            if (next.Total - Total > budget) return false;
            (_committed, _open) = next;
            return true;
        }

        /// <summary>Ends the current run (the next text is not glued to it).</summary>
        public void Break()
        {
            _committed += _open.Tokens;
            _open = default;
        }

        /// <summary>The longest prefix of <paramref name="text"/> costing at most <paramref name="budget"/> tokens.</summary>
        public int LongestPrefixWithin(string text, int budget)
        {
            if (budget < 0) return 0;
            // Cost grows monotonically with the prefix length, so binary search finds the cut.
            int lo = 0, hi = text.Length;
            while (lo < hi)
            {
                int mid = (lo + hi + 1) / 2;
                if (CostOf(text.AsSpan(0, mid)) <= budget) lo = mid;
                else hi = mid - 1;
            }
            if (lo > 0 && char.IsHighSurrogate(text[lo - 1])) lo--;   // never split a surrogate pair
            return lo;
        }

        /// <summary>
        /// The state after appending <paramref name="text"/>. The open run continues through the text's leading
        /// characters of the same kind; the first other character closes it, and from there the estimator has
        /// no state, so the middle counts on its own. The text's own trailing run becomes the open run.
        /// </summary>
        private State Next(ReadOnlySpan<char> text)
        {
            int continued = _open.LeadingLength(text);
            if (continued == text.Length) return new State(_committed, _open with { Length = _open.Length + continued });
            int runStart = TrailingRunStart(text);   // ≥ continued: text[continued] is of another kind
            int closed = (_open with { Length = _open.Length + continued }).Tokens
                         + TokenEstimator.Count(text[continued..runStart]);
            var open = runStart == text.Length ? default : new Run(Run.KindOf(text[^1]), text.Length - runStart);
            return new State(_committed + closed, open);
        }

        private static int TrailingRunStart(ReadOnlySpan<char> s)
        {
            int i = s.Length;
            if (i == 0) return 0;
            char last = s[i - 1];
            if (char.IsAsciiLetter(last)) while (i > 0 && char.IsAsciiLetter(s[i - 1])) i--;
            else if (char.IsAsciiDigit(last)) while (i > 0 && char.IsAsciiDigit(s[i - 1])) i--;
            return i;
        }

        private readonly record struct State(int Committed, Run Open)
        {
            public int Total => Committed + Open.Tokens;
        }

        private enum RunKind
        {
            None,
            Letters,
            Digits,
        }

        /// <summary>The open run of ASCII letters or digits at the end of what was counted so far.</summary>
        private readonly record struct Run(RunKind Kind, int Length)
        {
            public int Tokens => Kind switch
            {
                RunKind.Letters => TokenEstimator.LetterRunTokens(Length),
                RunKind.Digits => TokenEstimator.DigitRunTokens(Length),
                _ => 0,
            };

            public static RunKind KindOf(char c)
                => char.IsAsciiLetter(c) ? RunKind.Letters : char.IsAsciiDigit(c) ? RunKind.Digits : RunKind.None;

            /// <summary>How many leading characters of <paramref name="text"/> continue this run.</summary>
            public int LeadingLength(ReadOnlySpan<char> text)
            {
                if (Kind == RunKind.None) return 0;
                int i = 0;
                while (i < text.Length && KindOf(text[i]) == Kind) i++;
                return i;
            }
        }
    }
}
