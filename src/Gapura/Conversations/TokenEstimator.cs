namespace Gapura.Conversations;

/// <summary>
/// Estimates Claude token counts. No tokenizer package installs here and Claude's tokenizer is not
/// public, so this is a documented estimate, calibrated on Anthropic's published guidance of roughly
/// 3.5 characters of English per token: a run of letters costs one token up to 6 letters and one more per
/// further 6 (common words are single tokens, long identifiers split into sub-words), digits one per 3, whitespace runs are folded into the following token, other
/// ASCII symbols cost one each, and non-ASCII characters (CJK, emoji…) one each.
/// It is used for count_tokens, for max_tokens enforcement on upstreams that lack the field, and for
/// usage when the upstream reports none — every such usage is flagged <see cref="Usage.Estimated"/>.
/// </summary>
public static class TokenEstimator
{
    public static int Count(ReadOnlySpan<char> text)
    {
        int tokens = 0, letters = 0, digits = 0;
        foreach (var c in text)
        {
            if (char.IsAsciiLetter(c)) { letters++; if (digits > 0) { tokens += DigitRunTokens(digits); digits = 0; } continue; }
            if (char.IsAsciiDigit(c)) { digits++; if (letters > 0) { tokens += LetterRunTokens(letters); letters = 0; } continue; }
            if (letters > 0) { tokens += LetterRunTokens(letters); letters = 0; }
            if (digits > 0) { tokens += DigitRunTokens(digits); digits = 0; }
            if (c is ' ' or '\t') continue;            // folded into the next word's token
            if (char.IsLowSurrogate(c)) continue;       // the high surrogate already counted
            tokens++;
        }
        tokens += LetterRunTokens(letters) + DigitRunTokens(digits);
        return tokens;
    }

    // Shared with OutputLimiter.TokenTally, which keeps the last open run as a length instead of as text.
    internal static int LetterRunTokens(int letters) => letters == 0 ? 0 : 1 + (letters - 1) / 6;

    internal static int DigitRunTokens(int digits) => (digits + 2) / 3;

    public static int Count(string? text) => text is null ? 0 : Count(text.AsSpan());

    /// <summary>Tokens in text known only by its length (what was streamed before a client left): 3.5 characters a token.</summary>
    public static int FromCharCount(long chars) => (int)Math.Min(int.MaxValue, (chars * 2 + 6) / 7);
}
