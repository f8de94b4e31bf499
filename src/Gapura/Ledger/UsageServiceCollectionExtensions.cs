using Gapura.Routing;

namespace Gapura.Ledger;

internal static class UsageServiceCollectionExtensions
{
    /// <summary>The usage ledger: prices, the request-side queue, the background writer and retention. Register after storage.</summary>
    public static IServiceCollection AddGapuraUsage(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<UsageOptions>(configuration.GetSection(UsageOptions.Section));
        services.Configure<PricingOptions>(configuration.GetSection(PricingOptions.Section));
        services.AddSingleton<PriceTable>();
        services.AddSingleton<IStoreChangeListener>(sp => sp.GetRequiredService<PriceTable>());
        services.AddSingleton<UsageLedger>();
        services.AddSingleton<UsageWriter>();
        services.AddHostedService(sp => sp.GetRequiredService<UsageWriter>());
        services.AddSingleton<UsageRetention>();
        services.AddHostedService(sp => sp.GetRequiredService<UsageRetention>());
        return services;
    }
}
