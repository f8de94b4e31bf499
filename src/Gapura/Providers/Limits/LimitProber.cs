using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Gapura.Conversations;
using Gapura.Routing;

namespace Gapura.Providers.Limits;

/// <summary>How a probe searches: the bracket it may search in and when it stops.</summary>
/// <param name="PrecisionPercent">Stop when the smallest refused size is within this share above the largest accepted one.</param>
internal sealed record ProbeSettings(double PrecisionPercent = 1.0, int MinContextTokens = 1_000, int MaxContextTokens = 2_000_000,
    int MaxOutputTokens = 1_000_000)
{
    /// <summary>Roughly what probing <paramref name="model"/> costs, from the limits its catalog lists (the search's starting guess).</summary>
    public (long Input, long Output, int Requests) Estimate(ModelInfo model)
    {
        var window = Math.Clamp(model.ContextWindow, MinContextTokens, MaxContextTokens);
        // Calibration, the two guesses around the listed window and a few refinements; refused inputs cost nothing upstream.
        return ((long)window * 4, Math.Clamp(model.MaxOutputTokens, 1, MaxOutputTokens), 12);
    }
}

/// <summary>What one model's probe found. Null figures were not determined; <see cref="ContextNote"/> / <see cref="OutputNote"/> say why.</summary>
internal sealed record ProbeResult(string Provider, string Model)
{
    public int? ContextWindow { get; set; }
    /// <summary>The smallest input (in the upstream's tokens, converted at its measured rate) the upstream refused.</summary>
    public int? ContextRefusedAt { get; set; }
    public double? ContextPrecisionPercent { get; set; }
    public string? ContextNote { get; set; }
    public int? MaxOutputTokens { get; set; }
    public string? OutputNote { get; set; }
    /// <summary>A figure came from the gateway's estimator because the upstream reported no count.</summary>
    public bool Estimated { get; set; }
    public string? Error { get; set; }
    public int Requests { get; set; }
    public long InputTokensSpent { get; set; }
    public long OutputTokensSpent { get; set; }
    public bool Stored { get; set; }

    public bool Found => ContextWindow is not null || MaxOutputTokens is not null;
}

/// <summary>
/// Finds one model's real limits by asking its upstream, through the gateway's own provider (same accounts, same
/// translation as serve). The context window: a geometric binary search on the size of a filler prompt, judged by what
/// the upstream itself says — the input tokens it reports (Kiro: its token usage and context-usage percentage) and its
/// "too long" refusal — never by the gateway's estimate. The output cap: thinking off, a prompt that asks to count on
/// for ever, and a max_tokens well above the listed cap; the upstream either cuts the answer at its own cap (Kiro,
/// OpenAI: the reported output tokens are the cap) or refuses the max_tokens (Anthropic), in which case a cheap search
/// on the largest accepted max_tokens follows (each accepted try is cancelled at its first event).
/// </summary>
internal sealed partial class LimitProber(IChatProvider provider, ModelInfo model, ProbeSettings settings, Action<string> progress)
{
    public const string ContextQuestion = "That was filler text to fill the context. Reply with the single word OK.";
    public const string CountingPrompt = "Count upward from 1, one number per line: 1, 2, 3, and so on. Do not stop, skip, summarise or comment; keep counting until you are cut off.";
    private const int CalibrationWords = 1_000;
    private const int ContextAnswerTokens = 1_024;

    private readonly ProbeResult _result = new(model.Provider, model.Id);
    private readonly double _precision = settings.PrecisionPercent / 100.0;

    public async Task<ProbeResult> RunAsync(bool context, bool output, CancellationToken ct)
    {
        try
        {
            if (context) await ProbeContextAsync(ct);
            if (output) await ProbeOutputAsync(ct);
        }
        catch (GatewayException e)
        {
            // The upstream failed in a way a bigger or smaller prompt cannot change (login, quota, outage): report, keep what was found.
            _result.Error = OneLine(e.Message);
        }
        return _result;
    }

    // ---- context window ----------------------------------------------------------------------------------------

    private sealed record Point(int Words, int Tokens);

    private async Task ProbeContextAsync(CancellationToken ct)
    {
        var calibration = await SendContextAsync(CalibrationWords, ct);
        if (calibration is not Accepted first)
        {
            _result.ContextNote = calibration is TooLong ? $"refused even {CalibrationWords:N0} words of input" : "the calibration request was refused: " + ((Refused)calibration).Message;
            return;
        }
        if (first.InputTokens <= 0)
        {
            _result.ContextNote = "the upstream reports no input token count, so its window cannot be measured in its own tokens";
            return;
        }
        var lo = new Point(CalibrationWords, first.InputTokens);
        Point? hi = null;
        double tokensPerWord = (double)first.InputTokens / CalibrationWords;

        // The first guess: Kiro's context-usage percentage gives the window directly (tokens ÷ share); else the listed window.
        // Either way it is only where the search looks first; what counts is what the upstream accepts and refuses.
        var hint = first.ContextPercent is double pct and > 0 ? (int)Math.Min(int.MaxValue, first.InputTokens * 100.0 / pct) : model.ContextWindow;
        var guesses = new Queue<double>([hint * (1 - _precision / 2), hint * (1 + _precision / 2)]);

        while (hi is null || hi.Words > lo.Words * (1 + _precision))
        {
            int words;
            if (NextGuess(guesses, tokensPerWord, lo, hi) is { } g) words = g;
            else if (hi is null)
            {
                if (lo.Tokens >= settings.MaxContextTokens) break;
                words = Math.Min(lo.Words * 2, WordsFor(settings.MaxContextTokens, tokensPerWord) + 1);
            }
            else words = (int)Math.Round(Math.Sqrt((double)lo.Words * hi.Words));
            if (words <= lo.Words || (hi is not null && words >= hi.Words)) break;

            switch (await SendContextAsync(words, ct))
            {
                case Accepted a:
                    lo = new Point(words, a.InputTokens);
                    tokensPerWord = (double)a.InputTokens / words; // the largest accepted input measures the rate best
                    break;
                case TooLong t:
                    hi = new Point(words, (int)Math.Min(int.MaxValue, words * tokensPerWord));
                    // A refusal that states the maximum (Anthropic, OpenAI) moves the next two guesses just around it.
                    if (t.StatedMaximum is { } stated) guesses = new Queue<double>([stated * (1 - _precision / 3), stated * (1 + _precision / 3)]);
                    break;
                case Refused r:
                    _result.ContextNote = "the upstream refused a probe for another reason: " + r.Message;
                    return;
            }
        }

        _result.ContextWindow = lo.Tokens;
        if (hi is null)
        {
            _result.ContextNote = $"accepted the largest probe ({lo.Tokens:N0} tokens); the window is at least that";
            return;
        }
        _result.ContextRefusedAt = Math.Max(lo.Tokens + 1, (int)Math.Min(int.MaxValue, hi.Words * tokensPerWord));
        _result.ContextPrecisionPercent = Math.Round((_result.ContextRefusedAt.Value - lo.Tokens) * 100.0 / lo.Tokens, 2);
    }

    private static bool Inside(int words, Point lo, Point? hi) => words > lo.Words && (hi is null || words < hi.Words);

    private int? NextGuess(Queue<double> guesses, double tokensPerWord, Point lo, Point? hi)
    {
        while (guesses.TryDequeue(out var tokens))
        {
            var words = WordsFor((int)Math.Clamp(tokens, settings.MinContextTokens, settings.MaxContextTokens), tokensPerWord);
            if (Inside(words, lo, hi)) return words;
        }
        return null;
    }

    private static int WordsFor(int tokens, double tokensPerWord) => (int)Math.Max(1, Math.Round(tokens / tokensPerWord));

    private async Task<Outcome> SendContextAsync(int words, CancellationToken ct)
    {
        var request = Request(Filler(words) + "\n\n" + ContextQuestion, ContextAnswerTokens);
        var outcome = await SendAsync(request, readAll: true, ct);
        progress(outcome switch
        {
            Accepted a => $"context: {words:N0} filler words accepted, the upstream counted {a.InputTokens:N0} input tokens"
                          + (a.ContextPercent is { } p ? $" ({p.ToString("0.##", CultureInfo.InvariantCulture)}% of its window)" : ""),
            TooLong => $"context: {words:N0} filler words refused as too long",
            Refused r => $"context: {words:N0} filler words refused: {r.Message}",
            _ => "",
        });
        return outcome;
    }

    // ---- output cap --------------------------------------------------------------------------------------------

    private async Task ProbeOutputAsync(CancellationToken ct)
    {
        var ceiling = (int)Math.Clamp(4L * model.MaxOutputTokens, 8_192, settings.MaxOutputTokens);
        var outcome = await SendAsync(Request(CountingPrompt, ceiling), readAll: true, ct);
        switch (outcome)
        {
            case Accepted a:
                progress($"output: max_tokens {ceiling:N0} accepted; the answer stopped ({Describe(a.Stop)}) after {a.OutputTokens:N0} output tokens");
                if (a.Stop is StopReason.MaxTokens && a.OutputTokens > 0 && a.OutputTokens < ceiling * (1 - _precision))
                {
                    _result.MaxOutputTokens = a.OutputTokens;
                    if (a.OutputEstimated)
                    {
                        _result.Estimated = true;
                        _result.OutputNote = "the upstream reported no output count; the gateway's estimate of the cut-off answer";
                    }
                }
                else if (a.Stop is StopReason.MaxTokens) _result.OutputNote = $"the answer reached the probe's own max_tokens ({ceiling:N0}); the cap is at least that";
                else _result.OutputNote = $"the model stopped by itself after {a.OutputTokens:N0} tokens (is thinking forced on?); the cap is not known";
                return;
            case TooLong:
                _result.OutputNote = "the counting prompt was refused as too long";
                return;
            case Refused r:
                progress($"output: max_tokens {ceiling:N0} refused: {r.Message}");
                await SearchAcceptedMaxTokensAsync(ceiling, r.StatedMaximum, ct);
                return;
        }
    }

    /// <summary>
    /// The upstream refuses a max_tokens above its cap: the largest one it accepts is the cap. A maximum the refusal states
    /// is tried first and then one above it, which settles the cap exactly in two requests; otherwise a geometric search.
    /// </summary>
    private async Task SearchAcceptedMaxTokensAsync(int refused, int? stated, CancellationToken ct)
    {
        const int MaxRequests = 30;
        int? lo = null;
        var hi = refused;
        int? next = stated ?? model.MaxOutputTokens;
        var fromStatement = stated is not null;
        for (var tries = 0; tries < MaxRequests; tries++)
        {
            if (next is null)
            {
                if (lo is null) next = hi / 2;
                else if (hi - lo.Value <= 1 || hi <= lo.Value * (1 + _precision)) break;
                else next = (int)Math.Round(Math.Sqrt((double)lo.Value * hi));
                fromStatement = false;
            }
            var n = next.Value;
            next = null;
            if (n < 1 || n <= (lo ?? 0) || n >= hi)
            {
                if (lo is not null && (n == lo || n == hi)) break; // the search cannot split the bracket any further
                continue;
            }
            switch (await SendAsync(Request(CountingPrompt, n), readAll: false, ct))
            {
                case Accepted:
                    progress($"output: max_tokens {n:N0} accepted");
                    lo = n;
                    if (fromStatement) next = n + 1; // confirm the stated cap from above
                    break;
                case Refused r:
                    progress($"output: max_tokens {n:N0} refused");
                    hi = n;
                    next = r.StatedMaximum;
                    fromStatement = next is not null;
                    break;
                default:
                    _result.OutputNote = "the counting prompt was refused as too long";
                    return;
            }
        }
        if (lo is { } cap) _result.MaxOutputTokens = cap;
        else _result.OutputNote = "every max_tokens tried was refused";
    }

    // ---- one request ---------------------------------------------------------------------------------------------

    private abstract record Outcome;
    private sealed record Accepted(int InputTokens, int OutputTokens, bool OutputEstimated, double? ContextPercent, StopReason? Stop) : Outcome;
    private sealed record TooLong(int? StatedMaximum) : Outcome;
    private sealed record Refused(string Message, int? StatedMaximum) : Outcome;

    private ChatRequest Request(string text, int maxTokens) => new()
    {
        Model = model.Id,
        Messages = [Message.Text(Role.User, text)],
        MaxTokens = maxTokens,
        Stream = true,
        IncludeUsage = true,
    };

    /// <param name="readAll">False: only whether the upstream accepts the request; the stream is dropped at its first event.</param>
    private async Task<Outcome> SendAsync(ChatRequest request, bool readAll, CancellationToken ct)
    {
        _result.Requests++;
        // No window and no estimate handed to the provider: any input count in the usage is one the upstream reported
        // (Kiro would otherwise turn its percentage into tokens with the very window being measured).
        var resolved = new ResolvedModel(model.Id, model with { ContextWindow = 0 });
        var context = new ChatContext { EstimatedInputTokens = 0 };
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            MessageEnd? end = null;
            await foreach (var e in provider.StreamAsync(request, resolved, context, cancel.Token))
            {
                if (!readAll)
                {
                    // Accepted: stop it here, before it generates (and bills) the answer.
                    await cancel.CancelAsync();
                    return new Accepted(0, 0, false, null, null);
                }
                if (e is MessageEnd m) end = m;
            }
            if (end is null) return new Accepted(0, 0, true, null, null);
            var usage = end.Usage;
            _result.InputTokensSpent += usage.InputTokens + usage.CacheReadTokens + usage.CacheWriteTokens;
            _result.OutputTokensSpent += usage.OutputTokens;
            if (end.StopReason == StopReason.ContextWindowExceeded) return new TooLong(null);
            return new Accepted(usage.InputTokens + usage.CacheReadTokens + usage.CacheWriteTokens, usage.OutputTokens, usage.Estimated, usage.ContextUsagePercent, end.StopReason);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested && !readAll)
        {
            return new Accepted(0, 0, false, null, null);
        }
        catch (GatewayException e) when (IsTooLong(e))
        {
            return new TooLong(StatedMaximum(e.Message));
        }
        catch (GatewayException e) when (e.Kind == ErrorKind.InvalidRequest)
        {
            return new Refused(OneLine(e.Message), StatedMaximum(e.Message));
        }
    }

    /// <summary>The upstream's "too long" refusal, in any of the wordings the providers map (and 413 for a body too big to take).</summary>
    internal static bool IsTooLong(GatewayException e)
        => e.IsContextOverflow || e.Kind == ErrorKind.RequestTooLarge
           || e.Kind == ErrorKind.InvalidRequest && TooLongWording().IsMatch(e.Message) && !e.Message.Contains("max_tokens", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The maximum an upstream states in its refusal (Anthropic "… 210000 tokens > 200000 maximum", "max_tokens: 64001 &gt; 64000";
    /// OpenAI "maximum context length is 128000 tokens", "supports at most 16384 completion tokens"): only where the search
    /// looks next, checked like any other guess.
    /// </summary>
    internal static int? StatedMaximum(string message)
    {
        var m = StatedMaximumWording().Match(message);
        if (!m.Success) return null;
        var digits = (m.Groups["a"].Success ? m.Groups["a"].Value : m.Groups["b"].Value).Replace(",", "", StringComparison.Ordinal);
        return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : null;
    }

    [GeneratedRegex(@"too long|context length|context window|maximum context|input is too large|exceeds the context", RegexOptions.IgnoreCase)]
    private static partial Regex TooLongWording();

    [GeneratedRegex(@">\s*(?<a>\d[\d,]*)|(?:maximum context length is|at most)\s+(?<b>\d[\d,]*)", RegexOptions.IgnoreCase)]
    private static partial Regex StatedMaximumWording();

    private static string Describe(StopReason? stop) => stop switch
    {
        StopReason.MaxTokens => "at its output limit",
        StopReason.EndTurn => "the model finished",
        null => "no end",
        var s => s.ToString()!,
    };

    private static string OneLine(string text)
    {
        var line = text.ReplaceLineEndings(" ");
        return line.Length <= 300 ? line : line[..300] + "…";
    }

    // ---- filler --------------------------------------------------------------------------------------------------

    private static readonly string[] Vocabulary =
    [
        "river", "stone", "garden", "window", "morning", "paper", "silver", "market", "harbor", "candle", "forest", "letter",
        "bridge", "meadow", "engine", "pocket", "winter", "island", "ladder", "mirror", "orange", "planet", "rabbit", "saddle",
        "tunnel", "valley", "wagon", "yellow", "anchor", "basket", "copper", "desert",
    ];

    /// <summary>
    /// <paramref name="words"/> ordinary words, deterministic (the same size always costs the same), varied enough that
    /// no tokenizer merges long runs of it. One word per step of a simple generator walks the vocabulary out of order.
    /// </summary>
    internal static string Filler(int words)
    {
        var builder = new StringBuilder(words * 7);
        uint state = 2463534242;
        for (var i = 0; i < words; i++)
        {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            if (i > 0) builder.Append(i % 12 == 0 ? ". " : " ");
            builder.Append(Vocabulary[state % (uint)Vocabulary.Length]);
        }
        return builder.Append('.').ToString();
    }
}
