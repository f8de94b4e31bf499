namespace Gapura.Providers.OpenAi;

/// <summary>Which OpenAI wire API an endpoint's translated path speaks.</summary>
internal enum OpenAiApi
{
    /// <summary><c>POST /chat/completions</c>: OpenAI and every compatible server.</summary>
    ChatCompletions,

    /// <summary><c>POST /responses</c>: OpenAI itself, the ChatGPT Codex backend, and the few servers that implement it.</summary>
    Responses,
}

/// <summary>
/// Everything one upstream call needs besides its body: where it goes, how it authenticates, and what the
/// endpoint accepts. The process-wide account has one (<see cref="ChatCompletionsAccount.Endpoint"/>); a
/// per-user sign-in (ChatGPT / Codex) brings its own, with another base URL, its own token and headers.
/// </summary>
/// <param name="BaseUrl">Without a trailing slash; <c>/chat/completions</c> or <c>/responses</c> is appended.</param>
/// <param name="BearerToken">Sent as <c>Authorization: Bearer …</c> when set; never logged.</param>
/// <param name="Headers">Sent with every call (<c>OpenAI-Organization</c>, <c>chatgpt-account-id</c>, <c>originator</c>…).</param>
internal sealed record OpenAiEndpoint(string BaseUrl, string? BearerToken, IReadOnlyDictionary<string, string> Headers)
{
    /// <summary>The API the translated path speaks; a front door of the same dialect passes through unchanged.</summary>
    public OpenAiApi Api { get; init; } = OpenAiApi.ChatCompletions;

    /// <summary>
    /// The ChatGPT Codex backend's rules: it accepts only <c>stream: true</c> and <c>store: false</c> and requires
    /// <c>instructions</c>. Requests are sent that way, and a non-streaming client is answered by reading the
    /// stream to its end and returning the whole response.
    /// </summary>
    public bool StreamOnly { get; init; }

    /// <summary>False where <c>max_output_tokens</c> is refused (the ChatGPT Codex backend): the gateway enforces the cap itself.</summary>
    public bool AcceptsMaxOutputTokens { get; init; } = true;

    /// <summary>
    /// A ChatGPT sign-in talking to the Codex backend (<c>https://chatgpt.com/backend-api/codex</c>): the access
    /// token as bearer, the account id in <c>chatgpt-account-id</c>, and the client's name in <c>originator</c>.
    /// </summary>
    public static OpenAiEndpoint ChatGptCodex(string baseUrl, string accessToken, string accountId, string originator = "codex_cli_rs")
        => new(baseUrl.Trim().TrimEnd('/'), accessToken, new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["chatgpt-account-id"] = accountId,
            ["originator"] = originator,
        })
        {
            Api = OpenAiApi.Responses,
            StreamOnly = true,
            AcceptsMaxOutputTokens = false,
        };

    /// <summary>Never prints the token: records print every member by default.</summary>
    public override string ToString() => $"{Api} at {BaseUrl}";

    /// <summary>Parses the <c>Api</c> setting (<c>chat</c> or <c>responses</c>), naming the setting when it is wrong.</summary>
    public static OpenAiApi ParseApi(string? value, string setting) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "chat" => OpenAiApi.ChatCompletions,
        "responses" => OpenAiApi.Responses,
        _ => throw new InvalidOperationException($"{setting}: '{value}' is not an upstream API; use 'chat' or 'responses'."),
    };
}
