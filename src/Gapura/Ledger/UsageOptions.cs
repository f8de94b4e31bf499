using System.ComponentModel.DataAnnotations;

namespace Gapura.Ledger;

/// <summary>Settings of the usage ledger (section <c>Usage</c>).</summary>
internal sealed class UsageOptions
{
    public const string Section = "Usage";

    /// <summary>Records held in memory while the database is slow or unreachable; past this, new ones are dropped (and counted).</summary>
    [Range(1, 100_000_000)]
    public int MaxBufferedRecords { get; set; } = 100_000;

    /// <summary>Raw records older than this are deleted in the background (rollups are kept). 0 keeps them forever.</summary>
    [Range(0, 36_500)]
    public int RetentionDays { get; set; } = 90;

    /// <summary>Widest window a report may ask for.</summary>
    [Range(1, 36_500)]
    public int MaxReportDays { get; set; } = 400;

    /// <summary>Most records written in one transaction.</summary>
    [Range(1, 100_000)]
    public int BatchSize { get; set; } = 1000;

    /// <summary>How long a record may wait in memory for others to share its write; never more than a second.</summary>
    [Range(0, 1000)]
    public int FlushMilliseconds { get; set; } = 200;

    internal TimeSpan FlushInterval => TimeSpan.FromMilliseconds(Math.Clamp(FlushMilliseconds, 0, 1000));
}
