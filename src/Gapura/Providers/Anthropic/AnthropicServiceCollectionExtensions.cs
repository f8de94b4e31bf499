using Gapura.Providers.Accounts;
using Gapura.Routing;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Anthropic;

internal static class AnthropicServiceCollectionExtensions
{
    /// <summary>
    /// Registers the Anthropic provider (client, model catalog, provider as <see cref="IChatProvider"/> and
    /// <see cref="IPassthroughProvider"/>) and the Claude sign-in. Its accounts are the process-wide
    /// <c>Providers:Anthropic:ApiKey</c> and users' own keys and sign-ins; while nobody has one, the provider
    /// offers no models, so a gateway without Anthropic accounts is exactly the Kiro-only set-up.
    /// </summary>
    public static IServiceCollection AddAnthropicProvider(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(AnthropicOptions.Section);
        var settings = new AnthropicOptions();
        section.Bind(settings);
        services.Configure<AnthropicOptions>(section);
        services.AddProviderAccounts(AnthropicProvider.ProviderName, ProcessAccount.ForApiKey(settings.ApiKey), settings.ShareProcessLogin);
        services.AddOAuthSignIn(AnthropicProvider.ProviderName, "Claude", ClaudeSignIn.Read(configuration));
        services.AddSingleton(sp => new AnthropicClient(
            CreateStreamingHttpClient(),
            sp.GetRequiredService<IOptions<AnthropicOptions>>(),
            sp.GetRequiredService<ILogger<AnthropicClient>>(),
            sp.GetService<TimeProvider>(),
            sp.GetRequiredKeyedService<ProviderAccounts>(AnthropicProvider.ProviderName)));
        services.AddSingleton<IAnthropicModelSource>(sp => sp.GetRequiredService<AnthropicClient>());
        services.AddSingleton(sp => new AnthropicModelCatalog(
            sp.GetRequiredService<IAnthropicModelSource>(),
            sp.GetRequiredService<IOptions<AnthropicOptions>>(),
            sp.GetRequiredService<ILogger<AnthropicModelCatalog>>(),
            sp.GetService<TimeProvider>(),
            sp.GetRequiredKeyedService<ProviderAccounts>(AnthropicProvider.ProviderName),
            sp.GetService<Limits.ProbedLimits>()));
        services.AddSingleton<IModelCatalog>(sp => sp.GetRequiredService<AnthropicModelCatalog>());
        services.AddSingleton<AnthropicProvider>();
        services.AddSingleton<IChatProvider>(sp => sp.GetRequiredService<AnthropicProvider>());
        services.AddSingleton<IPassthroughProvider>(sp => sp.GetRequiredService<AnthropicProvider>());
        return services;
    }

    /// <summary>
    /// No overall timeout: answers stream for minutes; the pipeline's first-byte and idle timeouts bound the
    /// wait. Connections are recycled so a moved upstream address is picked up.
    /// </summary>
    private static HttpClient CreateStreamingHttpClient() => UpstreamHttp.Create(UpstreamHttp.Handler(), Timeout.InfiniteTimeSpan);
}
