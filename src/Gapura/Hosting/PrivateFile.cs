namespace Gapura.Hosting;

/// <summary>Files that hold secrets (logins, keys): written atomically and readable by their owner only.</summary>
internal static class PrivateFile
{
    public const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>
    /// Writes a whole file atomically (temp file + rename) with the given Unix mode, so no reader ever sees
    /// half a file or a moment of wider permissions.
    /// </summary>
    public static void Write(string path, ReadOnlySpan<byte> bytes, UnixFileMode mode = OwnerOnly)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
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
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
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

    /// <summary>The file's current mode, to keep it when rewriting; null on Windows or when it does not exist.</summary>
    public static UnixFileMode? ModeOf(string path)
        => OperatingSystem.IsWindows() || !File.Exists(path) ? null : File.GetUnixFileMode(path);
}
