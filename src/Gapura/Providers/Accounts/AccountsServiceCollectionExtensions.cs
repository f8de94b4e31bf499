using Gapura.Routing;

namespace Gapura.Providers.Accounts;

internal static class AccountsServiceCollectionExtensions
{
    /// <summary>The pool of users' accounts (every provider but Kiro), kept current from the change feed.</summary>
    public static IServiceCollection AddUpstreamAccounts(this IServiceCollection services)
    {
        services.AddSingleton<AccountPool>();
        services.AddSingleton<SignInFlows>();
        services.AddSingleton<IStoreChangeListener>(sp => sp.GetRequiredService<AccountPool>());
        return services;
    }

    /// <summary>
    /// Registers a provider's accounts under its name: its process-wide account (null when the settings give
    /// none) and whether users without an account of their own may use it (<c>…:ShareProcessLogin</c>).
    /// </summary>
    public static IServiceCollection AddProviderAccounts(this IServiceCollection services, string provider, IUpstreamAccount? process, bool shareProcessLogin)
        => services.AddKeyedSingleton(provider, (sp, _) => new ProviderAccounts(provider, process, shareProcessLogin,
            sp.GetRequiredService<AccountPool>(), sp.GetRequiredService<RoutingState>(), sp.GetRequiredService<LoginCooldowns>()));

    /// <summary>A provider's OAuth sign-in, which also renews its users' sign-ins.</summary>
    public static IServiceCollection AddOAuthSignIn(this IServiceCollection services, string provider, string upstream, OAuthSignInOptions options,
        Func<AccountSecret, System.Text.Json.JsonElement, AccountSecret>? finish = null)
    {
        services.AddSingleton(sp => new OAuthSignIn(provider, new OAuthPkceClient(Gapura.Providers.UpstreamHttp.Create(Gapura.Providers.UpstreamHttp.Handler(), TimeSpan.FromSeconds(60)), options, upstream,
            sp.GetService<TimeProvider>()), finish));
        services.AddSingleton<IAccountRefresher>(sp => sp.GetServices<OAuthSignIn>().First(s => s.Provider == provider));
        return services;
    }
}
