using Microsoft.Extensions.Logging;

namespace Gapura.Secrets;

/// <summary>Builds the <see cref="KeyRing"/> from settings, or from the key file it creates on first start.</summary>
internal static class KeyRingLoader
{
    public const string DefaultKeyFileName = "gapura.key";

    private const UnixFileMode OwnerOnly = Hosting.PrivateFile.OwnerOnly;

    public static KeyRing Load(SecretsOptions options, string keyFilePath, ILogger log)
    {
        var current = string.IsNullOrWhiteSpace(options.Key)
            ? LoadOrCreateKeyFile(Path.GetFullPath(keyFilePath), log)
            : SecretKey.Parse(options.Key, "Secrets:Key");
        var previous = options.PreviousKeys
            .Where(k => !string.IsNullOrWhiteSpace(k))
            .Select((k, i) => SecretKey.Parse(k, $"Secrets:PreviousKeys:{i}"))
            .ToList();
        var ring = new KeyRing(current, previous);
        log.LogInformation("Secrets key ring: {Ring}", ring.ToString());
        return ring;
    }

    private static SecretKey LoadOrCreateKeyFile(string path, ILogger log)
    {
        if (File.Exists(path)) return ReadKeyFileSettled(path, log);

        Hosting.PrivateFile.EnsureFolder(Path.GetDirectoryName(path)!);
        var key = SecretKey.Generate();
        // Created in place with O_CREAT|O_EXCL (FileMode.CreateNew), mode 600 from the first byte: of several
        // instances starting at the same moment exactly one creates the file, and the others read its key.
        // (A temp file moved into place is not enough: File.Move without overwrite checks and then renames,
        // so two instances can both pass the check and the second rename replaces the first key.)
        var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) fileOptions.UnixCreateMode = OwnerOnly;
        try
        {
            using var stream = new FileStream(path, fileOptions);
            stream.Write(System.Text.Encoding.ASCII.GetBytes(key.ToBase64() + "\n"));
            // Stryker disable once Statement,Boolean : durability across a power cut only; disposing the stream writes the bytes either way
            stream.Flush(flushToDisk: true);
        }
        catch (IOException) when (File.Exists(path))
        {
            return ReadKeyFileSettled(path, log);
        }
        log.LogWarning(
            "Secrets:Key is not set: generated secrets key {KeyId} in {Path} (mode 600). Back this file up — stored provider " +
            "logins and TOTP seeds cannot be read without it — and give every instance sharing the database the same key " +
            "(Secrets:Key or Secrets:KeyFile).", key.Id, path);
        return key;
    }

    /// <summary>
    /// Reads a key file another instance may be writing this very moment (its one short write not yet done):
    /// an incomplete key is retried for a moment before it counts as a broken file.
    /// </summary>
    private static SecretKey ReadKeyFileSettled(string path, ILogger log)
    {
        var deadline = DateTime.UtcNow.AddSeconds(2);
        while (true)
        {
            try { return ReadKeyFile(path, log); }
            catch (Exception) when (DateTime.UtcNow < deadline)
            // Stryker disable once Statement,Block : the pause only spares the CPU; without it the same retries run back to back until the deadline
            {
                Thread.Sleep(20);
            }
        }
    }

    private static SecretKey ReadKeyFile(string path, ILogger log)
    {
        Hosting.PrivateFile.Tighten(path, log);
        var key = SecretKey.Parse(File.ReadAllText(path), $"The secrets key file {path}");
        log.LogInformation("Using secrets key {KeyId} from {Path}", key.Id, path);
        return key;
    }
}
