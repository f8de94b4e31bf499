using System.Diagnostics;
using Gapura.Simulators.Postgres;
using Npgsql;

namespace Gapura.Tests.Storage;

/// <summary>
/// The test run's PostgreSQL: one <see cref="PrivatePostgres"/> cluster (127.0.0.1, a temporary folder, durability
/// off), shared by every test class of the collection, each class in a database of its own and each test in a schema.
/// </summary>
public sealed class PostgresCluster : IAsyncLifetime
{
    private static int s_databases;
    private static int s_schemas;

    private PrivatePostgres? _server;

    public int Port => _server?.Port ?? throw new InvalidOperationException("The test PostgreSQL cluster has not started.");

    /// <summary>initdb plus start, as measured by the fixture.</summary>
    public TimeSpan StartTime { get; private set; }

    public async Task InitializeAsync()
    {
        var clock = Stopwatch.StartNew();
        _server = await PrivatePostgres.StartAsync("gapura-pg-", "max_connections=200");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Stop();
        StartTime = clock.Elapsed;
    }

    public Task DisposeAsync()
    {
        Stop();
        return Task.CompletedTask;
    }

    private readonly Dictionary<string, Task<string>> _classDatabases = [];

    /// <summary>
    /// A connection string to a new, empty schema of its own, inside the database of the calling test
    /// class (created on its first use). A schema per test keeps tests apart at a fraction of the cost of
    /// CREATE DATABASE (a few ms against 100–300 ms), while each class still gets a database of its own.
    /// </summary>
    public async Task<string> CreateIsolatedAsync(string testClass)
    {
        Task<string> database;
        lock (_classDatabases)
        {
            if (!_classDatabases.TryGetValue(testClass, out database!))
                _classDatabases[testClass] = database = CreateDatabaseAsync(testClass);
        }
        var name = await database;
        var schema = $"s{Interlocked.Increment(ref s_schemas)}";
        await using var connection = new NpgsqlConnection(ConnectionString(name) + ";Pooling=false");
        await connection.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE SCHEMA {schema}", connection);
        await create.ExecuteNonQueryAsync();
        return ConnectionString(name) + $";Search Path={schema}";
    }

    private async Task<string> CreateDatabaseAsync(string testClass)
    {
        var name = new string(testClass.ToLowerInvariant().Where(char.IsAsciiLetterOrDigit).ToArray());
        name = name[..Math.Min(name.Length, 50)] + "_" + Interlocked.Increment(ref s_databases);
        await using var admin = new NpgsqlConnection(ConnectionString("postgres") + ";Pooling=false");
        await admin.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", admin);
        await create.ExecuteNonQueryAsync();
        return name;
    }

    public string ConnectionString(string database) => _server!.ConnectionString(database);

    private void Stop()
    {
        NpgsqlConnection.ClearAllPools();
        _server?.Stop();
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresCluster>
{
    public const string Name = "PostgreSQL cluster";
}
