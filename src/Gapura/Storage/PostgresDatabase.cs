using System.Data.Common;
using System.Net.Sockets;
using Npgsql;

namespace Gapura.Storage;

internal sealed class PostgresDatabase : Database
{
    // Any constant works as long as every instance uses the same one; this is "gapura" in ASCII.
    private const long MigrationLockKey = 0x6761707572_61;

    private readonly NpgsqlDataSource _dataSource;

    public PostgresDatabase(string connectionString)
    {
        NpgsqlConnectionStringBuilder builder;
        try { builder = new NpgsqlConnectionStringBuilder(connectionString); }
        catch (ArgumentException)
        {
            // The parser's message can quote part of the string, which may hold the password: say only what is wrong.
            throw new InvalidOperationException("ConnectionStrings:Postgres is not a valid PostgreSQL connection string.");
        }
        Target = $"{builder.Host ?? "localhost"}:{builder.Port}, database '{builder.Database ?? builder.Username}' as '{builder.Username}'";
        _dataSource = NpgsqlDataSource.Create(builder);
    }

    public override StorageBackend Backend => StorageBackend.Postgres;

    public override string Target { get; }

    public override async Task<DbConnection> OpenAsync(CancellationToken ct)
    {
        try
        {
            return await _dataSource.OpenConnectionAsync(ct);
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or TimeoutException)
        {
            throw new DatabaseUnavailableException(this, e);
        }
    }

    public override async ValueTask<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken ct)
        => await ((NpgsqlConnection)connection).BeginTransactionAsync(ct);

    public override async Task<T> WithMigrationLockAsync<T>(Func<DbConnection, Task<T>> work, Action onWaiting, CancellationToken ct)
    {
        await using var connection = await OpenAsync(ct);
        await using (var tryLock = new NpgsqlCommand("SELECT pg_try_advisory_lock(@key)", (NpgsqlConnection)connection))
        {
            tryLock.Parameters.AddWithValue("key", MigrationLockKey);
            if (!(bool)(await tryLock.ExecuteScalarAsync(ct))!)
            {
                onWaiting();
                await using var waitLock = new NpgsqlCommand("SELECT pg_advisory_lock(@key)", (NpgsqlConnection)connection);
                waitLock.Parameters.AddWithValue("key", MigrationLockKey);
                waitLock.CommandTimeout = 0;
                await waitLock.ExecuteNonQueryAsync(ct);
            }
        }
        try
        {
            return await work(connection);
        }
        finally
        {
            // Session locks survive a returned-to-pool connection, so release explicitly.
            await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock(@key)", (NpgsqlConnection)connection);
            unlock.Parameters.AddWithValue("key", MigrationLockKey);
            await unlock.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    public override ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    public override bool IsUniqueViolation(DbException exception)
        => exception is PostgresException { SqlState: PostgresErrorCodes.UniqueViolation };

    public override object ToDb(DateTimeOffset value) => value.ToUniversalTime();

    public override DateTimeOffset ReadTime(DbDataReader reader, int ordinal)
        => reader.GetFieldValue<DateTimeOffset>(ordinal);
}
