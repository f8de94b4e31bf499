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
    private Type? _channel;
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
        if (e is TextDelta text) return OnText(text.Text, output);

        if (FlushHeld(output)) return true;
        switch (e)
        {
            case ReasoningDelta r:
                return PassContent(r.Text, -1, typeof(ReasoningDelta), t => new ReasoningDelta(t), output);
            case ToolCallStart s:
                _openToolCall = s.Index;
                output.Add(s);
                return false;
            case ToolCallDelta d:
                return PassContent(d.ArgumentsFragment, d.Index, typeof(ToolCallDelta), t => new ToolCallDelta(d.Index, t), output);
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

    private bool OnText(string text, List<StreamEvent> output)
    {
        if (_stops.Length == 0) return PassText(text, output);

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
            if (PassText(pending[..matchAt], output)) return true;
            Finish(StopReason.StopSequence, match, output);
            return true;
        }

        int hold = 0;
        foreach (var stop in _stops) hold = Math.Max(hold, PartialSuffix(pending, stop));
        _held = pending[^hold..];
        return PassText(pending[..^hold], output);
    }

    private bool FlushHeld(List<StreamEvent> output)
    {
        if (_held.Length == 0) return false;
        var held = _held;
        _held = "";
        return PassText(held, output);
    }

    private bool PassText(string text, List<StreamEvent> output)
        => PassContent(text, -1, typeof(TextDelta), t => new TextDelta(t), output);

    /// <summary>Lets content through up to the token budget; returns true when it had to cut.</summary>
    private bool PassContent(string content, int index, Type channel, Func<string, StreamEvent> make, List<StreamEvent> output)
    {
        if (content.Length == 0) return false;
        if (channel != _channel || index != _channelIndex)
        {
            _tally.Break();   // a new text/reasoning/tool-arguments run: tokens do not span it
            _channel = channel;
            _channelIndex = index;
        }
        if (_maxTokens is not int max || _tally.CostOf(content) <= max - _tally.Total)
        {
            _tally.Add(content);
            output.Add(make(content));
            return false;
        }
        int keep = _tally.LongestPrefixWithin(content, max - _tally.Total);
        if (keep > 0)
        {
            _tally.Add(content[..keep]);
            output.Add(make(content[..keep]));
        }
        Finish(StopReason.MaxTokens, null, output);
        return true;
    }

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

    /// <summary>
    /// Counts tokens of text that arrives in pieces, equal to counting the whole. It relies on
    /// <see cref="TokenEstimator"/> carrying state across characters only within a run of ASCII letters
    /// or of digits, so only the last such run is kept open; a test checks the equality on random splits.
    /// </summary>
    internal sealed class TokenTally
    {
        private int _committed;
        private string _tail = "";

        public int Total => _committed + TokenEstimator.Count(_tail);

        /// <summary>Tokens that appending <paramref name="text"/> would add.</summary>
        public int CostOf(string text) => TokenEstimator.Count(_tail + text) - TokenEstimator.Count(_tail);

        public void Add(string text)
        {
            var all = _tail + text;
            int runStart = TrailingRunStart(all);
            _committed += TokenEstimator.Count(all.AsSpan(0, runStart));
            _tail = all[runStart..];
        }

        /// <summary>Ends the current run (the next text is not glued to it).</summary>
        public void Break()
        {
            _committed += TokenEstimator.Count(_tail);
            _tail = "";
        }

        /// <summary>The longest prefix of <paramref name="text"/> costing at most <paramref name="budget"/> tokens.</summary>
        public int LongestPrefixWithin(string text, int budget)
        {
            if (budget < 0) return 0;
            int baseline = TokenEstimator.Count(_tail);
            // Cost grows monotonically with the prefix length, so binary search finds the cut.
            int lo = 0, hi = text.Length;
            while (lo < hi)
            {
                int mid = (lo + hi + 1) / 2;
                if (TokenEstimator.Count(_tail + text[..mid]) - baseline <= budget) lo = mid;
                else hi = mid - 1;
            }
            if (lo > 0 && char.IsHighSurrogate(text[lo - 1])) lo--;   // never split a surrogate pair
            return lo;
        }

        private static int TrailingRunStart(string s)
        {
            int i = s.Length;
            if (i == 0) return 0;
            char last = s[i - 1];
            if (char.IsAsciiLetter(last)) while (i > 0 && char.IsAsciiLetter(s[i - 1])) i--;
            else if (char.IsAsciiDigit(last)) while (i > 0 && char.IsAsciiDigit(s[i - 1])) i--;
            return i;
        }
    }
}
