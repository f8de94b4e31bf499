using Gapura.Budgets;
using Gapura.Budgets.RateLimits;
using Gapura.Conversations;
using Gapura.Identity;
using Gapura.Storage;
using Gapura.Storage.Migrations;
using Gapura.Tests.Integration;
using Gapura.Tests.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Gapura.Tests.Budgets.RateLimits;

/// <summary>The request path's side of rate limits: who is limited, what a refusal says, releases and renewals, an unreachable store.</summary>
public sealed class RateLimiterTests : IAsyncLifetime
{
    private static readonly Caller Alice = new(42, "alice@example.com", UserRole.User, 7, "sk-gp-ab12cd");

    private readonly SqliteBackend _backend = new();
    private readonly ManualTime _time = new(new DateTimeOffset(2026, 3, 1, 12, 0, 10, TimeSpan.Zero));
    private readonly CapturedLogs _logs = new();
    private readonly ILoggerFactory _loggers;
    private Database _db = null!;

    public RateLimiterTests() => _loggers = LoggerFactory.Create(b => b.AddProvider(_logs));

    public async Task InitializeAsync()
    {
        _db = await _backend.NewDatabaseAsync();
        await new Migrator(_db).MigrateAsync();
    }

    public async Task DisposeAsync()
    {
        _loggers.Dispose();
        await _backend.DisposeAsync();
    }

    private RateLimiter Limiter(Dictionary<string, string?> settings, IRateLimitCounters? counters = null, bool failOpen = false)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        // The definitions come from the configuration file alone here: the store is never asked.
        var source = new BudgetConfigSource(null!, configuration, NullLogger<BudgetConfigSource>.Instance);
        return new RateLimiter(source, counters ?? new SqlRateLimitCounters(_db), Options.Create(new RateLimitOptions()),
            Options.Create(new BudgetOptions { FailOpen = failOpen }), _time, _loggers.CreateLogger<RateLimiter>());
    }

    [Fact]
    public async Task A_caller_no_limit_applies_to_gets_null_without_allocating_or_asking_the_store()
    {
        var throwing = new ThrowingCounters();
        // No limits at all; then limits, but only for keys (the bootstrap key has none) — neither applies.
        foreach (var settings in new Dictionary<string, string?>[] { new(), new() { ["RateLimits:Key:Default:requestsPerMinute"] = "1" } })
        {
            var limiter = Limiter(settings, throwing);
            var bootstrap = new Caller(1, "admin@example.com", UserRole.Admin, null, "bootstrap");
            Assert.Null(await limiter.AcquireAsync(null, 100, CancellationToken.None));
            Assert.Null(await limiter.AcquireAsync(bootstrap, 100, CancellationToken.None));
            var before = GC.GetAllocatedBytesForCurrentThread();
            for (var i = 0; i < 1000; i++)
            {
                var pending = limiter.AcquireAsync(bootstrap, 100, CancellationToken.None);
                Assert.True(pending.IsCompletedSuccessfully);
                Assert.Null(await pending);
            }
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, throwing.Calls);
    }

    [Fact]
    public async Task A_refusal_is_a_429_naming_the_scope_and_the_limit_with_the_wait()
    {
        var limiter = Limiter(new() { ["RateLimits:Key:Default:requestsPerMinute"] = "1", ["RateLimits:User:Default:requestsPerMinute"] = "5" });
        Assert.NotNull(await limiter.AcquireAsync(Alice, 10, CancellationToken.None));
        var e = await Assert.ThrowsAsync<GatewayException>(async () => await limiter.AcquireAsync(Alice, 10, CancellationToken.None));
        Assert.Equal((ErrorKind.RateLimited, 429, TimeSpan.FromSeconds(110)), (e.Kind, e.Status, e.RetryAfter));
        Assert.Equal("Rate limit of key sk-gp-ab12cd…: 1 request per minute reached; retry in 110 s.", e.Message);

        var byUser = Limiter(new() { ["RateLimits:User:Default:concurrentRequests"] = "2" });
        Assert.NotNull(await byUser.AcquireAsync(Alice, 10, CancellationToken.None));
        Assert.NotNull(await byUser.AcquireAsync(Alice, 10, CancellationToken.None));
        e = await Assert.ThrowsAsync<GatewayException>(async () => await byUser.AcquireAsync(Alice, 10, CancellationToken.None));
        Assert.Equal("Rate limit of user alice@example.com: 2 concurrent requests reached; retry in 1 s.", e.Message);
        Assert.Equal(TimeSpan.FromSeconds(1), e.RetryAfter);
    }

    [Fact]
    public async Task A_release_frees_the_slot_in_the_background_and_renewals_keep_running_requests_counted()
    {
        var limiter = Limiter(new() { ["RateLimits:Key:Default:concurrentRequests"] = "1", ["RateLimits:Key:Default:tokensPerMinute"] = "100000" });
        using var stop = new CancellationTokenSource();
        var releases = limiter.RunReleasesAsync(stop.Token);
        try
        {
            var first = await limiter.AcquireAsync(Alice, 500, CancellationToken.None);
            Assert.NotNull(first);
            await Assert.ThrowsAsync<GatewayException>(async () => await limiter.AcquireAsync(Alice, 10, CancellationToken.None));

            // A request running longer than a lease's lifetime stays counted while its instance renews it.
            _time.Advance(TimeSpan.FromSeconds(100));
            await limiter.RenewAsync(CancellationToken.None);
            _time.Advance(TimeSpan.FromSeconds(100));
            await Assert.ThrowsAsync<GatewayException>(async () => await limiter.AcquireAsync(Alice, 10, CancellationToken.None));

            first.Release(1234); // returns at once; the write happens in the background
            first.Release(99_999); // a second release is ignored
            var counters = new SqlRateLimitCounters(_db);
            var deadline = DateTime.UtcNow.AddSeconds(5);
            while ((await counters.ReadAsync("key:7", _time.Now, CancellationToken.None)).OpenLeases > 0)
            {
                Assert.True(DateTime.UtcNow < deadline, "the release was not written within 5 s");
                await Task.Delay(10);
            }
            Assert.Equal(0, limiter.OpenLeases);
            // The estimate (500) was charged 200 s ago, two minutes back: the correction of +734 counts now.
            Assert.Equal(734, (await counters.ReadAsync("key:7", _time.Now, CancellationToken.None)).Window.Tokens);
            Assert.NotNull(await limiter.AcquireAsync(Alice, 10, CancellationToken.None));
        }
        finally
        {
            await stop.CancelAsync();
            await releases;
        }
    }

    [Fact]
    public async Task An_unreachable_store_refuses_with_a_503_unless_budgets_fail_open()
    {
        // Nothing listens on port 1: StackExchange.Redis reports no connection.
        await using var nowhere = new RedisConnection("127.0.0.1:1,connectTimeout=300,asyncTimeout=300,syncTimeout=300,abortConnect=false");
        var counters = new RedisRateLimitCounters(nowhere);
        var settings = new Dictionary<string, string?> { ["RateLimits:User:Default:requestsPerMinute"] = "10" };

        var closed = Limiter(settings, counters);
        var e = await Assert.ThrowsAsync<GatewayException>(async () => await closed.AcquireAsync(Alice, 10, CancellationToken.None));
        Assert.Equal((ErrorKind.UpstreamUnavailable, 503), (e.Kind, e.Status));
        Assert.Contains("rate limits cannot be checked", e.Message);

        var open = Limiter(settings, counters, failOpen: true);
        Assert.Null(await open.AcquireAsync(Alice, 10, CancellationToken.None));
        Assert.Contains(_logs.Lines, l => l.StartsWith("Warning", StringComparison.Ordinal) && l.Contains("Rate limits not checked", StringComparison.Ordinal));
    }

    [Fact]
    public void A_lease_lifetime_out_of_range_stops_the_gateway_naming_the_setting()
    {
        var source = new BudgetConfigSource(null!, new ConfigurationBuilder().Build(), NullLogger<BudgetConfigSource>.Instance);
        var e = Assert.Throws<BudgetConfigException>(() => new RateLimiter(source, new ThrowingCounters(), Options.Create(new RateLimitOptions { LeaseSeconds = 2 }),
            Options.Create(new BudgetOptions()), _time, NullLogger<RateLimiter>.Instance));
        Assert.Equal("RateLimits:LeaseSeconds", e.Field);
    }

    private sealed class ThrowingCounters : IRateLimitCounters
    {
        public int Calls;

        private Task<T> Fail<T>()
        {
            Interlocked.Increment(ref Calls);
            throw new InvalidOperationException("The counters were asked.");
        }

        public Task<RateAcquireResult> AcquireAsync(RateAcquire request, CancellationToken ct) => Fail<RateAcquireResult>();
        public Task ReleaseAsync(IReadOnlyList<RateRelease> releases, DateTimeOffset now, CancellationToken ct) => Fail<int>();
        public Task<int> RenewAsync(IReadOnlyList<RateLeaseRef> leases, DateTimeOffset now, DateTimeOffset expiresAt, CancellationToken ct) => Fail<int>();
        public Task<int> ExpireAsync(DateTimeOffset now, CancellationToken ct) => Fail<int>();
        public Task<RateScopeState> ReadAsync(string scope, DateTimeOffset now, CancellationToken ct) => Fail<RateScopeState>();
    }
}

/// <summary>PostgreSQL dropping off the network between two requests: the limiter answers as for any unreachable store.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresRateLimitOutageTests(PostgresCluster cluster)
{
    [Fact]
    public async Task A_database_lost_mid_use_is_unavailable_and_the_request_a_503()
    {
        var direct = new Npgsql.NpgsqlConnectionStringBuilder(await cluster.CreateIsolatedAsync(nameof(PostgresRateLimitOutageTests)));
        await using (var migrate = new PostgresDatabase(direct.ConnectionString)) await new Migrator(migrate).MigrateAsync();
        await using var relay = new Gapura.Tests.Resilience.TcpRelay(direct.Port);
        await using var db = new PostgresDatabase(new Npgsql.NpgsqlConnectionStringBuilder(direct.ConnectionString) { Port = relay.Port, Timeout = 2, CommandTimeout = 3 }.ConnectionString);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["RateLimits:User:Default:concurrentRequests"] = "5" }).Build();
        var limiter = new RateLimiter(new BudgetConfigSource(null!, configuration, NullLogger<BudgetConfigSource>.Instance), new SqlRateLimitCounters(db),
            Options.Create(new RateLimitOptions()), Options.Create(new BudgetOptions()), TimeProvider.System, NullLogger<RateLimiter>.Instance);
        var caller = new Caller(42, "alice@example.com", UserRole.User, 7, "sk-gp-ab12cd");
        Assert.NotNull(await limiter.AcquireAsync(caller, 10, CancellationToken.None)); // a pooled connection now exists

        relay.Cut();
        var e = await Assert.ThrowsAsync<GatewayException>(async () => await limiter.AcquireAsync(caller, 10, CancellationToken.None));
        Assert.Equal((ErrorKind.UpstreamUnavailable, 503), (e.Kind, e.Status));
        await Assert.ThrowsAsync<DatabaseUnavailableException>(() => new SqlRateLimitCounters(db).ReadAsync("user:42", DateTimeOffset.UtcNow, CancellationToken.None));
    }
}
