using Gapura.Api;
using Gapura.Hosting;

namespace Gapura.Identity;

/// <summary>
/// Makes sure the gateway has a client key before it serves. A configured <c>Gateway:ApiKey</c> must be at
/// least 16 characters. With none configured, a random key is generated once into a file readable only
/// by its owner (mode 600) so the first command works with no set-up — and no key ever reaches a log line:
/// the log says where the file is.
/// </summary>
internal static class BootstrapApiKey
{
    public const int MinimumLength = 16;

    /// <summary>The file the key is generated into when <c>Gateway:ApiKey</c> is unset; the one place that names it.</summary>
    public static string FileIn(string dataDirectory) => Path.Combine(dataDirectory, "api-key");

    /// <summary><see cref="FileIn(string)"/> for the data folder the configuration names (what the CLI verbs read).</summary>
    public static string FileFor(IConfiguration configuration) => FileIn(GatewayHost.DataDirectory(configuration));

    public static void Apply(GatewayOptions options, string dataDirectory, ILogger log)
    {
        if (!string.IsNullOrEmpty(options.ApiKey))
        {
            if (options.ApiKey.Length < MinimumLength)
                throw new InvalidOperationException($"Gateway:ApiKey must be at least {MinimumLength} characters long.");
            return;
        }
        var path = FileIn(dataDirectory);
        options.GeneratedKeyFile = path;
        var key = ApiKeys.Generate().Key;
        // Create-if-absent: instances starting together in one folder all end up with the same key.
        if (PrivateFile.TryCreate(path, System.Text.Encoding.UTF8.GetBytes(key + "\n")))
        {
            options.ApiKey = key;
            log.LogWarning("No Gateway:ApiKey was set: generated one into {Path} (mode 600). Clients send it as 'Authorization: Bearer <key>' or 'x-api-key'", path);
            return;
        }
        PrivateFile.Tighten(path, log);
        options.ApiKey = ReadSettled(path);
        log.LogInformation("Using the generated API key in {Path} (set Gateway:ApiKey to choose your own)", path);
    }

    /// <summary>Reads a key another instance may be writing this very moment: an empty or busy file is retried briefly.</summary>
    private static string ReadSettled(string path)
    {
        var deadline = DateTime.UtcNow.AddSeconds(2);
        while (true)
        {
            try
            {
                var key = File.ReadAllText(path).Trim();
                if (key.Length > 0) return key;
            }
            catch (IOException) when (DateTime.UtcNow < deadline) { }
            if (DateTime.UtcNow >= deadline)
                throw new InvalidOperationException($"The generated API key file {path} is empty; delete it or set Gateway:ApiKey.");
            Thread.Sleep(20);
        }
    }
}
