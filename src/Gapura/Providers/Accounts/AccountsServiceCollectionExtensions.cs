using Gapura.Routing;

namespace Gapura.Providers.Accounts;

internal static class AccountsServiceCollectionExtensions
{
    /// <summary>The pool of users' accounts (every provider but Kiro), kept current from the change feed.</summary>
    public static IServiceCollection AddUpstreamAccounts(this IServiceCollection services)
    {
        services.AddSingleton<AccountPool>();
        services.AddSingleton<IStoreChangeListener>(sp => sp.GetRequiredService<AccountPool>());
        return services;
    }

    /// <summary>
    /// Registers a provider's accounts under its name: its process-wide account (null when the settings give
    /// none) and whether users without an account of their own may use it (<c>…:ShareProcessLogin</c>).
    /// </summary>
    public static IServiceCollection AddProviderAccounts(this IServiceCollection services, string provider, IUpstreamAccount? process, bool shareProcessLogin)
        => services.AddKeyedSingleton(provider, (sp, _) => new ProviderAccounts(provider, process, shareProcessLogin,
            sp.GetRequiredService<AccountPool>(), sp.GetRequiredService<RoutingState>()));
}
