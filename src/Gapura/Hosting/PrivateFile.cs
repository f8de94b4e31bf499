namespace Gapura.Hosting;

/// <summary>
/// Files that hold secrets (logins, keys): written atomically and readable by their owner only (mode 600), in a folder
/// only the owner can enter (mode 700) when Gapura creates it.
/// </summary>
internal static class PrivateFile
{
    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    public const UnixFileMode OwnerOnlyFolder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>
    /// Creates a missing folder mode 700. A folder that already exists is left as it is: it may be shared on purpose
    /// (<c>/tmp</c>, a home folder), and the files inside are 600 anyway.
    /// </summary>
    public static void EnsureFolder(string directory)
    {
        if (Directory.Exists(directory)) return;
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(directory);
        else Directory.CreateDirectory(directory, OwnerOnlyFolder);
    }

    /// <summary>
    /// Sets an existing file that other local users may read or write to mode 600, with a warning naming it (an older
    /// version, a copy or an editor may have left it looser). True when it was tightened.
    /// </summary>
    public static bool Tighten(string path, ILogger? log)
    {
        if (OperatingSystem.IsWindows() || !File.Exists(path)) return false;
        var mode = File.GetUnixFileMode(path);
        if ((mode & ~(OwnerOnly | UnixFileMode.UserExecute)) == 0) return false;
        File.SetUnixFileMode(path, OwnerOnly);
        log?.LogWarning("{Path} holds secrets but other local users could read it (mode {Mode}); set it to 600 (`chmod 600`)",
            path, Convert.ToString((int)mode, 8));
        return true;
    }

    /// <summary>
    /// Writes a whole file atomically (temp file + rename) with the given Unix mode, so no reader ever sees
    /// half a file or a moment of wider permissions.
    /// </summary>
    public static void Write(string path, ReadOnlySpan<byte> bytes, UnixFileMode mode = OwnerOnly)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        EnsureFolder(directory);
        var temp = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = mode;
        try
        {
            using (var stream = new FileStream(temp, options))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>
    /// Creates the file only if it does not exist (O_CREAT|O_EXCL), mode set from the first byte; false when
    /// another process got there first. Unlike a temp file renamed into place, of several processes racing to
    /// create the same file exactly one succeeds, so they all end up agreeing on its content.
    /// </summary>
    public static bool TryCreate(string path, ReadOnlySpan<byte> bytes, UnixFileMode mode = OwnerOnly)
    {
        EnsureFolder(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.Read };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = mode;
        try
        {
            using var stream = new FileStream(path, options);
            stream.Write(bytes);
            stream.Flush(flushToDisk: true);
            return true;
        }
        catch (IOException) when (File.Exists(path))
        {
            return false;
        }
    }
}
