using System.Data.Common;

namespace Gapura.Storage;

/// <summary>
/// Where a repository's statements run: on a connection of their own (each write its own transaction),
/// or inside a transaction someone else opened (see <see cref="IGapuraStore.InTransactionAsync{T}"/>).
/// </summary>
internal interface IDbScope
{
    Database Database { get; }

    Task<T> ReadAsync<T>(Func<DbSession, Task<T>> work, CancellationToken ct);

    /// <summary>Runs <paramref name="work"/> atomically: all of its statements land, or none do.</summary>
    Task<T> WriteAsync<T>(Func<DbSession, Task<T>> work, CancellationToken ct);
}

internal sealed class ConnectionPerCallScope(Database database) : IDbScope
{
    public Database Database { get; } = database;

    public async Task<T> ReadAsync<T>(Func<DbSession, Task<T>> work, CancellationToken ct)
    {
        await using var connection = await Database.OpenAsync(ct);
        return await work(new DbSession(Database, connection, null));
    }

    public async Task<T> WriteAsync<T>(Func<DbSession, Task<T>> work, CancellationToken ct)
    {
        await using var connection = await Database.OpenAsync(ct);
        await using var transaction = await Database.BeginWriteAsync(connection, ct);
        T result;
        try
        {
            result = await work(new DbSession(Database, connection, transaction));
        }
        catch
        {
            await RollbackQuietlyAsync(transaction);
            throw;
        }
        await transaction.CommitAsync(ct);
        return result;
    }

    private static async Task RollbackQuietlyAsync(DbTransaction transaction)
    {
        // The connection may be gone (that may be why we are here); the original error is the one to report.
        try { await transaction.RollbackAsync(CancellationToken.None); }
        catch (DbException) { }
        catch (InvalidOperationException) { }
    }
}

/// <summary>
/// Joins an open transaction. Each write runs under a savepoint, so a repository call that fails (a
/// duplicate email, say) leaves no trace and — on PostgreSQL, which poisons a transaction after an
/// error — the caller may still carry on with the rest of its transaction.
/// </summary>
internal sealed class TransactionScope(DbSession session) : IDbScope
{
    private int _savepoints;

    public Database Database => session.Database;

    public Task<T> ReadAsync<T>(Func<DbSession, Task<T>> work, CancellationToken ct) => work(session);

    public async Task<T> WriteAsync<T>(Func<DbSession, Task<T>> work, CancellationToken ct)
    {
        var transaction = session.Transaction!;
        var name = "sp" + Interlocked.Increment(ref _savepoints).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await transaction.SaveAsync(name, ct);
        T result;
        try
        {
            result = await work(session);
        }
        catch
        {
            try { await transaction.RollbackAsync(name, CancellationToken.None); }
            catch (DbException) { }
            throw;
        }
        await transaction.ReleaseAsync(name, ct);
        return result;
    }
}
