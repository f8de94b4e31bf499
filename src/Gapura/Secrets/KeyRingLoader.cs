using Microsoft.Extensions.Logging;

namespace Gapura.Secrets;

/// <summary>Builds the <see cref="KeyRing"/> from settings, or from the key file it creates on first start.</summary>
internal static class KeyRingLoader
{
    public const string DefaultKeyFileName = "gapura.key";

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

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
        if (File.Exists(path)) return ReadKeyFile(path, log);

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var key = SecretKey.Generate();
        // Written under a temporary name with mode 600 from the first byte, then linked into place: a
        // second instance starting at the same moment either wins (and we read its key) or finds ours whole.
        var temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            var fileOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) fileOptions.UnixCreateMode = OwnerOnly;
            using (var stream = new FileStream(temp, fileOptions))
            using (var writer = new StreamWriter(stream))
            {
                writer.WriteLine(key.ToBase64());
                writer.Flush();
                stream.Flush(flushToDisk: true);
            }
            try
            {
                File.Move(temp, path, overwrite: false);
            }
            catch (IOException) when (File.Exists(path))
            {
                return ReadKeyFile(path, log);
            }
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
        log.LogWarning(
            "Secrets:Key is not set: generated secrets key {KeyId} in {Path} (mode 600). Back this file up — stored provider " +
            "logins and TOTP seeds cannot be read without it — and give every instance sharing the database the same key " +
            "(Secrets:Key or Secrets:KeyFile).", key.Id, path);
        return key;
    }

    private static SecretKey ReadKeyFile(string path, ILogger log)
    {
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & ~(OwnerOnly | UnixFileMode.UserExecute)) != 0)
            log.LogWarning("Secrets key file {Path} can be read by other users; run `chmod 600 {Path}`", path, path);
        var key = SecretKey.Parse(File.ReadAllText(path), $"The secrets key file {path}");
        log.LogInformation("Using secrets key {KeyId} from {Path}", key.Id, path);
        return key;
    }
}
