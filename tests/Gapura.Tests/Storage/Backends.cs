using Gapura.Secrets;
using Gapura.Storage;
using Gapura.Storage.Migrations;
using Microsoft.Data.Sqlite;

namespace Gapura.Tests.Storage;

/// <summary>Makes fresh, empty databases of one back end for a test, and cleans them up after it.</summary>
internal interface IBackend : IAsyncDisposable
{
    Task<Database> NewDatabaseAsync();

    /// <summary>A second <see cref="Database"/> object over the same data, as another instance would have.</summary>
    Database OpenAgain(Database database);
}

internal sealed class SqliteBackend : IBackend
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gapura-sqlite-").FullName;
    private readonly List<Database> _opened = [];

    public Task<Database> NewDatabaseAsync()
        => Task.FromResult(Track(new SqliteDatabase(Path.Combine(_dir, $"db{_opened.Count}", "gapura.db"))));

    public Database OpenAgain(Database database) => Track(new SqliteDatabase(((SqliteDatabase)database).Path));

    private Database Track(Database database)
    {
        _opened.Add(database);
        return database;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var d in _opened) await d.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}

internal sealed class PostgresBackend(PostgresCluster cluster, string testClass) : IBackend
{
    private readonly List<(Database Db, string ConnectionString)> _opened = [];

    public async Task<Database> NewDatabaseAsync()
    {
        var cs = await cluster.CreateIsolatedAsync(testClass);
        return Track(new PostgresDatabase(cs), cs);
    }

    public Database OpenAgain(Database database)
    {
        var cs = _opened.First(o => ReferenceEquals(o.Db, database)).ConnectionString;
        return Track(new PostgresDatabase(cs), cs);
    }

    private Database Track(Database database, string connectionString)
    {
        _opened.Add((database, connectionString));
        return database;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (d, _) in _opened) await d.DisposeAsync();
    }
}

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;

    public void Advance(TimeSpan by) => Now += by;
}

/// <summary>
/// Base of every test that needs a store: a fresh, migrated database of the back end the concrete class
/// picks, a secrets box with a random key and a hand-moved clock. Each test class is written once as an
/// abstract class and runs on both back ends through a SQLite and a PostgreSQL subclass.
/// </summary>
public abstract class StoreTestBase : IAsyncLifetime
{
    private protected IBackend Backend { get; private set; } = null!;
    private protected Database Db { get; private set; } = null!;
    private protected SecretBox Box { get; private set; } = null!;
    private protected ManualTime Time { get; } = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, 123, TimeSpan.Zero));
    private protected GapuraStore Store { get; private set; } = null!;

    private protected abstract IBackend CreateBackend();

    /// <summary>Whether the test wants its database migrated before it starts.</summary>
    protected virtual bool Migrate => true;

    public async Task InitializeAsync()
    {
        Backend = CreateBackend();
        Db = await Backend.NewDatabaseAsync();
        if (Migrate) await new Migrator(Db).MigrateAsync();
        Box = new SecretBox(new KeyRing(SecretKey.Generate()));
        Store = new GapuraStore(Db, Box, Time);
    }

    public async Task DisposeAsync() => await Backend.DisposeAsync();

    private protected GapuraStore StoreWith(SecretBox box) => new(Db, box, Time);

    private protected Task<User> NewUserAsync(string? email = null, UserRole role = UserRole.User)
        => Store.Users.CreateAsync(new NewUser(email ?? $"u{Guid.NewGuid():N}@example.com", "Someone", role));

    /// <summary>Runs a raw query, for checking what actually landed in the tables.</summary>
    private protected async Task<long> CountAsync(string sql, params (string Name, object? Value)[] args)
    {
        await using var connection = await Db.OpenAsync(CancellationToken.None);
        var command = new DbSession(Db, connection, null).Sql(sql);
        foreach (var (name, value) in args) command.Param(name, value);
        return await command.ScalarAsync<long>(CancellationToken.None);
    }

    /// <summary>The first row's column <c>v</c> as text.</summary>
    private protected async Task<string?> ScalarTextAsync(string sql, params (string Name, object? Value)[] args)
    {
        await using var connection = await Db.OpenAsync(CancellationToken.None);
        var command = new DbSession(Db, connection, null).Sql(sql);
        foreach (var (name, value) in args) command.Param(name, value);
        return (await command.ListAsync(r => r.StringOrNull("v"), CancellationToken.None)).FirstOrDefault();
    }

    private protected async Task ExecuteAsync(string sql, params (string Name, object? Value)[] args)
    {
        await using var connection = await Db.OpenAsync(CancellationToken.None);
        var command = new DbSession(Db, connection, null).Sql(sql);
        foreach (var (name, value) in args) command.Param(name, value);
        await command.ExecuteAsync(CancellationToken.None);
    }
}
