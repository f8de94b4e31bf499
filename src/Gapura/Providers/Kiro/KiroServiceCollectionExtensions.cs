using Gapura.Providers.Kiro.Auth;
using Gapura.Routing;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Kiro;

internal static class KiroServiceCollectionExtensions
{
    /// <summary>Registers the Kiro provider: logins, the HTTP client, the model catalog and the provider.</summary>
    public static IServiceCollection AddKiro(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddKiroAuth(configuration);
        services.AddSingleton(sp => new KiroClient(
            CreateStreamingHttpClient(),
            sp.GetRequiredService<KiroTokenProvider>(),
            sp.GetRequiredService<IOptions<KiroOptions>>(),
            sp.GetRequiredService<ILogger<KiroClient>>(),
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IKiroModelSource>(sp => sp.GetRequiredService<KiroClient>());
        services.AddSingleton<IModelCatalog, KiroModelCatalog>();
        services.AddSingleton<IChatProvider, KiroProvider>();
        return services;
    }

    /// <summary>
    /// No overall timeout: answers stream for minutes. The pipeline's first-byte and idle timeouts bound
    /// the wait instead; connections are recycled so a moved upstream address is picked up.
    /// </summary>
    private static HttpClient CreateStreamingHttpClient() => new(new SocketsHttpHandler
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(15),
        AutomaticDecompression = System.Net.DecompressionMethods.All,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };
}
