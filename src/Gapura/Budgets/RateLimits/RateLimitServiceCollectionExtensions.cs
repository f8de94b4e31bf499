using Gapura.Budgets.RateLimits;
using Gapura.Storage;

// Beside AddGapuraBudgets, which calls it: no extra using there.
namespace Gapura.Budgets;

internal static class RateLimitServiceCollectionExtensions
{
    /// <summary>
    /// Rate limits: the limiter the request path asks, its background renewals and releases, and the shared counters —
    /// in Redis when <c>ConnectionStrings:Redis</c> is set (a <see cref="RedisConnection"/> is registered), else in the
    /// gateway's database. Register after budgets (which register the definitions and the Redis connection).
    /// </summary>
    public static IServiceCollection AddGapuraRateLimits(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<RateLimitOptions>(configuration.GetSection(RateLimitOptions.Section));
        services.AddSingleton<IRateLimitCounters>(sp => sp.GetService<RedisConnection>() is { } redis
            ? new RedisRateLimitCounters(redis)
            : new SqlRateLimitCounters(sp.GetRequiredService<Database>()));
        services.AddSingleton<RateLimiter>();
        services.AddHostedService<RateLimitMaintenance>();
        return services;
    }
}
