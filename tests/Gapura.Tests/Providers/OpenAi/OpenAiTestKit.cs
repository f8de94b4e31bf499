using System.Text.Json;
using Gapura.Conversations;
using Gapura.Providers.Accounts;
using Gapura.Providers.Compatible;
using Gapura.Providers.OpenAi;
using Gapura.Routing;
using Gapura.Simulators.OpenAi;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gapura.Tests.Providers.OpenAi;

/// <summary>Builds OpenAI-format providers against a simulator, with short retry delays.</summary>
internal static class OpenAiTestKit
{
    public static ChatCompletionsAccount Account(string baseUrl, string? key = OpenAiSimulatorOptions.DefaultApiKey, int attempts = 3,
        string provider = "openai", ChatCompletionsDialect? dialect = null)
        => new(provider, provider == "openai" ? "OpenAI" : $"compatible server '{provider}'", baseUrl, key,
            new Dictionary<string, string>(), new RetrySettings(attempts, 10, 2), dialect ?? ChatCompletionsDialect.OpenAi);

    public static ChatCompletionsClient Client(ChatCompletionsAccount account) => new(new HttpClient(), account, NullLogger.Instance);

    public static OpenAiProvider Provider(OpenAiSimulator sim, string? key = OpenAiSimulatorOptions.DefaultApiKey, int attempts = 3)
        => OpenAiProvider(Client(Account(sim.ApiBaseUrl, key, attempts)));

    /// <summary>The provider with only the gateway's own account: the client's key, or <paramref name="secret"/> (a sign-in).</summary>
    public static OpenAiProvider OpenAiProvider(ChatCompletionsClient client, AccountSecret? secret = null, string? chatGptBaseUrl = null)
        => new(client, ProcessAccounts(client, secret), chatGptBaseUrl ?? ChatGptSignIn.DefaultBackendUrl, NullLogger.Instance);

    public static CompatibleProvider CompatibleProvider(ChatCompletionsClient client) => new(client, ProcessAccounts(client), NullLogger.Instance);

    /// <summary>A provider's accounts when only the gateway's own serves: the client account's key (or none), or <paramref name="secret"/>.</summary>
    public static ProviderAccounts ProcessAccounts(ChatCompletionsClient client, AccountSecret? secret = null)
        => ProviderAccounts.ProcessOnly(client.Account.Provider,
            new ProcessAccount(secret ?? new AccountSecret { Kind = AccountSecret.ApiKeyKind, ApiKey = client.Account.ApiKey }));

    public static ResolvedModel Model(string id = "gpt-4o", string provider = "openai")
        => new(id, new ModelInfo(id, id, 128_000, 16_384, provider));

    public static ChatRequest Ask(string text, int? maxTokens = null, IReadOnlyList<ToolDefinition>? tools = null, ThinkingRequest? thinking = null) => new()
    {
        Model = "gpt-4o",
        Messages = [Message.Text(Role.User, text)],
        MaxTokens = maxTokens,
        Tools = tools ?? [],
        Thinking = thinking,
        Stream = true,
    };

    public static ToolDefinition Tool(string name)
        => new(name, $"The {name} tool", JsonDocument.Parse("""{"type":"object","properties":{"city":{"type":"string"}}}""").RootElement.Clone());

    public static async Task<List<StreamEvent>> Collect(IAsyncEnumerable<StreamEvent> events)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var list = new List<StreamEvent>();
        await foreach (var e in events.WithCancellation(cts.Token)) list.Add(e);
        return list;
    }

    public static string Text(IEnumerable<StreamEvent> events) => string.Concat(events.OfType<TextDelta>().Select(t => t.Text));
}
