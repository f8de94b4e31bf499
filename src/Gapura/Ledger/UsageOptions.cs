namespace Gapura.Ledger;

/// <summary>Settings of the usage ledger (section <c>Usage</c>).</summary>
internal sealed class UsageOptions
{
    public const string Section = "Usage";

    /// <summary>Records held in memory while the database is slow or unreachable; past this, new ones are dropped (and counted).</summary>
    public int MaxBufferedRecords { get; set; } = 100_000;

    /// <summary>Raw records older than this are deleted in the background (rollups are kept). 0 keeps them forever.</summary>
    public int RetentionDays { get; set; } = 90;

    /// <summary>Widest window a report may ask for.</summary>
    public int MaxReportDays { get; set; } = 400;

    /// <summary>Most records written in one transaction.</summary>
    public int BatchSize { get; set; } = 1000;

    /// <summary>How long a record may wait in memory for others to share its write; never more than a second.</summary>
    public int FlushMilliseconds { get; set; } = 200;

    internal TimeSpan FlushInterval => TimeSpan.FromMilliseconds(Math.Clamp(FlushMilliseconds, 0, 1000));
}
