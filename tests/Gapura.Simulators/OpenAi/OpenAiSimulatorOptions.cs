namespace Gapura.Simulators.OpenAi;

/// <summary>A model the simulator lists and accepts. <paramref name="MaxModelLen"/> adds vLLM's field to <c>/v1/models</c>.</summary>
public sealed record OpenAiModel(string Id, string OwnedBy = "openai", int? MaxModelLen = null);

/// <summary>Settings of an <see cref="OpenAiSimulator"/>.</summary>
public sealed class OpenAiSimulatorOptions
{
    public const string DefaultApiKey = "sk-simulator-0123456789abcdef";

    public string Url { get; set; } = "http://127.0.0.1:0";

    public int Seed { get; set; } = 20250101;

    public OpenAiSplit Split { get; set; } = OpenAiSplit.Whole;

    public int MaxChunkBytes { get; set; } = 48;

    /// <summary>Accepted bearer keys; empty or <see cref="RequireAuth"/> false accepts any (an Ollama-like server).</summary>
    public HashSet<string> ApiKeys { get; set; } = new(StringComparer.Ordinal) { DefaultApiKey };

    public bool RequireAuth { get; set; } = true;

    public const string DefaultChatGptAccessToken = "chatgpt-access-simulator-0123456789";
    public const string DefaultChatGptAccountId = "acct-simulator-0001";

    /// <summary>Access tokens the ChatGPT Codex backend (<c>/backend-api/codex</c>) accepts.</summary>
    public HashSet<string> ChatGptAccessTokens { get; set; } = new(StringComparer.Ordinal) { DefaultChatGptAccessToken };

    /// <summary>The account the Codex backend expects in <c>chatgpt-account-id</c>.</summary>
    public string ChatGptAccountId { get; set; } = DefaultChatGptAccountId;

    public List<OpenAiModel> Models { get; set; } =
    [
        new("gpt-4o"), new("gpt-4o-mini"), new("gpt-4.1"), new("gpt-5"), new("gpt-5-mini"), new("o4-mini"),
        new("text-embedding-3-small", "openai-internal"), new("whisper-1", "openai-internal"),
    ];

    /// <summary>Accept any model name rather than answering 404 (a proxy that forwards anything).</summary>
    public bool AcceptAnyModel { get; set; }

    public bool Verbose { get; set; }
}
