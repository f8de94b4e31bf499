namespace Gapura.Simulators.Kiro;

/// <summary>How the simulator cuts its event stream into writes.</summary>
public enum KiroSplit
{
    /// <summary>Chunks of random length (1 … <see cref="KiroSimulatorOptions.MaxChunkBytes"/>), cut anywhere, even inside a UTF-8 character.</summary>
    Random,

    /// <summary>One byte per write: the harshest case for a decoder.</summary>
    OneByte,

    /// <summary>Each frame in one write (or the whole stream when there are no delays): for benchmarks.</summary>
    Whole,
}

/// <summary>Settings of a <see cref="KiroSimulator"/>. Everything a test may want to force is here.</summary>
public sealed class KiroSimulatorOptions
{
    /// <summary>Address to listen on; port 0 picks a free port.</summary>
    public string Url { get; set; } = "http://127.0.0.1:0";

    /// <summary>Seed of every random choice (chunk boundaries, ids, optional events), so runs repeat.</summary>
    public int Seed { get; set; } = 20250101;

    public KiroSplit Split { get; set; } = KiroSplit.Random;

    public int MaxChunkBytes { get; set; } = 48;

    /// <summary>When false any bearer token is accepted (handy for load tests with a fixed token).</summary>
    public bool RequireAuth { get; set; } = true;

    /// <summary>Lifetime of access tokens the simulator issues; make it short to force expiry in tests.</summary>
    public TimeSpan AccessTokenLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Whether refreshes return a new refresh token (the old one stays valid unless revoked).</summary>
    public bool RotateRefreshTokens { get; set; } = true;

    /// <summary>Whether the desktop refresh returns <c>profileArn</c>.</summary>
    public bool DesktopRefreshReturnsProfileArn { get; set; } = true;

    public string ProfileArn { get; set; } = "arn:aws:codewhisperer:us-east-1:000000000000:profile/SIMULATOR";

    /// <summary>Largest accepted chat body; the real service fails near 600 KB with "Input is too long.".</summary>
    public int MaxBodyBytes { get; set; } = 600_000;

    /// <summary>Models per ListAvailableModels page (the real service pages; clients must follow nextToken).</summary>
    public int ModelsPageSize { get; set; } = 3;

    /// <summary>Model catalogue served and accepted; defaults to <see cref="KiroModelCatalog.Default"/>.</summary>
    public List<KiroModel> Models { get; set; } = [.. KiroModelCatalog.Default];

    /// <summary>
    /// Models (by id) that enforce real limits: an input over the window is refused with Kiro's 400 "Input is too long.",
    /// context usage is reported against the window (metadataEvent tokenUsage and contextUsageEvent), and a counting
    /// answer stops at the output cap with ContentLengthExceededException. Tokens are words (<see cref="SimulatedLimits"/>).
    /// </summary>
    public Dictionary<string, SimulatedLimits> Limits { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Model ids accepted in chat bodies without being listed (legacy upper-case ids).</summary>
    public HashSet<string> HiddenModelIds { get; set; } = new(StringComparer.Ordinal) { "CLAUDE_SONNET_4_20250514_V1_0", "CLAUDE_3_7_SONNET_20250219_V1_0" };

    /// <summary>Device-code polls answered with authorization_pending before approval; 0 = only <see cref="KiroSimulator.Approve"/> approves.</summary>
    public int PollsUntilApproved { get; set; } = 2;

    /// <summary>Poll numbers (1-based, per device code) answered with slow_down instead.</summary>
    public HashSet<int> SlowDownOnPolls { get; set; } = [];

    /// <summary>The <c>interval</c> (seconds) the device authorization announces.</summary>
    public int DeviceInterval { get; set; } = 1;

    public TimeSpan DeviceCodeLifetime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Emit unknown-to-most-clients events (followupPromptEvent, codeReferenceEvent) now and then.</summary>
    public bool EmitExtraEvents { get; set; } = true;

    /// <summary>Write Kestrel's own logs to the console (off: tests stay quiet).</summary>
    public bool Verbose { get; set; }
}
