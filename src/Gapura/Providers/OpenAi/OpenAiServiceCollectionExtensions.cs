using Gapura.Providers.Accounts;
using Gapura.Providers.Compatible;
using Gapura.Routing;

namespace Gapura.Providers.OpenAi;

internal static class OpenAiServiceCollectionExtensions
{
    /// <summary>
    /// Registers OpenAI and one provider per configured <c>Providers:Compatible:&lt;name&gt;</c>, each with its own
    /// HTTP client, accounts and model catalog. OpenAI's accounts are the process-wide <c>Providers:OpenAI:ApiKey</c>
    /// and users' own keys and ChatGPT sign-ins; while nobody has one it offers no models, so a Kiro-only install
    /// is unchanged. A compatible server's own account is its configured key, or none for a keyless server; users
    /// may bring their own keys. A refused or malformed compatible server stops the start with a message naming
    /// the setting: serving without it would hide the mistake until a user's request failed.
    /// </summary>
    public static IServiceCollection AddOpenAiProviders(this IServiceCollection services, IConfiguration configuration)
    {
        var openAi = Hosting.SettingsValidation.Checked(configuration.GetSection(OpenAiOptions.Section).Get<OpenAiOptions>() ?? new OpenAiOptions(), OpenAiOptions.Section);
        services.AddProviderAccounts(OpenAiProvider.ProviderName, ProcessAccount.ForApiKey(openAi.ApiKey), openAi.ShareProcessLogin);
        services.AddOAuthSignIn(OpenAiProvider.ProviderName, "ChatGPT", ChatGptSignIn.Read(configuration), ChatGptSignIn.Finish);
        var backend = openAi.ChatGptBaseUrl.Trim().TrimEnd('/');
        Register(services, OpenAiAccount(openAi), guarded: false, configured: null, fallback: OpenAiFallback(),
            describe: OpenAiDescribe, keep: m => OpenAiKnownModels.IsChatModel(m.Id), TimeSpan.FromMinutes(openAi.ModelsRefreshMinutes),
            (client, accounts, log) => new OpenAiProvider(client, accounts, backend, log));

        var allowed = CompatibleServerOptions.ReadList(configuration.GetSection($"{CompatibleServerOptions.Section}:{CompatibleServerOptions.AllowedBaseUrlsKey}"));
        foreach (var server in CompatibleServerOptions.ReadAll(configuration))
        {
            if (UpstreamAddressGuard.CheckBaseUrl(server.Name, server.BaseUrl, server.AllowLinkLocal, allowed) is { } refusal)
                throw new InvalidOperationException(refusal);
            // Keyless servers (a local Ollama) still have an account of their own: calls without a bearer.
            services.AddProviderAccounts(server.Name, new ProcessAccount(new AccountSecret { Kind = AccountSecret.ApiKeyKind, ApiKey = server.ApiKey }),
                server.ShareProcessLogin);
            var describe = CompatibleDescribe(server);
            var configured = server.Models.Count == 0 ? null : server.Models.Select(id => describe(new UpstreamModel(id, null))).ToList();
            Register(services, CompatibleAccount(server), guarded: !server.AllowLinkLocal, configured, fallback: [], describe, keep: _ => true,
                TimeSpan.FromMinutes(server.ModelsRefreshMinutes), (client, accounts, log) => new CompatibleProvider(client, accounts, log));
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
        Func<ChatCompletionsClient, ProviderAccounts, ILogger, ChatCompletionsProvider> create)
    {
        var key = "chat-completions:" + account.Provider;
        ILogger Log(IServiceProvider sp) => sp.GetRequiredService<ILoggerFactory>().CreateLogger($"Gapura.Providers.{account.Provider}");
        services.AddKeyedSingleton(key, (sp, _) => new ChatCompletionsClient(CreateHttpClient(guarded), account, Log(sp), sp.GetRequiredService<TimeProvider>()));
        services.AddKeyedSingleton(key, (sp, _) => create(sp.GetRequiredKeyedService<ChatCompletionsClient>(key),
            sp.GetRequiredKeyedService<ProviderAccounts>(account.Provider), Log(sp)));
        services.AddSingleton<IModelCatalog>(sp =>
        {
            var provider = sp.GetRequiredKeyedService<ChatCompletionsProvider>(key);
            return new ChatCompletionsModelCatalog(account.Provider, configured,
                async ct => await ListModelsAsync(provider, ct) is { } listed ? [.. listed.Select(describe).Where(keep)] : fallback,
                fallback, refresh, sp.GetRequiredService<ILoggerFactory>().CreateLogger<ChatCompletionsModelCatalog>(), sp.GetRequiredService<TimeProvider>(),
                provider.Accounts, sp.GetService<Limits.ProbedLimits>());
        });
        services.AddSingleton<IChatProvider>(sp => sp.GetRequiredKeyedService<ChatCompletionsProvider>(key));
        services.AddSingleton<IPassthroughProvider>(sp => sp.GetRequiredKeyedService<ChatCompletionsProvider>(key));
    }

    /// <summary>
    /// The upstream's <c>/models</c>, read with the gateway's own account or else any user's; null where there is no
    /// list to read (the ChatGPT Codex backend has none: its sign-ins get the built-in list).
    /// </summary>
    private static async Task<IReadOnlyList<UpstreamModel>?> ListModelsAsync(ChatCompletionsProvider provider, CancellationToken ct)
    {
        if (provider.Accounts.ForModelList() is not { } account) return null;
        var endpoint = provider.EndpointFor(await account.GetSecretAsync(forceRefresh: false, ct));
        return endpoint.StreamOnly ? null : await provider.Client.ListModelsAsync(endpoint, ct);
    }

    /// <summary>
    /// No overall timeout: answers stream for minutes; the pipeline's first-byte and idle timeouts bound the
    /// wait. Compatible servers' clients are guarded against link-local and metadata addresses.
    /// </summary>
    internal static HttpClient CreateHttpClient(bool guarded)
    {
        var handler = UpstreamHttp.Handler();
        return UpstreamHttp.Create(guarded ? UpstreamAddressGuard.GuardedHandler(handler) : handler, Timeout.InfiniteTimeSpan);
    }
}
