using System.Data.Common;

namespace Gapura.Storage;

internal enum StorageBackend
{
    Sqlite,
    Postgres,
}

/// <summary>
/// One back end: how to open a connection, how its types differ, and how it serialises migrations.
/// Everything above this class speaks the same SQL to both, so a repository is written once.
/// </summary>
internal abstract class Database : IAsyncDisposable
{
    public abstract StorageBackend Backend { get; }

    /// <summary>Where the data lives, for error messages and logs. Never contains a password.</summary>
    public abstract string Target { get; }

    /// <summary>An open connection; a failure to reach the database is a <see cref="DatabaseUnavailableException"/>.</summary>
    public abstract Task<DbConnection> OpenAsync(CancellationToken ct);

    /// <summary>
    /// Starts a transaction that is allowed to write. SQLite takes its write lock up front so two
    /// writers queue instead of dead-locking when both try to upgrade a read lock.
    /// </summary>
    public abstract ValueTask<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken ct);

    /// <summary>Runs <paramref name="work"/> while holding the database-wide migration lock.</summary>
    public abstract Task<T> WithMigrationLockAsync<T>(Func<DbConnection, Task<T>> work, Action onWaiting, CancellationToken ct);

    public abstract bool IsUniqueViolation(DbException exception);

    /// <summary>Time as the back end stores it: SQLite epoch milliseconds, PostgreSQL <c>timestamptz</c>.</summary>
    public abstract object ToDb(DateTimeOffset value);

    public abstract DateTimeOffset ReadTime(DbDataReader reader, int ordinal);

    /// <summary>Picks the migration text written for this back end.</summary>
    public string SqlFor(Migrations.Migration migration)
        => Backend == StorageBackend.Sqlite ? migration.Sqlite : migration.Postgres;

    public virtual ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public string Describe() => $"{Backend} {Target}";
}
