using System.Globalization;

namespace Gapura.Bench;

/// <summary>Durations and sizes of one run; <c>--quick</c> shrinks everything to fit in about 30 s.</summary>
internal sealed record BenchSettings
{
    public bool Quick { get; init; }
    public bool RunDecode { get; init; } = true;
    public bool RunLatency { get; init; } = true;

    public TimeSpan DecodeWarmup { get; init; } = TimeSpan.FromSeconds(0.8);
    public TimeSpan DecodeRoundTime { get; init; } = TimeSpan.FromSeconds(0.6);
    public int DecodeRounds { get; init; } = 7;

    public int Concurrency { get; init; } = 8;
    public TimeSpan LoadWarmup { get; init; } = TimeSpan.FromSeconds(6);

    /// <summary>
    /// Direct, gateway (bootstrap key) and gateway (a user's key) alternate in blocks, so drifting background
    /// load hits all alike; an even count runs each in each position equally often.
    /// </summary>
    public int LoadBlocks { get; init; } = 4;

    public TimeSpan LoadBlockTime { get; init; } = TimeSpan.FromSeconds(4);

    /// <summary>Hard cap of requests per block, whatever the speed.</summary>
    public int MaxRequestsPerBlock { get; init; } = 50_000;

    public static BenchSettings Parse(string[] args)
    {
        var settings = args.Contains("--quick")
            ? new BenchSettings
            {
                Quick = true,
                DecodeWarmup = TimeSpan.FromSeconds(0.4),
                DecodeRoundTime = TimeSpan.FromSeconds(0.3),
                DecodeRounds = 3,
                LoadWarmup = TimeSpan.FromSeconds(4),
                LoadBlocks = 2,
                LoadBlockTime = TimeSpan.FromSeconds(2),
            }
            : new BenchSettings();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick": break;
                case "--decode-only": settings = settings with { RunLatency = false }; break;
                case "--latency-only": settings = settings with { RunDecode = false }; break;
                case "--concurrency" when i + 1 < args.Length:
                    settings = settings with { Concurrency = int.Parse(args[++i], CultureInfo.InvariantCulture) };
                    break;
                default: throw new ArgumentException($"unknown argument {args[i]} (use --quick, --decode-only, --latency-only, --concurrency N)");
            }
        }
        return settings;
    }
}
