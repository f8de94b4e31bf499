using System.Text;

namespace Gapura.Simulators;

/// <summary>
/// A model's real limits for a simulator to enforce the way its upstream does: an input over
/// <see cref="ContextWindow"/> is refused with the upstream's own "too long" error, and an answer stops at
/// <see cref="MaxOutputTokens"/> (or a larger max_tokens is refused, where the upstream does that). Tokens are
/// whitespace-separated words — cheap, and deliberately not the gateway's estimator, so a test can tell which of the two
/// a figure came from.
/// </summary>
public sealed record SimulatedLimits(int ContextWindow, int MaxOutputTokens)
{
    /// <summary>The start of the prompt that asks a model to count on for ever; the simulators then count until cut off.</summary>
    public const string CountingCue = "Count upward from 1";

    /// <summary>Words in a request body (JSON structure included: it has no spaces, so it joins its neighbours).</summary>
    public static int CountTokens(ReadOnlySpan<byte> body)
    {
        var words = 0;
        var inWord = false;
        foreach (var b in body)
        {
            var space = b is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t';
            if (!space && !inWord) words++;
            inWord = !space;
        }
        return words;
    }

    public static bool AsksToCount(string text) => text.Contains(CountingCue, StringComparison.Ordinal);

    /// <summary>The counting answer, <paramref name="tokens"/> numbers (one token each), in pieces of about <paramref name="perPiece"/> numbers.</summary>
    public static List<string> Counting(int tokens, int perPiece = 500)
    {
        var pieces = new List<string>();
        var builder = new StringBuilder();
        for (var n = 1; n <= tokens; n++)
        {
            builder.Append(n).Append('\n');
            if (n % perPiece == 0 || n == tokens)
            {
                pieces.Add(builder.ToString());
                builder.Clear();
            }
        }
        return pieces;
    }
}
