using Gapura.Storage;
using Gapura.Storage.Migrations;
using Gapura.Storage.Shared;

namespace Gapura.Tests.Storage;

/// <summary>
/// What every shared-state store must do (cool-downs, sign-ins in progress), written once and run against SQLite,
/// PostgreSQL and Redis. Each test opens two store objects over the same data, as two gateway instances would.
/// </summary>
public abstract class SharedStateContract : IAsyncLifetime
{
    /// <summary>Starts at the real time (whole seconds): Redis expires a flow's keys on its own clock.</summary>
    private protected ManualTime Time { get; } = new(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));

    // Names of their own per test: Redis logical databases are shared once there are more than 16 classes.
    private readonly string _provider = "p" + Random.Shared.NextInt64(1, 1L << 40);
    private readonly long _user = Random.Shared.NextInt64(1, 1L << 40);

    /// <summary>The first call opens a fresh store; each later call another store object over the same data.</summary>
    private protected abstract Task<ISharedState> OpenAsync();

    public virtual Task InitializeAsync() => Task.CompletedTask;

    public abstract Task DisposeAsync();

    private SignInFlowRow Flow(string kind = "device:test", long? user = null, TimeSpan? lifetime = null)
        => new(Guid.NewGuid().ToString("N"), kind, user ?? _user, "laptop", "gp1:sealed", Time.Now + (lifetime ?? TimeSpan.FromMinutes(10)), Time.Now, TimeSpan.FromSeconds(5));

    [Fact]
    public async Task A_rest_is_seen_by_every_instance_until_it_ends_and_the_later_end_wins()
    {
        var a = await OpenAsync();
        var b = await OpenAsync();
        var login = $"login:{_provider}:7";
        var provider = $"provider:{_provider}";
        await a.RestAsync([new SharedRest(login, Time.Now.AddSeconds(60)), new SharedRest(provider, Time.Now.AddSeconds(10))], Time.Now, default);
        // A shorter rest seen elsewhere does not cut the longer one; a longer one extends.
        await b.RestAsync([new SharedRest(login, Time.Now.AddSeconds(5)), new SharedRest(provider, Time.Now.AddSeconds(30))], Time.Now, default);

        var seen = (await a.RestingAsync(Time.Now, default)).Where(r => r.Key.Contains(_provider)).ToDictionary(r => r.Key, r => r.Until);
        Assert.Equal(Time.Now.AddSeconds(60), seen[login]);
        Assert.Equal(Time.Now.AddSeconds(30), seen[provider]);

        Time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal([login], (await b.RestingAsync(Time.Now, default)).Where(r => r.Key.Contains(_provider)).Select(r => r.Key));
        Time.Advance(TimeSpan.FromSeconds(30));
        Assert.DoesNotContain(await b.RestingAsync(Time.Now, default), r => r.Key.Contains(_provider));
        // A rest already over is not recorded at all.
        await a.RestAsync([new SharedRest(login, Time.Now)], Time.Now, default);
        Assert.DoesNotContain(await b.RestingAsync(Time.Now, default), r => r.Key.Contains(_provider));
    }

    [Fact]
    public async Task A_flow_added_on_one_instance_is_found_polled_once_and_removed_once_on_another()
    {
        var a = await OpenAsync();
        var b = await OpenAsync();
        var flow = Flow();
        Assert.True(await a.AddFlowAsync(flow, 5, Time.Now, default));
        Assert.Equal(flow, await b.FindFlowAsync(flow.Id, Time.Now, default));

        // One claim wins; the next poll waits until the time set after the poll.
        Assert.True(await b.ClaimPollAsync(flow.Id, Time.Now, Time.Now.AddSeconds(60), default));
        Assert.False(await a.ClaimPollAsync(flow.Id, Time.Now, Time.Now.AddSeconds(60), default));
        await b.SetNextPollAsync(flow.Id, Time.Now.AddSeconds(10), TimeSpan.FromSeconds(10), default);
        Assert.Equal((Time.Now.AddSeconds(10), TimeSpan.FromSeconds(10)), ((await a.FindFlowAsync(flow.Id, Time.Now, default))!.NextPollAt, (await a.FindFlowAsync(flow.Id, Time.Now, default))!.Interval));
        Time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(await a.ClaimPollAsync(flow.Id, Time.Now, Time.Now.AddSeconds(60), default));
        Time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await a.ClaimPollAsync(flow.Id, Time.Now, Time.Now.AddSeconds(60), default));

        Assert.True(await a.RemoveFlowAsync(flow.Id, default));
        Assert.False(await b.RemoveFlowAsync(flow.Id, default));
        Assert.Null(await b.FindFlowAsync(flow.Id, Time.Now, default));
    }

    [Fact]
    public async Task A_user_has_a_bounded_number_of_flows_of_a_kind_and_expired_ones_neither_count_nor_are_found()
    {
        var a = await OpenAsync();
        var b = await OpenAsync();
        var first = Flow(lifetime: TimeSpan.FromMinutes(1));
        Assert.True(await a.AddFlowAsync(first, 2, Time.Now, default));
        Assert.True(await b.AddFlowAsync(Flow(), 2, Time.Now, default));
        Assert.False(await a.AddFlowAsync(Flow(), 2, Time.Now, default));
        Assert.True(await a.AddFlowAsync(Flow(kind: "oauth:test"), 2, Time.Now, default)); // another kind
        Assert.True(await a.AddFlowAsync(Flow(user: _user + 1), 2, Time.Now, default));    // another user

        Time.Advance(TimeSpan.FromMinutes(1));
        Assert.Null(await b.FindFlowAsync(first.Id, Time.Now, default));
        Assert.False(await b.ClaimPollAsync(first.Id, Time.Now, Time.Now.AddSeconds(60), default));
        Assert.True(await b.AddFlowAsync(Flow(), 2, Time.Now, default)); // the expired one no longer counts
    }
}

public sealed class SqliteSharedStateTests : SharedStateContract
{
    private readonly SqliteBackend _backend = new();
    private Database? _db;

    private protected override async Task<ISharedState> OpenAsync()
    {
        if (_db is null)
        {
            _db = await _backend.NewDatabaseAsync();
            await new Migrator(_db).MigrateAsync();
            return new SqlSharedState(_db);
        }
        return new SqlSharedState(_backend.OpenAgain(_db));
    }

    public override Task DisposeAsync() => _backend.DisposeAsync().AsTask();
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresSharedStateTests(PostgresCluster cluster) : SharedStateContract
{
    private readonly PostgresBackend _backend = new(cluster, nameof(PostgresSharedStateTests));
    private Database? _db;

    private protected override async Task<ISharedState> OpenAsync()
    {
        if (_db is null)
        {
            _db = await _backend.NewDatabaseAsync();
            await new Migrator(_db).MigrateAsync();
            return new SqlSharedState(_db);
        }
        return new SqlSharedState(_backend.OpenAgain(_db));
    }

    public override Task DisposeAsync() => _backend.DisposeAsync().AsTask();
}

[Collection(RedisCollection.Name)]
public sealed class RedisSharedStateTests(RedisServer redis) : SharedStateContract
{
    private readonly string _connection = redis.NewDatabase();
    private readonly List<RedisConnection> _opened = [];

    /// <summary>Every object its own connection, as separate instances would have.</summary>
    private protected override Task<ISharedState> OpenAsync()
    {
        var connection = new RedisConnection(_connection);
        _opened.Add(connection);
        return Task.FromResult<ISharedState>(new RedisSharedState(connection));
    }

    public override async Task DisposeAsync()
    {
        foreach (var c in _opened) await c.DisposeAsync();
    }
}
