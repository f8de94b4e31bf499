using Gapura.Providers.Kiro.Auth;
using Gapura.Providers.Kiro.Logins;
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
        // Users' own logins: held in memory and kept current from the change feed (StoreChangeSync, see AddGapuraRouting), refreshed ahead of expiry.
        services.AddSingleton<KiroLoginPool>();
        services.AddSingleton<IStoreChangeListener>(sp => sp.GetRequiredService<KiroLoginPool>());
        services.AddSingleton<KiroLoginPicker>();
        services.AddSingleton(sp => new KiroDeviceLogin(
            sp.GetRequiredService<IOptions<KiroOptions>>(), sp.GetRequiredService<KiroAuthClient>(), sp.GetRequiredService<KiroCredentialStore>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<KiroDeviceFlows>();
        services.AddHostedService<KiroLoginRefresher>();
        services.AddSingleton<IChatProvider, KiroProvider>();
        return services;
    }

    /// <summary>
    /// No overall timeout: answers stream for minutes. The pipeline's first-byte and idle timeouts bound
    /// the wait instead; connections are recycled so a moved upstream address is picked up.
    /// </summary>
    private static HttpClient CreateStreamingHttpClient() => UpstreamHttp.Create(UpstreamHttp.Handler(), Timeout.InfiniteTimeSpan);
}
