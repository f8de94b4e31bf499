using Gapura.Routing;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Bedrock;

internal static class BedrockServiceCollectionExtensions
{
    /// <summary>
    /// Registers Bedrock (client, model catalog, provider) when <c>Providers:Bedrock</c> names a region and
    /// credentials or a profile; otherwise does nothing, so an install without AWS sees no Bedrock models.
    /// </summary>
    public static IServiceCollection AddBedrockProvider(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(BedrockOptions.Section);
        var probe = section.Get<BedrockOptions>() ?? new BedrockOptions();
        if (!probe.IsConfigured) return services;

        services.Configure<BedrockOptions>(section);
        services.AddSingleton<BedrockCredentialSource>();
        services.AddSingleton(sp => new BedrockClient(
            new HttpClient(new SocketsHttpHandler
            {
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                ConnectTimeout = TimeSpan.FromSeconds(15),
            })
            {
                // Answers stream for minutes; the pipeline's first-byte and idle timeouts bound the wait.
                Timeout = Timeout.InfiniteTimeSpan,
            },
            sp.GetRequiredService<BedrockCredentialSource>(),
            sp.GetRequiredService<IOptions<BedrockOptions>>(),
            sp.GetRequiredService<ILogger<BedrockClient>>(),
            sp.GetService<TimeProvider>()));
        services.AddSingleton<BedrockModelCatalog>();
        services.AddSingleton<IModelCatalog>(sp => sp.GetRequiredService<BedrockModelCatalog>());
        services.AddSingleton<IChatProvider, BedrockProvider>();
        return services;
    }
}
