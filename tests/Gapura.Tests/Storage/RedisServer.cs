using Gapura.Simulators.Redis;

namespace Gapura.Tests.Storage;

/// <summary>The test run's Redis: one <see cref="PrivateRedis"/> on 127.0.0.1, shared by the classes of the collection.</summary>
public sealed class RedisServer : IAsyncLifetime
{
    private PrivateRedis? _server;

    public PrivateRedis Server => _server ?? throw new InvalidOperationException("The test Redis has not started.");

    /// <summary>A connection string to a logical database of its own (see <see cref="PrivateRedis.NewDatabase"/>).</summary>
    public string NewDatabase() => Server.NewDatabase();

    public async Task InitializeAsync() => _server = await PrivateRedis.StartAsync();

    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<RedisServer>
{
    public const string Name = "Redis";
}
