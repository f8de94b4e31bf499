using System.ComponentModel.DataAnnotations;

namespace Gapura.Storage;

/// <summary>
/// Settings of the store (section <c>Storage</c>; the PostgreSQL connection string comes from
/// <c>ConnectionStrings:Postgres</c> so it can live with the platform's other connection strings).
/// </summary>
internal sealed class StorageOptions
{
    public const string Section = "Storage";
    public const string Sqlite = "sqlite";
    public const string Postgres = "postgres";

    /// <summary><c>sqlite</c> (embedded, one instance) or <c>postgres</c> (shared by several instances).</summary>
    public string Provider { get; set; } = Sqlite;

    /// <summary>SQLite file; relative paths are taken from the working directory.</summary>
    public string Path { get; set; } = "data/gapura.db";

    /// <summary>How long a SQLite writer waits for another one before failing (they queue on one file lock).</summary>
    [Range(0, 600_000)]
    public int BusyTimeoutMilliseconds { get; set; } = 5000;

    /// <summary>Bound from <c>ConnectionStrings:Postgres</c>.</summary>
    public string? PostgresConnectionString { get; set; }

    /// <summary>The SQLite file as an absolute path.</summary>
    public string ResolvedPath => System.IO.Path.GetFullPath(Path, Directory.GetCurrentDirectory());
}
