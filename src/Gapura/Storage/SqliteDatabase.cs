using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Gapura.Storage;

internal sealed class SqliteDatabase : Database
{
    private readonly string _connectionString;
    private readonly int _busyTimeoutMs;
    private int _prepared;

    public SqliteDatabase(string path, int busyTimeoutMilliseconds = 5000)
    {
        Path = System.IO.Path.GetFullPath(path);
        _busyTimeoutMs = busyTimeoutMilliseconds;
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            // Microsoft.Data.Sqlite retries SQLITE_BUSY until the command timeout, on top of busy_timeout.
            DefaultTimeout = Math.Max(1, (busyTimeoutMilliseconds + 999) / 1000),
        }.ToString();
    }

    public string Path { get; }

    /// <summary>
    /// The database holds encrypted secrets and key hashes: its folder, when the gateway creates it, is mode 700, and the
    /// file itself 600 — created so before SQLite first opens it, or tightened when an existing one is looser. SQLite
    /// gives its journal files (<c>-wal</c>, <c>-shm</c>) the database file's mode; existing ones are tightened too.
    /// A folder that already existed is left as it is: it may be shared (<c>/tmp</c>).
    /// </summary>
    internal static void KeepPrivate(string path)
    {
        var directory = System.IO.Path.GetDirectoryName(path)!;
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(directory);
            return;
        }
        if (!Directory.Exists(directory)) Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        if (!File.Exists(path)) Gapura.Hosting.PrivateFile.TryCreate(path, []);
        foreach (var file in (ReadOnlySpan<string>)[path, path + "-wal", path + "-shm", path + "-journal"])
            if (File.Exists(file) && (File.GetUnixFileMode(file) & ~Gapura.Hosting.PrivateFile.OwnerOnly) != 0)
                File.SetUnixFileMode(file, Gapura.Hosting.PrivateFile.OwnerOnly);
    }

    public override StorageBackend Backend => StorageBackend.Sqlite;

    public override string Target => $"file '{Path}'";

    public override async Task<DbConnection> OpenAsync(CancellationToken ct)
    {
        if (Volatile.Read(ref _prepared) == 0)
        {
            try { KeepPrivate(Path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new DatabaseUnavailableException(this, e);
            }
        }
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(ct);
            await using var pragma = connection.CreateCommand();
            // Per connection: wait for the writer instead of failing, and enforce the declared foreign keys.
            // NORMAL is durable across application crashes in WAL mode and avoids an fsync per commit.
            pragma.CommandText = $"PRAGMA busy_timeout = {_busyTimeoutMs}; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;";
            await pragma.ExecuteNonQueryAsync(ct);
            if (Interlocked.CompareExchange(ref _prepared, 1, 0) == 0)
            {
                // WAL lets readers run beside the writer; the setting is stored in the file, so once is enough.
                pragma.CommandText = "PRAGMA journal_mode = WAL;";
                await pragma.ExecuteScalarAsync(ct);
            }
            return connection;
        }
        catch (SqliteException e)
        {
            await connection.DisposeAsync();
            // A busy or locked database is contention, not an unreachable one: let the caller see it as it is.
            if (e.SqliteErrorCode is 5 or 6) throw;
            throw new DatabaseUnavailableException(this, e);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    public override ValueTask<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken ct)
        // deferred: false is BEGIN IMMEDIATE — the write lock is taken now, behind busy_timeout.
        => ValueTask.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    public override async Task<T> WithMigrationLockAsync<T>(Func<DbConnection, Task<T>> work, Action onWaiting, CancellationToken ct)
    {
        // The migration itself runs inside one BEGIN IMMEDIATE transaction (see Migrator), which is the
        // lock: a second instance waits on busy_timeout, then finds the steps already recorded.
        await using var connection = await OpenAsync(ct);
        return await work(connection);
    }

    public override bool IsUniqueViolation(DbException exception)
        // SQLITE_CONSTRAINT_UNIQUE (2067) and SQLITE_CONSTRAINT_PRIMARYKEY (1555).
        => exception is SqliteException { SqliteExtendedErrorCode: 2067 or 1555 };

    public override object ToDb(DateTimeOffset value) => value.ToUnixTimeMilliseconds();

    public override DateTimeOffset ReadTime(DbDataReader reader, int ordinal)
        => DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(ordinal));
}
