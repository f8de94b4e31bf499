using Gapura.Storage;
using Microsoft.Data.Sqlite;

namespace Gapura.Tests.Storage;

/// <summary>
/// The SQLite database holds encrypted secrets and key hashes (issue 13, item 5): a new one is created mode 600 in a
/// mode 700 folder, its journal files follow, and an existing looser file is tightened.
/// </summary>
public sealed class SqliteFileModeTests : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly string _root = Directory.CreateTempSubdirectory("gapura-modes-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_root, recursive: true);
    }

    private static async Task WriteSomethingAsync(SqliteDatabase db)
    {
        await using var connection = await db.OpenAsync(CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = "CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);";
        await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task A_new_database_is_owner_only_in_an_owner_only_folder()
    {
        if (OperatingSystem.IsWindows()) return;
        var path = Path.Combine(_root, "data", "gapura.db");
        var db = new SqliteDatabase(path);
        await WriteSomethingAsync(db);
        // Held open: another test clearing every SQLite pool would close the last connection, and SQLite deletes the WAL then.
        await using var open = await db.OpenAsync(CancellationToken.None);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(path));
        Assert.True(File.Exists(path + "-wal"));
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(path + "-wal") & ~UnixFileMode.None);
        await db.DisposeAsync();
    }

    [Fact]
    public async Task An_existing_readable_database_is_tightened_and_a_shared_folder_left_alone()
    {
        if (OperatingSystem.IsWindows()) return;
        var folderMode = File.GetUnixFileMode(_root);
        var path = Path.Combine(_root, "old.db");
        await File.WriteAllBytesAsync(path, []);
        File.SetUnixFileMode(path, OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var db = new SqliteDatabase(path);
        await WriteSomethingAsync(db);
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(path));
        Assert.Equal(folderMode, File.GetUnixFileMode(_root));
        await db.DisposeAsync();
    }
}
