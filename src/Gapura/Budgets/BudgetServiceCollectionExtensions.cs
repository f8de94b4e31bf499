using Gapura.Budgets.Counters;
using Gapura.Routing;
using Gapura.Storage;

namespace Gapura.Budgets;

internal static class BudgetServiceCollectionExtensions
{
    /// <summary>
    /// Budgets and rate limits: their definitions (configuration file + admins' settings, kept current by the change
    /// feed) and their shared counters — in the database, or in Redis when <c>ConnectionStrings:Redis</c> is set.
    /// </summary>
    public static IServiceCollection AddGapuraBudgets(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<BudgetOptions>(configuration.GetSection("Budgets"));
        services.AddSingleton(sp => new BudgetWindows(
            BudgetWindows.ParseZone(sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<BudgetOptions>>().Value.TimeZone), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<BudgetConfigSource>();
        services.AddSingleton<IStoreChangeListener>(sp => sp.GetRequiredService<BudgetConfigSource>());
        var redis = configuration.GetConnectionString("Redis");
        if (!string.IsNullOrWhiteSpace(redis)) services.AddSingleton(_ => new RedisConnection(redis));
        services.AddSingleton<IBudgetCounters>(sp => string.IsNullOrWhiteSpace(redis) ? new SqlBudgetCounters(sp.GetRequiredService<Database>()) : new RedisBudgetCounters(sp.GetRequiredService<RedisConnection>()));
        services.AddSingleton<BudgetAnnouncer>();
        services.AddSingleton<BudgetSettlements>();
        services.AddHostedService(sp => sp.GetRequiredService<BudgetSettlements>());
        services.AddSingleton<BudgetGate>();
        services.AddGapuraBudgetAlerts();
        services.AddSingleton<BudgetReports>();
        services.AddGapuraRateLimits(configuration);
        return services;
    }
}
