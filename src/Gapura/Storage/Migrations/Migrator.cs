using System.Data.Common;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gapura.Storage.Migrations;

internal sealed record MigrationResult(int Applied, int Version, TimeSpan Elapsed);

/// <summary>
/// Brings a database up to the newest <see cref="Schema"/> step. Safe when several instances start at
/// once: the back end's migration lock (an advisory lock on PostgreSQL, the write lock of
/// <c>BEGIN IMMEDIATE</c> on SQLite) lets one in; the others wait and then find nothing left to do.
/// All pending steps run in one transaction, so a failed step leaves the schema where it was.
/// </summary>
internal sealed class Migrator
{
    private readonly Database _database;
    private readonly ILogger _log;
    private readonly IReadOnlyList<Migration> _steps;

    public Migrator(Database database, ILogger<Migrator>? log = null, IReadOnlyList<Migration>? steps = null)
    {
        _database = database;
        _log = (ILogger?)log ?? NullLogger.Instance;
        _steps = steps ?? Schema.All;
        for (var i = 0; i < _steps.Count; i++)
        {
            if (_steps[i].Version != i + 1)
                throw new InvalidOperationException($"Migration steps must be numbered 1, 2, 3… without gaps; step {i + 1} says {_steps[i].Version}.");
        }
    }

    public int LatestVersion => _steps.Count;

    public async Task<MigrationResult> MigrateAsync(CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        var (applied, version) = await _database.WithMigrationLockAsync(
            connection => ApplyPendingAsync(connection, ct),
            () => _log.LogInformation("Another instance is migrating {Target}; waiting for it", _database.Describe()),
            ct);
        var result = new MigrationResult(applied, version, clock.Elapsed);
        if (applied > 0)
            _log.LogInformation("Applied {Count} migration(s) to {Target} in {Ms} ms; schema at version {Version}",
                applied, _database.Describe(), (int)result.Elapsed.TotalMilliseconds, version);
        return result;
    }

    /// <summary>The versions recorded in the database, without changing anything.</summary>
    public async Task<IReadOnlyList<int>> AppliedVersionsAsync(CancellationToken ct = default)
    {
        await using var connection = await _database.OpenAsync(ct);
        var session = new DbSession(_database, connection, null);
        if (!await TableExistsAsync(session, ct)) return [];
        return await session.Sql("SELECT version FROM schema_migrations ORDER BY version").ListAsync(r => r.Int("version"), ct);
    }

    private async Task<(int Applied, int Version)> ApplyPendingAsync(DbConnection connection, CancellationToken ct)
    {
        await using var transaction = await _database.BeginWriteAsync(connection, ct);
        var session = new DbSession(_database, connection, transaction);
        var current = 0;
        Migration? running = null;
        try
        {
            await session.Sql(_database.Backend == StorageBackend.Sqlite
                    ? "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)"
                    : "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)")
                .ExecuteAsync(ct);
            var done = (await session.Sql("SELECT version FROM schema_migrations").ListAsync(r => r.Int("version"), ct)).ToHashSet();
            current = done.Count == 0 ? 0 : done.Max();
            if (current > _steps.Count)
            {
                // A newer gapura has migrated this database (a rolling upgrade); its steps only add, so carry on.
                _log.LogWarning("{Target} is at schema version {Version}, newer than this build knows ({Latest})",
                    _database.Describe(), current, _steps.Count);
            }
            var applied = 0;
            foreach (var step in _steps)
            {
                if (done.Contains(step.Version)) continue;
                running = step;
                await session.Sql(_database.SqlFor(step)).ExecuteAsync(ct);
                await session.Sql("INSERT INTO schema_migrations (version, name, applied_at) VALUES (@v, @n, @at)")
                    .Param("v", step.Version).Param("n", step.Name).Param("at", DateTimeOffset.UtcNow).ExecuteAsync(ct);
                applied++;
                current = Math.Max(current, step.Version);
            }
            await transaction.CommitAsync(ct);
            return (applied, current);
        }
        catch (DbException e)
        {
            await transaction.RollbackAsync(CancellationToken.None);
            var what = running is null ? "Reading the schema version" : $"Migration {running.Version} ({running.Name})";
            throw new MigrationException($"{what} failed on {_database.Describe()}: {e.Message}. Nothing was changed.", e);
        }
    }

    private async Task<bool> TableExistsAsync(DbSession session, CancellationToken ct)
    {
        var sql = _database.Backend == StorageBackend.Sqlite
            ? "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
            : "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'";
        return await session.Sql(sql).ScalarAsync<long>(ct) > 0;
    }
}
