using System.Diagnostics;
using Gapura.Storage;
using Gapura.Storage.Migrations;
using Xunit.Abstractions;

namespace Gapura.Tests.Storage;

public abstract class MigrationTests(ITestOutputHelper output) : StoreTestBase
{
    private protected ITestOutputHelper Output { get; } = output;

    protected override bool Migrate => false;

    [Fact]
    public async Task Migrating_applies_every_step_once_and_again_does_nothing()
    {
        var migrator = new Migrator(Db);
        var clock = Stopwatch.StartNew();
        var first = await migrator.MigrateAsync();
        Output.WriteLine($"{Db.Backend}: first migration {clock.ElapsedMilliseconds} ms");
        var second = await migrator.MigrateAsync();
        var third = await new Migrator(Backend.OpenAgain(Db)).MigrateAsync();

        Assert.Equal(Schema.All.Count, first.Applied);
        Assert.Equal(Schema.All.Count, first.Version);
        Assert.Equal(0, second.Applied);
        Assert.Equal(0, third.Applied);
        Assert.Equal(Enumerable.Range(1, Schema.All.Count), await migrator.AppliedVersionsAsync());
        Assert.Equal(0, await Store.Changes.GetVersionAsync());
    }

    [Fact]
    public async Task Instances_starting_at_the_same_moment_migrate_once()
    {
        // Four "instances", each with its own Database object (own pool, own connections), released together.
        var migrators = Enumerable.Range(0, 4).Select(_ => new Migrator(Backend.OpenAgain(Db))).ToList();
        using var go = new ManualResetEventSlim();
        var runs = migrators.Select(m => Task.Run(async () => { go.Wait(); return await m.MigrateAsync(); })).ToList();
        go.Set();
        var results = await Task.WhenAll(runs);

        Assert.Equal(Schema.All.Count, results.Sum(r => r.Applied));
        Assert.Single(results, r => r.Applied > 0);
        Assert.All(results, r => Assert.Equal(Schema.All.Count, r.Version));
        Assert.Equal(Enumerable.Range(1, Schema.All.Count), await new Migrator(Db).AppliedVersionsAsync());
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM change_seq"));
    }

    [Fact]
    public async Task A_failing_step_leaves_the_schema_as_it_was()
    {
        var good = new Migration(1, "good", "CREATE TABLE t1 (id INTEGER PRIMARY KEY)", "CREATE TABLE t1 (id integer PRIMARY KEY)");
        await new Migrator(Db, steps: [good]).MigrateAsync();
        var second = new Migration(2, "adds t2", "CREATE TABLE t2 (id INTEGER)", "CREATE TABLE t2 (id integer)");
        var broken = new Migration(3, "broken", "CREATE TABLE oops (", "CREATE TABLE oops (");

        var error = await Assert.ThrowsAsync<MigrationException>(() => new Migrator(Db, steps: [good, second, broken]).MigrateAsync());

        Assert.Contains("Migration 3 (broken)", error.Message);
        Assert.Contains("Nothing was changed", error.Message);
        Assert.Equal([1], await new Migrator(Db).AppliedVersionsAsync());
        // Step 2 ran inside the same transaction and went with it.
        var t2 = Db.Backend == StorageBackend.Sqlite
            ? "SELECT count(*) FROM sqlite_master WHERE name = 't2'"
            : "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 't2'";
        Assert.Equal(0, await CountAsync(t2));
    }

    [Fact]
    public void Steps_must_be_numbered_without_gaps()
    {
        var step = new Migration(2, "two", "", "");
        Assert.Throws<InvalidOperationException>(() => new Migrator(Db, steps: [step]));
    }
}

public sealed class SqliteMigrationTests(ITestOutputHelper output) : MigrationTests(output)
{
    private protected override IBackend CreateBackend() => new SqliteBackend();

    [Fact]
    public async Task The_file_is_created_with_its_folder_in_wal_mode()
    {
        var path = ((SqliteDatabase)Db).Path;
        Assert.False(File.Exists(path));
        await new Migrator(Db).MigrateAsync();
        Assert.True(File.Exists(path));
        Assert.Equal("wal", await ScalarTextAsync("SELECT journal_mode AS v FROM pragma_journal_mode()"));
    }

    [Fact]
    public async Task An_unusable_path_is_a_clear_error_naming_the_file()
    {
        var blocker = Path.GetTempFileName();
        try
        {
            await using var db = new SqliteDatabase(Path.Combine(blocker, "sub", "gapura.db"));
            var error = await Assert.ThrowsAsync<DatabaseUnavailableException>(() => new Migrator(db).MigrateAsync());
            Assert.Equal(StorageBackend.Sqlite, error.Backend);
            Assert.Contains("Sqlite", error.Message);
            Assert.Contains(Path.Combine(blocker, "sub", "gapura.db"), error.Message);
        }
        finally
        {
            File.Delete(blocker);
        }
    }
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresMigrationTests(PostgresCluster cluster, ITestOutputHelper output) : MigrationTests(output)
{
    private protected override IBackend CreateBackend() => new PostgresBackend(cluster, GetType().Name);

    [Fact]
    public void The_cluster_started_quickly()
    {
        Output.WriteLine($"PostgreSQL private cluster: initdb + start {cluster.StartTime.TotalMilliseconds:F0} ms on port {cluster.Port}");
        Assert.InRange(cluster.StartTime, TimeSpan.Zero, TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task An_unreachable_server_is_a_clear_error_without_the_password()
    {
        const string password = "hunter2-do-not-print";
        var port = cluster.Port == 1 ? 2 : 1;
        await using var db = new PostgresDatabase($"Host=127.0.0.1;Port={port};Database=gapura;Username=gapura;Password={password};Timeout=3");

        var error = await Assert.ThrowsAsync<DatabaseUnavailableException>(() => new Migrator(db).MigrateAsync());

        Assert.Equal(StorageBackend.Postgres, error.Backend);
        Assert.Contains($"Postgres database at 127.0.0.1:{port}, database 'gapura' as 'gapura'", error.Message);
        Assert.DoesNotContain(password, error.ToString());
    }

    [Fact]
    public async Task A_missing_database_is_a_clear_error_without_the_password()
    {
        const string password = "another-secret-value";
        await using var db = new PostgresDatabase($"Host=127.0.0.1;Port={cluster.Port};Database=nope;Username=postgres;Password={password};Timeout=3");

        var error = await Assert.ThrowsAsync<DatabaseUnavailableException>(() => new Migrator(db).MigrateAsync());

        Assert.Contains("database 'nope' as 'postgres'", error.Message);
        Assert.Contains("does not exist", error.Message);
        Assert.DoesNotContain(password, error.ToString());
    }
}
