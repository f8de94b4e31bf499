namespace Gapura.Simulators.Copilot;

/// <summary>A model Copilot lists: <paramref name="Type"/> is <c>chat</c> or <c>embeddings</c>.</summary>
public sealed record CopilotModel(string Id, string Name, string Vendor, string Family, string Type = "chat",
    int? ContextWindow = 128_000, int? MaxOutput = 16_384, int? MaxPrompt = null, bool Vision = false);

/// <summary>Settings of a <see cref="CopilotSimulator"/>.</summary>
public sealed class CopilotSimulatorOptions
{
    /// <summary>The editor plugins' OAuth app: the only client the simulated GitHub runs the device flow for.</summary>
    public const string EditorClientId = "Iv1.b507a08c87ecfe98";

    public string Url { get; set; } = "http://127.0.0.1:0";

    public string ClientId { get; set; } = EditorClientId;

    /// <summary>The poll interval GitHub asks for, in seconds.</summary>
    public int DeviceInterval { get; set; } = 5;

    /// <summary>How long a Copilot token lives (GitHub: about 30 minutes).</summary>
    public TimeSpan CopilotTokenLifetime { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>How long before expiry clients are told to renew (<c>refresh_in</c> = lifetime − this).</summary>
    public TimeSpan RefreshAhead { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Delay inside each token exchange, to make concurrent requests overlap.</summary>
    public TimeSpan ExchangeDelay { get; set; }

    /// <summary>Whether accounts signing in through the device flow have a Copilot seat.</summary>
    public bool DeviceLoginsHaveSeat { get; set; } = true;

    public List<CopilotModel> Models { get; set; } =
    [
        new("gpt-4.1", "GPT-4.1", "Azure OpenAI", "gpt-4.1", ContextWindow: 128_000, MaxOutput: 16_384, MaxPrompt: 128_000, Vision: true),
        new("gpt-4o", "GPT-4o", "Azure OpenAI", "gpt-4o", ContextWindow: 128_000, MaxOutput: 4_096, MaxPrompt: 64_000, Vision: true),
        new("claude-sonnet-4", "Claude Sonnet 4", "Anthropic", "claude-sonnet-4", ContextWindow: 216_000, MaxOutput: 16_000, MaxPrompt: 128_000, Vision: true),
        new("gpt-5-mini", "GPT-5 mini", "Azure OpenAI", "gpt-5-mini", ContextWindow: 264_000, MaxOutput: 64_000, MaxPrompt: 128_000),
        new("text-embedding-3-small", "Embedding V3 small", "Azure OpenAI", "text-embedding-3-small", Type: "embeddings", ContextWindow: null, MaxOutput: null),
    ];

    /// <summary>
    /// A whole encoded stream every streamed chat call is answered with, in one write, once the checks passed (the
    /// benchmark: the upstream then costs as little as it can, and the same for a direct and a gateway call).
    /// </summary>
    public byte[]? RawStream { get; set; }

    public bool Verbose { get; set; }
}
