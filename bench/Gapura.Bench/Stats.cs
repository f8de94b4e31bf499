namespace Gapura.Bench;

internal static class Stats
{
    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        var mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    /// <summary>Nearest-rank percentile of an already sorted array (p in 0…100).</summary>
    public static double Percentile(double[] sorted, double p)
    {
        if (sorted.Length == 0) return double.NaN;
        var rank = (int)Math.Ceiling(p / 100.0 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    /// <summary>Relative spread of rounds: (max − min) / median, to show how noisy a figure was.</summary>
    public static double Spread(IReadOnlyList<double> values)
    {
        var median = Median(values);
        return values.Count < 2 || median == 0 ? 0 : (values.Max() - values.Min()) / median;
    }
}
