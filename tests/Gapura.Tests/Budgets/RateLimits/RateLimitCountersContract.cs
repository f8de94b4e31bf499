using Gapura.Budgets.RateLimits;
using Gapura.Storage;
using Gapura.Storage.Migrations;
using Gapura.Tests.Storage;

namespace Gapura.Tests.Budgets.RateLimits;

/// <summary>
/// What every rate-limit counter store must do, written once and run against SQLite, PostgreSQL and Redis. Each test
/// may open several counter objects over the same data, as several gateway instances would; a hand-moved clock
/// stands in for time.
/// </summary>
public abstract class RateLimitCountersContract : IAsyncLifetime
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(120);

    /// <summary>Ten seconds into a minute, so the sliding arithmetic below is easy to follow.</summary>
    private protected ManualTime Time { get; } = new(new DateTimeOffset(2026, 3, 1, 12, 0, 10, TimeSpan.Zero));

    // Scopes of their own per test: Redis logical databases are shared once there are more than 16 classes.
    private readonly string _user = "user:" + Random.Shared.NextInt64(1, 1L << 40);
    private readonly string _key = "key:" + Random.Shared.NextInt64(1, 1L << 40);

    /// <summary>The first call opens a fresh store; each later call another counter object over the same data.</summary>
    private protected abstract Task<IRateLimitCounters> OpenAsync();

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public abstract Task DisposeAsync();

    private protected RateScopeCharge User(int? rpm = null, long? tpm = null, int? concurrent = null) => new(_user, rpm, tpm, concurrent);

    private protected RateScopeCharge Key(int? rpm = null, long? tpm = null, int? concurrent = null) => new(_key, rpm, tpm, concurrent);

    private async Task<(string Lease, RateAcquireResult Result)> AcquireAsync(IRateLimitCounters counters, long tokens, params RateScopeCharge[] scopes)
    {
        var id = Guid.NewGuid().ToString("N");
        var result = await counters.AcquireAsync(new RateAcquire(id, "instance", tokens, scopes, Time.Now, Time.Now + Lease), CancellationToken.None);
        return (id, result);
    }

    private Task ReleaseAsync(IRateLimitCounters counters, string lease, RateScopeCharge[] scopes, DateTimeOffset acquiredAt, long delta)
        => counters.ReleaseAsync([new RateRelease(lease, [.. scopes.Select(s => s.Scope)],
            [.. scopes.Where(s => s.ConcurrentRequests is not null).Select(s => s.Scope)], RateClock.Of(acquiredAt).Minute, delta)], Time.Now, CancellationToken.None);

    private static void AssertRefused(RateAcquireResult result, string scope, RateDimension dimension, long limit, int retryAfterSeconds)
    {
        Assert.False(result.Admitted);
        var refusal = Assert.IsType<RateRefusal>(result.Refusal);
        Assert.Equal((scope, dimension, limit, TimeSpan.FromSeconds(retryAfterSeconds)), (refusal.Scope, refusal.Dimension, refusal.Limit, refusal.RetryAfter));
    }

    [Fact]
    public async Task Requests_per_minute_admit_the_limit_then_refuse_until_the_sliding_minute_has_room()
    {
        var counters = await OpenAsync();
        var user = User(rpm: 3);
        for (var i = 0; i < 3; i++) Assert.True((await AcquireAsync(counters, 10, user)).Result.Admitted);

        // 12:00:10, three in this minute: at x ms into the next minute the window holds 3·(60000 − x)/60000 of them,
        // which leaves room for one more (≤ 2) from 12:01:20 — 70 s from now.
        AssertRefused((await AcquireAsync(counters, 10, user)).Result, user.Scope, RateDimension.Requests, 3, 70);
        Time.Advance(TimeSpan.FromSeconds(69));
        AssertRefused((await AcquireAsync(counters, 10, user)).Result, user.Scope, RateDimension.Requests, 3, 1);
        Time.Advance(TimeSpan.FromSeconds(1));
        Assert.True((await AcquireAsync(counters, 10, user)).Result.Admitted);
        AssertRefused((await AcquireAsync(counters, 10, user)).Result, user.Scope, RateDimension.Requests, 3, 20);

        // Refusals were never counted: three last minute, one this minute.
        var state = await counters.ReadAsync(user.Scope, Time.Now, CancellationToken.None);
        Assert.Equal((1, 3), (state.Window.Requests, state.Window.PrevRequests));
        Assert.Equal(3.0, state.Window.SlidingRequests(RateClock.Of(Time.Now)), 6);

        // Two idle minutes later the window is empty again.
        Time.Advance(TimeSpan.FromMinutes(2));
        for (var i = 0; i < 3; i++) Assert.True((await AcquireAsync(counters, 10, user)).Result.Admitted);
    }

    [Fact]
    public async Task A_refusal_in_one_scope_counts_the_request_in_none()
    {
        var counters = await OpenAsync();
        var user = User(rpm: 10, concurrent: 10);
        var key = Key(rpm: 1);
        Assert.True((await AcquireAsync(counters, 100, user, key)).Result.Admitted);
        var refused = await AcquireAsync(counters, 100, user, key);
        Assert.False(refused.Result.Admitted);
        Assert.Equal((key.Scope, RateDimension.Requests), (refused.Result.Refusal!.Scope, refused.Result.Refusal.Dimension));

        var userState = await counters.ReadAsync(user.Scope, Time.Now, CancellationToken.None);
        Assert.Equal((1L, 100L, 1L), (userState.Window.Requests, userState.Window.Tokens, userState.OpenLeases));
    }

    [Fact]
    public async Task The_refusal_reported_is_the_limit_that_lifts_last()
    {
        var counters = await OpenAsync();
        var user = User(concurrent: 1);
        var key = Key(rpm: 1);
        Assert.True((await AcquireAsync(counters, 0, user, key)).Result.Admitted);
        // Both refuse: a free slot may come any second, the minute's one request leaves room only from 12:02:00.
        AssertRefused((await AcquireAsync(counters, 0, user, key)).Result, key.Scope, RateDimension.Requests, 1, 110);
    }

    [Fact]
    public async Task Tokens_per_minute_refuse_once_reached_and_a_release_replaces_the_estimate_with_the_real_use()
    {
        var counters = await OpenAsync();
        var user = User(tpm: 1000);
        Assert.True((await AcquireAsync(counters, 600, user)).Result.Admitted);
        var second = await AcquireAsync(counters, 600, user); // 600 < 1000: admitted, even though it takes the minute past the limit
        Assert.True(second.Result.Admitted);
        var refused = await AcquireAsync(counters, 1, user);
        Assert.False(refused.Result.Admitted);
        Assert.Equal((RateDimension.Tokens, 1000L), (refused.Result.Refusal!.Dimension, refused.Result.Refusal.Limit));
        Assert.InRange(refused.Result.Refusal.RetryAfter, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(120));

        // The second used 100 in all, not 600: 700 counted, room again.
        await ReleaseAsync(counters, second.Lease, [user], Time.Now, 100 - 600);
        Assert.Equal(700, (await counters.ReadAsync(user.Scope, Time.Now, CancellationToken.None)).Window.Tokens);
        var third = await AcquireAsync(counters, 10, user);
        Assert.True(third.Result.Admitted);

        // One that answered at length is counted at its real size.
        await ReleaseAsync(counters, third.Lease, [user], Time.Now, 1000 - 10);
        Assert.Equal(1700, (await counters.ReadAsync(user.Scope, Time.Now, CancellationToken.None)).Window.Tokens);
        Assert.False((await AcquireAsync(counters, 1, user)).Result.Admitted);
    }

    [Fact]
    public async Task A_refund_after_the_minute_turned_comes_off_the_minute_it_was_charged_to()
    {
        var counters = await OpenAsync();
        var user = User(tpm: 1000);
        Time.Advance(TimeSpan.FromSeconds(40)); // 12:00:50
        var acquiredAt = Time.Now;
        var (lease, result) = await AcquireAsync(counters, 900, user);
        Assert.True(result.Admitted);
        Time.Advance(TimeSpan.FromSeconds(15)); // 12:01:05: the 900 are last minute's now
        await ReleaseAsync(counters, lease, [user], acquiredAt, 50 - 900);
        var state = await counters.ReadAsync(user.Scope, Time.Now, CancellationToken.None);
        Assert.Equal((0L, 50L), (state.Window.Tokens, state.Window.PrevTokens));
    }

    [Fact]
    public async Task Concurrent_requests_are_leases_and_a_release_frees_a_slot()
    {
        var counters = await OpenAsync();
        var key = Key(concurrent: 2);
        var first = await AcquireAsync(counters, 0, key);
        Assert.True(first.Result.Admitted);
        Assert.True((await AcquireAsync(counters, 0, key)).Result.Admitted);
        AssertRefused((await AcquireAsync(counters, 0, key)).Result, key.Scope, RateDimension.Concurrent, 2, 1);

        await ReleaseAsync(counters, first.Lease, [key], Time.Now, 0);
        Assert.True((await AcquireAsync(counters, 0, key)).Result.Admitted);
        Assert.Equal(2, (await counters.ReadAsync(key.Scope, Time.Now, CancellationToken.None)).OpenLeases);

        // A released lease stays closed: renewing it (a renewal racing the release) brings nothing back.
        Assert.Equal(0, await counters.RenewAsync([new RateLeaseRef(first.Lease, [key.Scope])], Time.Now, Time.Now + Lease, CancellationToken.None));
        Assert.Equal(2, (await counters.ReadAsync(key.Scope, Time.Now, CancellationToken.None)).OpenLeases);
    }

    [Fact]
    public async Task The_leases_of_an_instance_that_died_stop_counting_when_they_expire()
    {
        var dead = await OpenAsync();
        var alive = await OpenAsync();
        var key = Key(concurrent: 1);
        Assert.True((await AcquireAsync(dead, 0, key)).Result.Admitted);
        // The instance dies here: no release, no renewal.
        Assert.False((await AcquireAsync(alive, 0, key)).Result.Admitted);
        Time.Advance(Lease - TimeSpan.FromSeconds(1));
        Assert.False((await AcquireAsync(alive, 0, key)).Result.Admitted);
        Time.Advance(TimeSpan.FromSeconds(2));
        Assert.True((await AcquireAsync(alive, 0, key)).Result.Admitted);

        await alive.ExpireAsync(Time.Now, CancellationToken.None);
        Assert.Equal(1, (await alive.ReadAsync(key.Scope, Time.Now, CancellationToken.None)).OpenLeases);
    }

    [Fact]
    public async Task A_renewed_lease_outlives_its_first_expiry_and_expires_a_lifetime_after_the_last_renewal()
    {
        var running = await OpenAsync();
        var other = await OpenAsync();
        var key = Key(concurrent: 1);
        var (lease, result) = await AcquireAsync(running, 0, key);
        Assert.True(result.Admitted);
        Time.Advance(TimeSpan.FromSeconds(100));
        Assert.Equal(1, await running.RenewAsync([new RateLeaseRef(lease, [key.Scope])], Time.Now, Time.Now + Lease, CancellationToken.None));
        Time.Advance(TimeSpan.FromSeconds(100)); // 200 s after the acquire, 100 after the renewal
        Assert.Equal(0, await other.ExpireAsync(Time.Now, CancellationToken.None));
        Assert.False((await AcquireAsync(other, 0, key)).Result.Admitted);
        Time.Advance(TimeSpan.FromSeconds(21));
        Assert.True((await AcquireAsync(other, 0, key)).Result.Admitted);
    }

    [Fact]
    public async Task A_hundred_acquires_racing_from_two_instances_admit_exactly_the_limit()
    {
        var a = await OpenAsync();
        var b = await OpenAsync();
        var perMinute = User(rpm: 20);
        var admitted = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => Task.Run(async () =>
            (await AcquireAsync(i % 2 == 0 ? a : b, 5, perMinute)).Result.Admitted)));
        Assert.Equal(20, admitted.Count(x => x));
        var state = await a.ReadAsync(perMinute.Scope, Time.Now, CancellationToken.None);
        Assert.Equal((20L, 100L), (state.Window.Requests, state.Window.Tokens));

        var concurrent = Key(concurrent: 20);
        admitted = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => Task.Run(async () =>
            (await AcquireAsync(i % 2 == 0 ? a : b, 0, concurrent)).Result.Admitted)));
        Assert.Equal(20, admitted.Count(x => x));
        Assert.Equal(20, (await b.ReadAsync(concurrent.Scope, Time.Now, CancellationToken.None)).OpenLeases);
    }
}

public sealed class SqliteRateLimitCountersTests : RateLimitCountersContract
{
    private readonly SqliteBackend _backend = new();
    private Database? _db;

    private protected override async Task<IRateLimitCounters> OpenAsync()
    {
        if (_db is null)
        {
            _db = await _backend.NewDatabaseAsync();
            await new Migrator(_db).MigrateAsync();
            return new SqlRateLimitCounters(_db);
        }
        return new SqlRateLimitCounters(_backend.OpenAgain(_db));
    }

    public override Task DisposeAsync() => _backend.DisposeAsync().AsTask();
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresRateLimitCountersTests(PostgresCluster cluster) : RateLimitCountersContract
{
    private readonly PostgresBackend _backend = new(cluster, nameof(PostgresRateLimitCountersTests));
    private Database? _db;

    private protected override async Task<IRateLimitCounters> OpenAsync()
    {
        if (_db is null)
        {
            _db = await _backend.NewDatabaseAsync();
            await new Migrator(_db).MigrateAsync();
            return new SqlRateLimitCounters(_db);
        }
        return new SqlRateLimitCounters(_backend.OpenAgain(_db));
    }

    public override Task DisposeAsync() => _backend.DisposeAsync().AsTask();
}

[Collection(RedisCollection.Name)]
public sealed class RedisRateLimitCountersTests(RedisServer redis) : RateLimitCountersContract
{
    private readonly string _connection = redis.NewDatabase();
    private readonly List<RedisConnection> _opened = [];

    /// <summary>Every object its own connection, as separate instances would have.</summary>
    private protected override Task<IRateLimitCounters> OpenAsync()
    {
        var connection = new RedisConnection(_connection);
        _opened.Add(connection);
        return Task.FromResult<IRateLimitCounters>(new RedisRateLimitCounters(connection));
    }

    public override async Task DisposeAsync()
    {
        foreach (var c in _opened) await c.DisposeAsync();
    }
}
