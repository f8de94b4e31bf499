using Gapura.Budgets;
using Gapura.Budgets.Counters;
using Gapura.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Budgets.Counters;

/// <summary>Which store the counters live in follows <c>ConnectionStrings:Redis</c> alone.</summary>
public sealed class BudgetCountersRegistrationTests
{
    private static IBudgetCounters Resolve(params (string Key, string Value)[] settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value))).Build();
        var services = new ServiceCollection();
        // Never opened: resolving the counters only wires them.
        services.AddSingleton<Database>(new SqliteDatabase(Path.Combine(Path.GetTempPath(), $"gapura-unused-{Guid.NewGuid():N}", "gapura.db")));
        services.AddGapuraBudgets(configuration);
        return services.BuildServiceProvider().GetRequiredService<IBudgetCounters>();
    }

    [Fact]
    public void Without_a_redis_connection_string_the_counters_are_in_the_database() => Assert.IsType<SqlBudgetCounters>(Resolve());

    [Fact]
    public void With_a_redis_connection_string_the_counters_are_in_redis()
        => Assert.IsType<RedisBudgetCounters>(Resolve(("ConnectionStrings:Redis", "127.0.0.1:1,abortConnect=false")));

    [Fact]
    public void A_blank_redis_connection_string_counts_as_none() => Assert.IsType<SqlBudgetCounters>(Resolve(("ConnectionStrings:Redis", " ")));

    [Fact]
    public async Task An_unreachable_redis_is_reported_as_such_for_Budgets_FailOpen_to_decide()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // a port nothing listens on
        await using var redis = new RedisConnection($"127.0.0.1:{port},abortConnect=false,connectTimeout=300,asyncTimeout=500,syncTimeout=500,connectRetry=0");
        var counters = new RedisBudgetCounters(redis);
        var clock = System.Diagnostics.Stopwatch.StartNew();

        await Assert.ThrowsAsync<RedisUnavailableException>(() => counters.ReadAsync([new MeterKey("gateway", BudgetPeriod.Monthly, "2026-03")], default));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
    }
}
