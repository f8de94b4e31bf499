using Gapura.Providers.Accounts;
using Gapura.Providers.Kiro.Auth;
using Gapura.Providers.OpenAi;
using Gapura.Routing;

namespace Gapura.Providers.Copilot;

internal static class CopilotServiceCollectionExtensions
{
    /// <summary>
    /// Registers GitHub Copilot (client, token exchange, accounts, model catalog, provider as <see cref="IChatProvider"/>
    /// and <see cref="IPassthroughProvider"/>). Its accounts are the gateway's GitHub token
    /// (<c>Providers:Copilot:GitHubToken</c>, or the one <c>gapura login copilot</c> saved) and users' own; while
    /// nobody has one it offers no models, so an install without Copilot is unchanged.
    /// </summary>
    public static IServiceCollection AddCopilotProvider(this IServiceCollection services, IConfiguration configuration)
        => services.AddCopilotProvider(configuration, KiroAuthEnvironment.FromSystem().HomeDirectory);

    /// <param name="home">Where <c>~/.gapura/copilot.json</c> is looked for.</param>
    internal static IServiceCollection AddCopilotProvider(this IServiceCollection services, IConfiguration configuration, string home)
    {
        var options = Hosting.SettingsValidation.Checked(configuration.GetSection(CopilotOptions.Section).Get<CopilotOptions>() ?? new CopilotOptions(), CopilotOptions.Section);
        var process = ProcessAccount(options, home) is { } account
            ? new ProcessAccount(new AccountSecret { Kind = AccountSecret.GitHubKind, GitHubToken = account.GitHubToken })
            : null;
        services.AddProviderAccounts(CopilotProvider.ProviderName, process, options.ShareProcessLogin);
        services.AddKeyedSingleton(CopilotProvider.ProviderName, (sp, _) => new ChatCompletionsClient(
            OpenAiServiceCollectionExtensions.CreateHttpClient(guarded: false), Account(options), Log(sp), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new CopilotTokenService(CreateExchangeHttpClient(), options,
            sp.GetRequiredService<ILoggerFactory>().CreateLogger<CopilotTokenService>(), sp.GetRequiredService<TimeProvider>()));
        // Users' seats connected from a browser (admin API): GitHub's device flow, polled by the page.
        services.AddSingleton(sp => new CopilotDeviceFlows(
            new GitHubDeviceFlow(CreateExchangeHttpClient(), options, sp.GetRequiredService<TimeProvider>()), sp.GetRequiredService<Storage.Shared.SignInFlowStore>()));
        services.AddSingleton(sp => new CopilotProvider(sp.GetRequiredKeyedService<ChatCompletionsClient>(CopilotProvider.ProviderName),
            sp.GetRequiredService<CopilotTokenService>(), options, sp.GetRequiredKeyedService<ProviderAccounts>(CopilotProvider.ProviderName), Log(sp)));
        services.AddSingleton<IModelCatalog>(sp =>
        {
            var provider = sp.GetRequiredService<CopilotProvider>();
            return new ChatCompletionsModelCatalog(CopilotProvider.ProviderName, configured: null,
                async ct =>
                {
                    // The gateway's own account, else any user's: the list is the same for every seat.
                    if (provider.Accounts.ForModelList() is not { } login) return CopilotModels.Fallback;
                    var secret = await login.GetSecretAsync(forceRefresh: false, ct);
                    using var doc = await provider.GetModelsAsync(CopilotProvider.AccountOf(login, secret), ct);
                    return CopilotModels.Parse(doc.RootElement);
                },
                CopilotModels.Fallback, TimeSpan.FromMinutes(options.ModelsRefreshMinutes),
                sp.GetRequiredService<ILoggerFactory>().CreateLogger<ChatCompletionsModelCatalog>(), sp.GetRequiredService<TimeProvider>(),
                provider.Accounts, sp.GetService<Limits.ProbedLimits>());
        });
        services.AddHostedService(sp => new CopilotLoginFileCheck(home, sp.GetRequiredService<ILoggerFactory>().CreateLogger<CopilotLoginFileCheck>()));
        services.AddSingleton<IChatProvider>(sp => sp.GetRequiredService<CopilotProvider>());
        services.AddSingleton<IPassthroughProvider>(sp => sp.GetRequiredService<CopilotProvider>());
        return services;
    }

    private static ILogger Log(IServiceProvider sp) => sp.GetRequiredService<ILoggerFactory>().CreateLogger("Gapura.Providers.copilot");

    /// <summary>The setting wins over the login file: an explicit setting never silently uses another account.</summary>
    internal static CopilotAccount? ProcessAccount(CopilotOptions options, string home)
    {
        if (!string.IsNullOrWhiteSpace(options.GitHubToken)) return new CopilotAccount("process", options.GitHubToken.Trim());
        return CopilotLoginFile.Read(home) is { } saved ? new CopilotAccount("process", saved) : null;
    }

    /// <summary>
    /// Base URL, label and retry of the chat client; the address and token of each call come from the exchange.
    /// Copilot takes <c>max_tokens</c>, and a reasoning effort only on OpenAI's reasoning models.
    /// </summary>
    internal static ChatCompletionsAccount Account(CopilotOptions o) => new(
        CopilotProvider.ProviderName, "GitHub Copilot",
        string.IsNullOrWhiteSpace(o.ApiBaseUrl) ? CopilotOptions.DefaultApiBaseUrl : o.ApiBaseUrl.Trim().TrimEnd('/'),
        ApiKey: null, new Dictionary<string, string>(),
        new RetrySettings(o.MaxAttempts, o.RetryBaseDelayMilliseconds, o.MaxRetryDelaySeconds),
        new ChatCompletionsDialect(UseMaxCompletionTokens: false, OpenAiKnownModels.Reasons));

    /// <summary>The exchange is a small JSON answer: an overall timeout is right here, unlike for streams.</summary>
    internal static HttpClient CreateExchangeHttpClient() => UpstreamHttp.Create(UpstreamHttp.Handler(), TimeSpan.FromSeconds(30));
}
