namespace Gapura.Routing;

internal static class RoutingServiceCollectionExtensions
{
    /// <summary>
    /// The routing stage: provider controls, the request router, and the change-feed sync that keeps them
    /// (and every other <see cref="IStoreChangeListener"/>, such as users' upstream logins) current.
    /// Register after storage: hosted services start in order, and the sync's first load needs the migrated database.
    /// </summary>
    public static IServiceCollection AddGapuraRouting(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<RoutingOptions>(configuration.GetSection(RoutingOptions.Section));
        services.AddSingleton<RoutingState>();
        services.AddSingleton<LoginCooldowns>();
        services.AddSingleton<IStoreChangeListener>(sp => sp.GetRequiredService<RoutingState>());
        services.AddSingleton<RequestRouter>();
        services.AddSingleton<Profiles.RoutingConfigSource>();
        services.AddSingleton<IStoreChangeListener>(sp => sp.GetRequiredService<Profiles.RoutingConfigSource>());
        services.AddSingleton<TaskRouter>();
        // Limits measured by `gapura probe-limits`, laid over every model catalog.
        services.AddSingleton<Providers.Limits.ProbedLimits>();
        services.AddSingleton<IStoreChangeListener>(sp => sp.GetRequiredService<Providers.Limits.ProbedLimits>());
        services.AddSingleton<StoreChangeSync>();
        services.AddHostedService(sp => sp.GetRequiredService<StoreChangeSync>());
        // Cool-downs (and sign-ins in progress) every instance shares: in the database, or Redis when configured.
        Storage.Shared.SharedStateServiceCollectionExtensions.AddSharedState(services);
        services.AddSingleton<CooldownSync>();
        services.AddHostedService(sp => sp.GetRequiredService<CooldownSync>());
        services.Configure<Canary.CanaryOptions>(configuration.GetSection(Canary.CanaryOptions.Section));
        services.AddHostedService<Canary.CanaryMonitor>();
        return services;
    }
}
