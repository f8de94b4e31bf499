namespace Gapura.Simulators.Bedrock;

/// <summary>How the simulator cuts a stream into writes: the gateway must decode frames split anywhere.</summary>
public enum BedrockSplit
{
    /// <summary>Writes of 1..<see cref="BedrockSimulatorOptions.MaxChunkBytes"/> bytes, cut at random byte offsets.</summary>
    Random,
    OneByte,
    /// <summary>One write per frame.</summary>
    Frame,
}

public sealed class BedrockSimulatorOptions
{
    public const string TestAccessKeyId = "AKIDSIMULATOREXAMPLE";
    public const string TestSecretAccessKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSIMULATOR";

    public string Url { get; set; } = "http://127.0.0.1:0";

    public int Seed { get; set; } = 20251122;

    public BedrockSplit Split { get; set; } = BedrockSplit.Random;

    public int MaxChunkBytes { get; set; } = 40;

    /// <summary>
    /// The regions a signature's credential scope may name. AWS has one endpoint per region; the simulator
    /// plays all of these on one address, so a test sees which region each request was signed for.
    /// </summary>
    public HashSet<string> Regions { get; set; } = new(StringComparer.Ordinal) { "us-east-1" };

    /// <summary>Key id → secret of the accounts the simulator knows (add more to tell accounts apart by key id).</summary>
    public Dictionary<string, string> Accounts { get; set; } = new(StringComparer.Ordinal) { [TestAccessKeyId] = TestSecretAccessKey };

    /// <summary>When set, requests must carry this <c>x-amz-security-token</c> (and sign it).</summary>
    public string? RequiredSessionToken { get; set; }

    /// <summary>Largest clock skew accepted between <c>x-amz-date</c> and now (AWS allows 15 minutes).</summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Model ids the account may invoke, with their output caps. Profile ids (<c>us.…</c>) of these are accepted too.</summary>
    public Dictionary<string, int> Models { get; set; } = new(StringComparer.Ordinal)
    {
        ["anthropic.claude-sonnet-4-5-20250929-v1:0"] = 64_000,
        ["anthropic.claude-haiku-4-5-20251001-v1:0"] = 64_000,
        ["anthropic.claude-opus-4-1-20250805-v1:0"] = 32_000,
        ["anthropic.claude-3-5-haiku-20241022-v1:0"] = 8_192,
    };

    /// <summary>Add the random <c>p</c> padding field real ConverseStream events carry.</summary>
    public bool Padding { get; set; } = true;

    public bool Verbose { get; set; }
}
