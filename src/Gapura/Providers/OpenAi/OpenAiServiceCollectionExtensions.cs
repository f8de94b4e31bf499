using Gapura.Providers.Compatible;
using Gapura.Routing;

namespace Gapura.Providers.OpenAi;

internal static class OpenAiServiceCollectionExtensions
{
    /// <summary>
    /// Registers OpenAI (when <c>Providers:OpenAI:ApiKey</c> is set) and one provider per configured
    /// <c>Providers:Compatible:&lt;name&gt;</c>, each with its own HTTP client and model catalog. Nothing is
    /// registered for what is not configured, so a Kiro-only install is unchanged. A refused or malformed
    /// compatible server stops the start with a message naming the setting: serving without it would hide
    /// the mistake until a user's request failed.
    /// </summary>
    public static IServiceCollection AddOpenAiProviders(this IServiceCollection services, IConfiguration configuration)
    {
        var openAi = configuration.GetSection(OpenAiOptions.Section).Get<OpenAiOptions>() ?? new OpenAiOptions();
        if (!string.IsNullOrWhiteSpace(openAi.ApiKey)) Register(services, OpenAiAccount(openAi), guarded: false, configured: null, fallback: OpenAiFallback(),
            describe: OpenAiDescribe, keep: m => OpenAiKnownModels.IsChatModel(m.Id), TimeSpan.FromMinutes(openAi.ModelsRefreshMinutes), c => new OpenAiProvider(c));

        var allowed = CompatibleServerOptions.ReadList(configuration.GetSection($"{CompatibleServerOptions.Section}:{CompatibleServerOptions.AllowedBaseUrlsKey}"));
        foreach (var server in CompatibleServerOptions.ReadAll(configuration))
        {
            if (UpstreamAddressGuard.CheckBaseUrl(server.Name, server.BaseUrl, server.AllowLinkLocal, allowed) is { } refusal)
                throw new InvalidOperationException(refusal);
            var describe = CompatibleDescribe(server);
            var configured = server.Models.Count == 0 ? null : server.Models.Select(id => describe(new UpstreamModel(id, null))).ToList();
            Register(services, CompatibleAccount(server), guarded: !server.AllowLinkLocal, configured, fallback: [], describe, keep: _ => true,
                TimeSpan.FromMinutes(server.ModelsRefreshMinutes), c => new CompatibleProvider(c));
        }
        return services;
    }

    internal static ChatCompletionsAccount OpenAiAccount(OpenAiOptions o)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (!string.IsNullOrWhiteSpace(o.Organization)) headers["OpenAI-Organization"] = o.Organization.Trim();
        if (!string.IsNullOrWhiteSpace(o.Project)) headers["OpenAI-Project"] = o.Project.Trim();
        return new ChatCompletionsAccount(OpenAiProvider.ProviderName, "OpenAI", o.BaseUrl.Trim().TrimEnd('/'), o.ApiKey?.Trim(), headers,
            new RetrySettings(o.MaxAttempts, o.RetryBaseDelayMilliseconds, o.MaxRetryDelaySeconds), ChatCompletionsDialect.OpenAi)
        {
            Api = OpenAiEndpoint.ParseApi(o.Api, $"{OpenAiOptions.Section}:Api"),
        };
    }

    internal static ChatCompletionsAccount CompatibleAccount(CompatibleServerOptions s) => new(
        s.Name, $"compatible server '{s.Name}'", s.BaseUrl, s.ApiKey, new Dictionary<string, string>(), s.Retry,
        s.UseMaxCompletionTokens ? ChatCompletionsDialect.Compatible with { UseMaxCompletionTokens = true } : ChatCompletionsDialect.Compatible)
    {
        Api = s.Api,
    };

    internal static ModelInfo OpenAiDescribe(UpstreamModel m) => OpenAiKnownModels.Info(m.Id, OpenAiProvider.ProviderName);

    internal static IReadOnlyList<ModelInfo> OpenAiFallback() => [.. OpenAiKnownModels.BuiltInIds.Select(id => OpenAiKnownModels.Info(id, OpenAiProvider.ProviderName))];

    /// <summary>
    /// The server's own context length when it gives one (vLLM), else the configured assumption; output never above
    /// the context. Images and tools as the server reports them, the operator's TextOnlyModels / NoToolModels first.
    /// </summary>
    internal static Func<UpstreamModel, ModelInfo> CompatibleDescribe(CompatibleServerOptions s) => m =>
    {
        var context = m.ContextWindow ?? s.ContextWindow;
        return new ModelInfo(m.Id, m.Id, context, Math.Min(s.MaxOutputTokens, context), s.Name)
        {
            SupportsImages = CompatibleServerOptions.Matches(s.TextOnlyModels, m.Id) ? false : m.Images,
            SupportsTools = CompatibleServerOptions.Matches(s.NoToolModels, m.Id) ? false : m.Tools,
        };
    };

    private static void Register(IServiceCollection services, ChatCompletionsAccount account, bool guarded, IReadOnlyList<ModelInfo>? configured,
        IReadOnlyList<ModelInfo> fallback, Func<UpstreamModel, ModelInfo> describe, Func<ModelInfo, bool> keep, TimeSpan refresh,
        Func<ChatCompletionsClient, ChatCompletionsProvider> create)
    {
        var key = "chat-completions:" + account.Provider;
        services.AddKeyedSingleton(key, (sp, _) => new ChatCompletionsClient(
            CreateHttpClient(guarded), account, sp.GetRequiredService<ILoggerFactory>().CreateLogger($"Gapura.Providers.{account.Provider}"),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IModelCatalog>(sp =>
        {
            var client = sp.GetRequiredKeyedService<ChatCompletionsClient>(key);
            return new ChatCompletionsModelCatalog(account.Provider, configured,
                async ct => [.. (await client.ListModelsAsync(ct)).Select(describe).Where(keep)],
                fallback, refresh, sp.GetRequiredService<ILoggerFactory>().CreateLogger<ChatCompletionsModelCatalog>(), sp.GetRequiredService<TimeProvider>());
        });
        services.AddKeyedSingleton(key, (sp, _) => create(sp.GetRequiredKeyedService<ChatCompletionsClient>(key)));
        services.AddSingleton<IChatProvider>(sp => sp.GetRequiredKeyedService<ChatCompletionsProvider>(key));
        services.AddSingleton<IPassthroughProvider>(sp => sp.GetRequiredKeyedService<ChatCompletionsProvider>(key));
    }

    /// <summary>
    /// No overall timeout: answers stream for minutes; the pipeline's first-byte and idle timeouts bound the
    /// wait. Compatible servers' clients are guarded against link-local and metadata addresses.
    /// </summary>
    internal static HttpClient CreateHttpClient(bool guarded)
    {
        var handler = new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(15),
            AutomaticDecompression = System.Net.DecompressionMethods.All,
        };
        return new HttpClient(guarded ? UpstreamAddressGuard.GuardedHandler(handler) : handler) { Timeout = Timeout.InfiniteTimeSpan };
    }
}
