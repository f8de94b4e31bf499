using System.Text.Json;
using Gapura.Conversations;
using Gapura.Providers;
using Gapura.Providers.Anthropic;
using Gapura.Routing;
using Gapura.Simulators.Anthropic;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Gapura.Tests.Providers.Anthropic;

/// <summary>Builds the provider's parts against a simulator, with fast retries so failure tests stay quick.</summary>
internal static class AnthropicTestKit
{
    public const string Model = "claude-sonnet-4-5-20250929";

    public static AnthropicOptions Options(AnthropicSimulator simulator, string? apiKey = null, int maxAttempts = 3) => new()
    {
        ApiKey = apiKey ?? simulator.ApiKey,
        BaseUrl = simulator.BaseUrl,
        MaxAttempts = maxAttempts,
        RetryBaseDelayMilliseconds = 10,
        MaxRetryDelaySeconds = 3,
    };

    public static AnthropicClient Client(AnthropicOptions options)
        => new(new HttpClient { Timeout = TimeSpan.FromSeconds(30) }, Microsoft.Extensions.Options.Options.Create(options), NullLogger<AnthropicClient>.Instance);

    public static AnthropicProvider Provider(AnthropicSimulator simulator, string? apiKey = null, int maxAttempts = 3)
    {
        var options = Options(simulator, apiKey, maxAttempts);
        return Provider(options);
    }

    public static AnthropicProvider Provider(AnthropicOptions options) => new(Client(options), Microsoft.Extensions.Options.Options.Create(options),
        Gapura.Providers.Accounts.ProviderAccounts.ProcessOnly(AnthropicProvider.ProviderName, Gapura.Providers.Accounts.ProcessAccount.ForApiKey(options.ApiKey)),
        NullLogger<AnthropicProvider>.Instance);

    public static ResolvedModel Resolved(string id = Model, int maxOutput = 64_000)
        => new(id, new ModelInfo(id, id, 200_000, maxOutput, AnthropicProvider.ProviderName));

    public static ChatRequest Ask(string text, int? maxTokens = 1024) => new()
    {
        Model = Model,
        Messages = [Message.Text(Role.User, text)],
        MaxTokens = maxTokens,
    };

    public static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement.Clone();

    public static async Task<List<StreamEvent>> CollectAsync(IChatProvider provider, ChatRequest request, ResolvedModel? model = null, ChatContext? context = null)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var events = new List<StreamEvent>();
        await foreach (var e in provider.StreamAsync(request, model ?? Resolved(), context ?? new ChatContext(), cts.Token)) events.Add(e);
        return events;
    }
}
