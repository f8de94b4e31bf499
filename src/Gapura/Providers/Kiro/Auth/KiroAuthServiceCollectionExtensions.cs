using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Kiro.Auth;

internal static class KiroAuthServiceCollectionExtensions
{
    /// <summary>
    /// Registers Kiro logins: <see cref="KiroTokenProvider"/> (singleton) and what it needs. Binding of
    /// <see cref="KiroOptions"/> is left to whoever registers the Kiro provider; registering it twice is harmless.
    /// </summary>
    public static IServiceCollection AddKiroAuth(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<KiroOptions>().Bind(configuration.GetSection(KiroOptions.Section));
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton(KiroAuthEnvironment.FromSystem());
        services.TryAddSingleton<KiroCredentialStore>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, KiroCredentialsStartupCheck>());
        // One client for the process, not a factory client captured by a singleton (that would pin one handler forever).
        services.TryAddSingleton(sp => new KiroAuthClient(KiroAuthClient.CreateHttpClient(), sp.GetRequiredService<IOptions<KiroOptions>>(), sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton(sp => new KiroTokenProvider(
            sp.GetRequiredService<IOptions<KiroOptions>>(),
            sp.GetRequiredService<KiroCredentialStore>(),
            sp.GetRequiredService<KiroAuthClient>(),
            sp.GetRequiredService<ILogger<KiroTokenProvider>>(),
            sp.GetRequiredService<TimeProvider>()));
        return services;
    }
}
