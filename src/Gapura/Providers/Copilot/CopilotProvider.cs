using System.Text.Json;
using Gapura.Conversations;
using Gapura.Providers.Accounts;
using Gapura.Providers.OpenAi;

namespace Gapura.Providers.Copilot;

/// <summary>
/// GitHub Copilot (<c>Providers:Copilot</c>), routing name <c>copilot</c>. Its API speaks OpenAI's chat
/// completions, so the shared codec and passthrough do the work; this adds what Copilot asks of each call:
/// a Copilot token exchanged from the account's GitHub token, the API address the exchange names, and the
/// editor headers without which the API refuses the call. A 401 means the cached token died early (revoked,
/// rotated): it is dropped and exchanged again, once. An account is a GitHub token: the gateway's own
/// (<c>Providers:Copilot:GitHubToken</c> or <c>gapura login copilot</c>) or a user's (<c>gapura login copilot --user</c>).
/// </summary>
internal sealed class CopilotProvider(ChatCompletionsClient client, CopilotTokenService tokens, CopilotOptions options,
    ProviderAccounts accounts, ILogger log) : ChatCompletionsProvider(client, accounts, log)
{
    public const string ProviderName = "copilot";

    protected override async Task<HttpResponseMessage> PostAsync(IUpstreamAccount login, AccountSecret secret, OpenAiEndpoint endpoint, string path,
        ReadOnlyMemory<byte> body, ChatContext context, CancellationToken ct)
    {
        var account = AccountOf(login, secret);
        var (initiator, vision) = Inspect(body.Span);
        var token = await tokens.GetAsync(account, ct);
        try
        {
            return await Client.PostAsync(Endpoint(token, initiator, vision), path, body, ct);
        }
        catch (GatewayException e) when (e.Kind == ErrorKind.UpstreamLogin)
        {
            tokens.Invalidate(account, token);
            token = await tokens.GetAsync(account, ct);
            try
            {
                return await Client.PostAsync(Endpoint(token, initiator, vision), path, body, ct);
            }
            catch (GatewayException again) when (again.Kind == ErrorKind.UpstreamLogin)
            {
                throw new GatewayException(ErrorKind.UpstreamLogin,
                    $"GitHub Copilot refused a freshly exchanged token of {account.Label}; the account may have lost its Copilot seat. {again.Message}", 503, inner: again);
            }
        }
    }

    internal static CopilotAccount AccountOf(IUpstreamAccount login, AccountSecret secret) => new(login.Label, secret.GitHubToken ?? "");

    /// <summary>Copilot's <c>/models</c> document, read with the account's token and headers.</summary>
    public async Task<JsonDocument> GetModelsAsync(CopilotAccount account, CancellationToken ct)
    {
        var token = await tokens.GetAsync(account, ct);
        return await Client.GetModelsAsync(Endpoint(token, initiator: null, vision: false), ct);
    }

    /// <summary>This call's endpoint: the address the exchange named (or the configured one), the Copilot token and the editor headers.</summary>
    private OpenAiEndpoint Endpoint(CopilotToken token, string? initiator, bool vision)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["Editor-Version"] = options.EditorVersion,
            ["Editor-Plugin-Version"] = options.EditorPluginVersion,
            ["Copilot-Integration-Id"] = options.IntegrationId,
            ["User-Agent"] = options.UserAgent,
            ["Openai-Intent"] = "conversation-panel",
            ["X-Request-Id"] = Guid.NewGuid().ToString(),
        };
        // Copilot bills a premium request per user turn; tool-result follow-ups are the agent's own.
        if (initiator is not null) headers["X-Initiator"] = initiator;
        // Without it the API refuses image parts.
        if (vision) headers["Copilot-Vision-Request"] = "true";
        var api = string.IsNullOrWhiteSpace(options.ApiBaseUrl) ? token.ApiBaseUrl : options.ApiBaseUrl.Trim().TrimEnd('/');
        return new OpenAiEndpoint(api, token.Token, headers);
    }

    /// <summary>
    /// Reads the chat-completions body (built or the client's own): who spoke last, and whether any message holds
    /// an image. A body that does not parse goes as a user turn; the API will say what is wrong with it.
    /// </summary>
    internal static (string Initiator, bool Vision) Inspect(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            using var doc = JsonDocument.ParseValue(ref reader);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("messages", out var messages)
                || messages.ValueKind != JsonValueKind.Array) return ("user", false);
            string? lastRole = null;
            var vision = false;
            foreach (var message in messages.EnumerateArray())
            {
                if (message.ValueKind != JsonValueKind.Object) continue;
                lastRole = GitHubDeviceFlow.Str(message, "role");
                if (!vision && message.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Array)
                    foreach (var part in content.EnumerateArray())
                        if (part.ValueKind == JsonValueKind.Object && GitHubDeviceFlow.Str(part, "type") == "image_url") { vision = true; break; }
            }
            return (lastRole is null or "user" ? "user" : "agent", vision);
        }
        catch (JsonException)
        {
            return ("user", false);
        }
    }
}
