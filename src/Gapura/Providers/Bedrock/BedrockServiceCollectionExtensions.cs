using Gapura.Providers.Accounts;
using Gapura.Routing;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Bedrock;

internal static class BedrockServiceCollectionExtensions
{
    /// <summary>
    /// Registers Bedrock (client, model catalog, provider). Its accounts are the gateway's own from
    /// <c>Providers:Bedrock</c> (a region and keys or a profile) and users' own AWS keys; always registered, so
    /// users' keys work on a gateway without AWS credentials of its own. While nobody has an account the
    /// provider offers no models, so an install without AWS is exactly the Kiro-only set-up.
    /// </summary>
    public static IServiceCollection AddBedrockProvider(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(BedrockOptions.Section);
        var settings = section.Get<BedrockOptions>() ?? new BedrockOptions();
        services.Configure<BedrockOptions>(section);
        services.AddProviderAccounts(BedrockProvider.ProviderName, BedrockProcessAccount.From(settings), settings.ShareProcessLogin);
        services.AddSingleton(sp => new BedrockClient(
            // Answers stream for minutes; the pipeline's first-byte and idle timeouts bound the wait.
            UpstreamHttp.Create(UpstreamHttp.Handler(decompress: false), Timeout.InfiniteTimeSpan),
            sp.GetRequiredService<IOptions<BedrockOptions>>(),
            sp.GetRequiredService<ILogger<BedrockClient>>(),
            sp.GetService<TimeProvider>()));
        services.AddSingleton(sp => new BedrockModelCatalog(
            sp.GetRequiredService<IOptions<BedrockOptions>>(),
            sp.GetRequiredKeyedService<ProviderAccounts>(BedrockProvider.ProviderName)));
        services.AddSingleton<IModelCatalog>(sp => sp.GetRequiredService<BedrockModelCatalog>());
        services.AddSingleton<IChatProvider, BedrockProvider>();
        return services;
    }
}
