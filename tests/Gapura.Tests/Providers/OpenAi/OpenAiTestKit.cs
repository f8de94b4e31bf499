using System.Text.Json;
using Gapura.Conversations;
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
        => new(Client(Account(sim.ApiBaseUrl, key, attempts)));

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
