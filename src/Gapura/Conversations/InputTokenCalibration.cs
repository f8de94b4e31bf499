using System.Collections.Concurrent;

namespace Gapura.Conversations;

/// <summary>
/// The input-token figure a stream announces before the upstream has said anything (Anthropic <c>message_start</c>):
/// the gateway's estimate plus what it has learned that estimate misses for the model. Kiro, for one, counts a hidden
/// system prompt of its own, so a short question estimated at 10 tokens ends up reported as 1,000+ in the final usage;
/// clients that read only the start (LangChain) reported the raw estimate. The offset is a moving average of
/// (final − estimate) over the model's last answers — one dictionary read per request, no database, and an instance
/// that has seen no answer for the model yet announces the plain estimate.
/// </summary>
public sealed class InputTokenCalibration
{
    /// <summary>Weight of the newest answer in the moving average: about the last ten answers count.</summary>
    private const double Weight = 0.2;

    private readonly ConcurrentDictionary<string, Offset> _byModel = new(StringComparer.Ordinal);

    /// <summary>The figure to announce for <paramref name="estimate"/> tokens to <paramref name="model"/> (a catalog id).</summary>
    public int AtStart(string model, int estimate)
        => _byModel.TryGetValue(model, out var offset) ? Math.Max(0, estimate + (int)Math.Round(offset.Value)) : estimate;

    /// <summary>Learns from a finished answer: <paramref name="finalInputTokens"/> is the input figure the final usage reported.</summary>
    public void Learn(string model, int estimate, int finalInputTokens)
    {
        var observed = finalInputTokens - estimate;
        var offset = _byModel.GetOrAdd(model, static (_, first) => new Offset(first), (double)observed);
        offset.Value += Weight * (observed - offset.Value);
    }

    /// <summary>Boxed so an update is one field write; a lost update between two racing answers only slows the average.</summary>
    private sealed class Offset(double value)
    {
        public double Value = value;
    }
}
