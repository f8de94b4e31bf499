namespace Gapura.Simulators.OpenAi;

/// <summary>
/// A model the simulator lists and accepts. <paramref name="MaxModelLen"/> adds vLLM's field to <c>/v1/models</c>. With
/// <paramref name="Limits"/> the model refuses a longer input with OpenAI's 400 <c>context_length_exceeded</c>, counts input
/// as words and stops the counting prompt at its output cap with finish reason <c>length</c> whatever max_tokens says.
/// </summary>
public sealed record OpenAiModel(string Id, string OwnedBy = "openai", int? MaxModelLen = null, SimulatedLimits? Limits = null);

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

    /// <summary>
    /// The account the Codex backend expects in <c>chatgpt-account-id</c> with the static
    /// <see cref="ChatGptAccessTokens"/>, and the account a ChatGPT sign-in is approved for unless the test names another.
    /// </summary>
    public string ChatGptAccountId { get; set; } = DefaultChatGptAccountId;

    public const string DefaultChatGptEmail = "simulator@example.com";

    /// <summary>The <c>email</c> claim of a sign-in's id_token unless the approval names another.</summary>
    public string ChatGptEmail { get; set; } = DefaultChatGptEmail;

    /// <summary>The <c>chatgpt_plan_type</c> the sign-in's tokens carry.</summary>
    public string ChatGptPlanType { get; set; } = "plus";

    /// <summary>
    /// Lifetime of access tokens the ChatGPT sign-in issues (<c>expires_in</c> and the token's <c>exp</c>); the real
    /// sign-in's last about a week to ten days. Short ones make the gateway renew.
    /// </summary>
    public int OAuthAccessTokenSeconds { get; set; } = 864_000;

    /// <summary>The clock sign-in tokens are issued and checked by; a test's own clock can make them expire.</summary>
    public TimeProvider Time { get; set; } = TimeProvider.System;

    public List<OpenAiModel> Models { get; set; } =
    [
        new("gpt-4o"), new("gpt-4o-mini"), new("gpt-4.1"), new("gpt-5"), new("gpt-5-mini"), new("o4-mini"),
        new("text-embedding-3-small", "openai-internal"), new("whisper-1", "openai-internal"),
    ];

    /// <summary>Accept any model name rather than answering 404 (a proxy that forwards anything).</summary>
    public bool AcceptAnyModel { get; set; }

    public bool Verbose { get; set; }
}
