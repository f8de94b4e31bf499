using System.Globalization;

namespace Gapura.Bench;

/// <summary>Durations and sizes of one run; <c>--quick</c> shrinks everything to fit in well under a minute.</summary>
internal sealed record BenchSettings
{
    public bool Quick { get; init; }
    public bool RunDecode { get; init; } = true;
    public bool RunLatency { get; init; } = true;

    /// <summary><c>--classifier</c>: the task classifier's cost per request instead of parts 1 and 2.</summary>
    public bool RunClassifier { get; init; }

    /// <summary>
    /// <c>--budgets</c>: what a token budget costs per request — four gateways (budgets off; a budget with counters in
    /// SQLite, PostgreSQL, Redis) measured side by side — instead of parts 1 and 2.
    /// </summary>
    public bool RunBudgets { get; init; }

    /// <summary>Rounds of the budgets bench's single-connection pass (concurrency 1), after its loaded rounds.</summary>
    public int SingleConnectionRounds { get; init; } = 4;

    /// <summary><c>--ledger-reports</c>: the usage ledger at volume instead of parts 1 and 2.</summary>
    public bool RunLedger { get; init; }

    /// <summary>Records the ledger bench generates (<c>--ledger-records N</c>; <c>--quick</c> 100,000).</summary>
    public int LedgerRecords { get; init; } = 1_000_000;

    /// <summary>Records per AppendAsync (<c>--ledger-batch N</c>): the writer's default Usage:BatchSize.</summary>
    public int LedgerBatch { get; init; } = 1000;

    /// <summary>Batches of <see cref="LedgerBatch"/> timed through AppendAsync (and ten times as many of a tenth the size).</summary>
    public int LedgerAppendBatches { get; init; } = 3;

    public TimeSpan DecodeWarmup { get; init; } = TimeSpan.FromSeconds(0.8);
    public TimeSpan DecodeRoundTime { get; init; } = TimeSpan.FromSeconds(0.6);
    public int DecodeRounds { get; init; } = 7;

    public int Concurrency { get; init; } = 8;

    /// <summary>Warm-up of each target (every way of asking, direct or through the gateway), twice over.</summary>
    public TimeSpan LoadWarmup { get; init; } = TimeSpan.FromSeconds(0.6);

    /// <summary>
    /// Each round runs one short block of every target, direct blocks next to the gateway blocks they are
    /// compared with, in alternating order, so drifting background load hits both sides alike.
    /// </summary>
    public int LoadRounds { get; init; } = 10;

    public TimeSpan LoadBlockTime { get; init; } = TimeSpan.FromSeconds(0.8);

    /// <summary>Hard cap of requests per block, whatever the speed.</summary>
    public int MaxRequestsPerBlock { get; init; } = 50_000;

    /// <summary>Extra gateway settings (<c>--gateway-setting Metrics:Enabled=false</c>), to compare a feature on and off.</summary>
    public IReadOnlyList<string> GatewaySettings { get; init; } = [];

    public static BenchSettings Parse(string[] args)
    {
        var settings = args.Contains("--quick")
            ? new BenchSettings
            {
                Quick = true,
                DecodeWarmup = TimeSpan.FromSeconds(0.4),
                DecodeRoundTime = TimeSpan.FromSeconds(0.3),
                DecodeRounds = 3,
                LoadWarmup = TimeSpan.FromSeconds(0.25),
                LoadRounds = 3,
                LoadBlockTime = TimeSpan.FromSeconds(0.4),
                LedgerRecords = 100_000,
                SingleConnectionRounds = 2,
            }
            : new BenchSettings();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick": break;
                case "--decode-only": settings = settings with { RunLatency = false }; break;
                case "--latency-only": settings = settings with { RunDecode = false }; break;
                case "--classifier": settings = settings with { RunClassifier = true, RunDecode = false, RunLatency = false }; break;
                case "--budgets": settings = settings with { RunBudgets = true, RunDecode = false, RunLatency = false }; break;
                case "--ledger-reports": settings = settings with { RunLedger = true, RunDecode = false, RunLatency = false }; break;
                case "--ledger-records" when i + 1 < args.Length:
                    settings = settings with { LedgerRecords = int.Parse(args[++i], CultureInfo.InvariantCulture) };
                    break;
                case "--ledger-batch" when i + 1 < args.Length:
                    settings = settings with { LedgerBatch = int.Parse(args[++i], CultureInfo.InvariantCulture) };
                    break;
                case "--concurrency" when i + 1 < args.Length:
                    settings = settings with { Concurrency = int.Parse(args[++i], CultureInfo.InvariantCulture) };
                    break;
                case "--gateway-setting" when i + 1 < args.Length && args[i + 1].Contains('=', StringComparison.Ordinal):
                    settings = settings with { GatewaySettings = [.. settings.GatewaySettings, args[++i]] };
                    break;
                default: throw new ArgumentException($"unknown argument {args[i]} (use --quick, --decode-only, --latency-only, --concurrency N, --gateway-setting Key=Value, --ledger-reports [--ledger-records N] [--ledger-batch N], --classifier, --budgets)");
            }
        }
        return settings;
    }
}
