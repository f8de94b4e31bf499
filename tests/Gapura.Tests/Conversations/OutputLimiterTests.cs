using System.Runtime.CompilerServices;
using Gapura.Conversations;

namespace Gapura.Tests.Conversations;

public class OutputLimiterTests
{
    private static readonly Usage UpstreamUsage = new(100, 50, Credits: 0.5);

    [Fact]
    public async Task Without_limits_everything_passes_and_missing_output_usage_is_filled_in()
    {
        var source = new Source(new TextDelta("Hello, "), new TextDelta("world!"), new MessageEnd(StopReason.EndTurn, new Usage(10, 0)));
        var events = await Collect(OutputLimiter.Apply(source, null));
        Assert.Equal("Hello, world!", Text(events));
        var end = Assert.IsType<MessageEnd>(events[^1]);
        Assert.Equal(StopReason.EndTurn, end.StopReason);
        Assert.Equal(TokenEstimator.Count("Hello, world!"), end.Usage.OutputTokens);
        Assert.Equal(10, end.Usage.InputTokens);
        Assert.True(end.Usage.Estimated);
    }

    [Fact]
    public async Task Upstream_usage_is_kept_when_it_has_output_tokens()
    {
        var events = await Collect(OutputLimiter.Apply(new Source(new TextDelta("Hi"), new MessageEnd(StopReason.EndTurn, UpstreamUsage)), 100));
        Assert.Equal(new MessageEnd(StopReason.EndTurn, UpstreamUsage), events[^1]);
    }

    [Fact]
    public async Task Max_tokens_cuts_mid_delta_and_stops_reading_upstream()
    {
        var source = new Source(new TextDelta("one two three four five"), new TextDelta(" six"), new MessageEnd(StopReason.EndTurn, UpstreamUsage));
        var events = await Collect(OutputLimiter.Apply(source, 3, estimatedInputTokens: 42));
        Assert.Equal("one two three", Text(events).TrimEnd());
        var end = Assert.IsType<MessageEnd>(events[^1]);
        Assert.Equal(StopReason.MaxTokens, end.StopReason);
        Assert.Equal(new Usage(42, 3, Estimated: true), end.Usage);
        Assert.Equal(1, source.Reads);      // the second delta was never pulled
        Assert.True(source.Disposed);
        Assert.Single(events.OfType<MessageEnd>());
    }

    [Fact]
    public async Task A_word_split_across_deltas_counts_once()
    {
        var source = new Source(new TextDelta("hel"), new TextDelta("lo wor"), new TextDelta("ld"), new MessageEnd(StopReason.EndTurn, new Usage(1, 0)));
        var events = await Collect(OutputLimiter.Apply(source, 2));
        Assert.Equal("hello world", Text(events));
        Assert.Equal(StopReason.EndTurn, Assert.IsType<MessageEnd>(events[^1]).StopReason);
        Assert.Equal(2, ((MessageEnd)events[^1]).Usage.OutputTokens);
    }

    [Fact]
    public async Task Reaching_exactly_the_limit_lets_the_upstream_finish_naturally()
    {
        var events = await Collect(OutputLimiter.Apply(new Source(new TextDelta("a b c"), new MessageEnd(StopReason.EndTurn, UpstreamUsage)), 3));
        Assert.Equal(StopReason.EndTurn, ((MessageEnd)events[^1]).StopReason);
    }

    [Fact]
    public async Task Reasoning_counts_toward_the_limit()
    {
        var source = new Source(new ReasoningDelta("think think think"), new TextDelta("answer"), new MessageEnd(StopReason.EndTurn, UpstreamUsage));
        var events = await Collect(OutputLimiter.Apply(source, 3));
        Assert.Equal("think think think", string.Concat(events.OfType<ReasoningDelta>().Select(r => r.Text)));
        Assert.Equal("", Text(events));
        Assert.Equal(StopReason.MaxTokens, ((MessageEnd)events[^1]).StopReason);
    }

    [Fact]
    public async Task A_tool_call_open_at_the_cut_is_closed()
    {
        var source = new Source(
            new TextDelta("Calling."),
            new ToolCallStart(0, "c1", "write"),
            new ToolCallDelta(0, "{\"content\":\"aaa bbb ccc ddd eee fff\"}"),
            new ToolCallEnd(0),
            new MessageEnd(StopReason.ToolUse, UpstreamUsage));
        var events = await Collect(OutputLimiter.Apply(source, 12));
        Assert.IsType<ToolCallStart>(events[1]);
        var delta = Assert.IsType<ToolCallDelta>(events[2]);
        Assert.Equal("{\"content\":\"aaa bbb", delta.ArgumentsFragment.TrimEnd());
        Assert.Equal(new ToolCallEnd(0), events[3]);
        Assert.Equal(StopReason.MaxTokens, Assert.IsType<MessageEnd>(events[4]).StopReason);
        Assert.Equal(5, events.Count);
        Assert.Equal(12, ((MessageEnd)events[4]).Usage.OutputTokens);
    }

    [Fact]
    public async Task A_stop_sequence_split_across_deltas_ends_the_answer_before_it()
    {
        var source = new Source(new TextDelta("Hello\n"), new TextDelta("\nHu"), new TextDelta("man: more"), new TextDelta("never read"),
            new MessageEnd(StopReason.EndTurn, UpstreamUsage));
        var events = await Collect(OutputLimiter.Apply(source, null, ["\n\nHuman:"]));
        Assert.Equal("Hello", Text(events));
        var end = Assert.IsType<MessageEnd>(events[^1]);
        Assert.Equal(StopReason.StopSequence, end.StopReason);
        Assert.Equal("\n\nHuman:", end.StopSequence);
        Assert.Equal(3, source.Reads);
        Assert.True(source.Disposed);
    }

    [Fact]
    public async Task Every_split_of_a_stop_sequence_is_found()
    {
        const string full = "abc STOP def";
        for (int i = 0; i <= full.Length; i++)
            for (int j = i; j <= full.Length; j++)
            {
                var source = new Source(new TextDelta(full[..i]), new TextDelta(full[i..j]), new TextDelta(full[j..]), new MessageEnd(StopReason.EndTurn, UpstreamUsage));
                var events = await Collect(OutputLimiter.Apply(source, null, ["STOP"]));
                Assert.Equal("abc ", Text(events));
                Assert.Equal("STOP", ((MessageEnd)events[^1]).StopSequence);
            }
    }

    [Fact]
    public async Task Only_a_possible_partial_match_is_held_back_and_it_is_released()
    {
        var limiter = new OutputLimiter(null, ["\n\n"]);
        var output = new List<StreamEvent>();
        limiter.Process(new TextDelta("a\n"), output);
        Assert.Equal([new TextDelta("a")], output);
        output.Clear();
        limiter.Process(new TextDelta("b"), output);
        Assert.Equal([new TextDelta("\nb")], output);

        var events = await Collect(OutputLimiter.Apply(new Source(new TextDelta("end\n"), new MessageEnd(StopReason.EndTurn, UpstreamUsage)), null, ["\n\n"]));
        Assert.Equal("end\n", Text(events));
        Assert.Equal(StopReason.EndTurn, ((MessageEnd)events[^1]).StopReason);
    }

    [Fact]
    public async Task The_earliest_stop_sequence_wins()
    {
        var events = await Collect(OutputLimiter.Apply(new Source(new TextDelta("x END y STOP"), new MessageEnd(StopReason.EndTurn, UpstreamUsage)), null, ["STOP", "END"]));
        Assert.Equal("x ", Text(events));
        Assert.Equal("END", ((MessageEnd)events[^1]).StopSequence);
    }

    [Fact]
    public async Task Stop_sequences_do_not_apply_to_reasoning()
    {
        var events = await Collect(OutputLimiter.Apply(new Source(new ReasoningDelta("I will say STOP"), new TextDelta("ok"), new MessageEnd(StopReason.EndTurn, UpstreamUsage)), null, ["STOP"]));
        Assert.Equal(StopReason.EndTurn, ((MessageEnd)events[^1]).StopReason);
    }

    [Fact]
    public async Task Max_tokens_before_a_stop_sequence_wins()
    {
        var events = await Collect(OutputLimiter.Apply(new Source(new TextDelta("one two three STOP"), new MessageEnd(StopReason.EndTurn, UpstreamUsage)), 2, ["STOP"]));
        Assert.Equal(StopReason.MaxTokens, ((MessageEnd)events[^1]).StopReason);
        Assert.Equal("one two", Text(events).TrimEnd());
    }

    [Fact]
    public async Task A_cut_never_splits_a_surrogate_pair()
    {
        var events = await Collect(OutputLimiter.Apply(new Source(new TextDelta("🌍🌍🌍🌍"), new MessageEnd(StopReason.EndTurn, UpstreamUsage)), 2));
        Assert.Equal("🌍🌍", Text(events));
    }

    [Fact]
    public void Incremental_counting_equals_counting_the_whole()
    {
        var random = new Random(99);
        const string alphabet = "abcXYZ0123 \t\n.,;{}\"é世🌍_-";
        for (int round = 0; round < 500; round++)
        {
            var text = new string(Enumerable.Range(0, random.Next(0, 80)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
            var tally = new OutputLimiter.TokenTally();
            int at = 0;
            while (at < text.Length)
            {
                int len = random.Next(1, 8);
                len = Math.Min(len, text.Length - at);
                tally.Add(text.Substring(at, len));
                at += len;
            }
            Assert.Equal(TokenEstimator.Count(text), tally.Total);
        }
    }

    [Fact]
    public void Cost_and_cut_of_a_delta_equal_counting_the_whole_text()
    {
        // The tally keeps the open run as a length, not as text: what a delta would cost and where a cut falls
        // must still be what counting the concatenation gives.
        var random = new Random(7);
        const string alphabet = "abcdeXYZ012345 \t\n.,{}\"é世🌍_";
        for (int round = 0; round < 300; round++)
        {
            var tally = new OutputLimiter.TokenTally();
            var sofar = "";
            for (int piece = 0; piece < 6; piece++)
            {
                var next = new string(Enumerable.Range(0, random.Next(0, 12)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
                int baseline = TokenEstimator.Count(sofar);
                Assert.Equal(TokenEstimator.Count(sofar + next) - baseline, tally.CostOf(next));

                int budget = random.Next(-1, 6);
                int expected = 0;
                if (budget >= 0)
                    for (int k = 1; k <= next.Length; k++)
                        if (TokenEstimator.Count(sofar + next[..k]) - baseline <= budget) expected = k;
                if (expected > 0 && char.IsHighSurrogate(next[expected - 1])) expected--;
                Assert.Equal(expected, tally.LongestPrefixWithin(next, budget));

                bool fits = TokenEstimator.Count(sofar + next) - baseline <= budget;
                Assert.Equal(fits, tally.TryAdd(next, budget));
                if (!fits) tally.Add(next);
                sofar += next;
                Assert.Equal(TokenEstimator.Count(sofar), tally.Total);
            }
        }
    }

    [Fact]
    public void Deltas_that_pass_unchanged_are_the_upstream_events_themselves()
    {
        var limiter = new OutputLimiter(1000, ["STOP"]);
        var output = new List<StreamEvent>();
        var text = new TextDelta("plain text");
        var reasoning = new ReasoningDelta("thinking");
        var arguments = new ToolCallDelta(0, "{\"a\":1}");
        limiter.Process(text, output);
        limiter.Process(reasoning, output);
        limiter.Process(new ToolCallStart(0, "c1", "run"), output);
        limiter.Process(arguments, output);
        Assert.Same(text, output[0]);
        Assert.Same(reasoning, output[1]);
        Assert.Same(arguments, output[3]);

        // Text rebuilt from a held partial match is a new event with the joined text.
        output.Clear();
        limiter.Process(new TextDelta("a ST"), output);
        limiter.Process(new TextDelta("ep"), output);
        Assert.Equal([new TextDelta("a "), new TextDelta("STep")], output);
    }

    private static string Text(IEnumerable<StreamEvent> events) => string.Concat(events.OfType<TextDelta>().Select(t => t.Text));

    private static async Task<List<StreamEvent>> Collect(IAsyncEnumerable<StreamEvent> events)
    {
        var list = new List<StreamEvent>();
        await foreach (var e in events) list.Add(e);
        return list;
    }

    /// <summary>An upstream that records how far it was read and whether it was disposed.</summary>
    private sealed class Source(params StreamEvent[] events) : IAsyncEnumerable<StreamEvent>
    {
        public int Reads { get; private set; }
        public bool Disposed { get; private set; }

        public async IAsyncEnumerator<StreamEvent> GetAsyncEnumerator(CancellationToken ct = default)
        {
            try
            {
                foreach (var e in events)
                {
                    await Task.Yield();
                    Reads++;
                    yield return e;
                }
            }
            finally
            {
                Disposed = true;
            }
        }
    }
}
