using Gapura.Secrets;
using Gapura.Storage.Migrations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gapura.Storage;

internal static class StorageServiceCollectionExtensions
{
    /// <summary>
    /// Registers the store for <c>Storage:Provider</c>, the secrets key ring, the repositories and a hosted
    /// service that migrates and checks the key before the host starts serving.
    /// </summary>
    public static IServiceCollection AddGapuraStorage(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<StorageOptions>(configuration.GetSection(StorageOptions.Section));
        services.PostConfigure<StorageOptions>(o => o.PostgresConnectionString ??= configuration.GetConnectionString("Postgres"));
        services.Configure<SecretsOptions>(configuration.GetSection(SecretsOptions.Section));
        services.AddSingleton(TimeProvider.System);

        services.AddSingleton(sp => CreateDatabase(sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<StorageOptions>>().Value));
        services.AddSingleton(sp =>
        {
            var storage = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<StorageOptions>>().Value;
            var secrets = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<SecretsOptions>>().Value;
            var log = sp.GetRequiredService<ILoggerFactory>().CreateLogger("Gapura.Secrets");
            return KeyRingLoader.Load(secrets, DefaultKeyFile(storage, secrets, log), log);
        });
        services.AddSingleton<SecretBox>();
        services.AddSingleton<IGapuraStore>(sp => new GapuraStore(
            sp.GetRequiredService<Database>(), sp.GetRequiredService<SecretBox>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => sp.GetRequiredService<IGapuraStore>().Users);
        services.AddSingleton(sp => sp.GetRequiredService<IGapuraStore>().ApiKeys);
        services.AddSingleton(sp => sp.GetRequiredService<IGapuraStore>().UpstreamLogins);
        services.AddSingleton(sp => sp.GetRequiredService<IGapuraStore>().Audit);
        services.AddSingleton(sp => sp.GetRequiredService<IGapuraStore>().Settings);
        services.AddSingleton(sp => sp.GetRequiredService<IGapuraStore>().Changes);
        services.AddSingleton(sp => sp.GetRequiredService<IGapuraStore>().Secrets);
        services.AddSingleton(sp => new Migrator(sp.GetRequiredService<Database>(), sp.GetRequiredService<ILogger<Migrator>>()));
        services.AddSingleton<SecretsStartupCheck>();
        services.AddSingleton<SecretRotation>();
        services.AddHostedService<StorageStartup>();
        return services;
    }

    public static Database CreateDatabase(StorageOptions options)
    {
        switch ((options.Provider ?? "").Trim().ToLowerInvariant())
        {
            case StorageOptions.Sqlite:
                return new SqliteDatabase(options.ResolvedPath, options.BusyTimeoutMilliseconds);
            case StorageOptions.Postgres or "postgresql":
                if (string.IsNullOrWhiteSpace(options.PostgresConnectionString))
                    throw new InvalidOperationException("Storage:Provider is 'postgres' but ConnectionStrings:Postgres (env ConnectionStrings__Postgres) is not set.");
                return new PostgresDatabase(options.PostgresConnectionString);
            default:
                throw new InvalidOperationException($"Storage:Provider must be 'sqlite' or 'postgres', not '{options.Provider}'.");
        }
    }

    /// <summary>
    /// Beside the SQLite file. With PostgreSQL there is no such place, so it goes to <c>data/</c> in the
    /// working directory — and a generated key there is per machine, which several instances must not
    /// have: hence the warning.
    /// </summary>
    private static string DefaultKeyFile(StorageOptions storage, SecretsOptions secrets, ILogger log)
    {
        var isSqlite = string.Equals(storage.Provider?.Trim(), StorageOptions.Sqlite, StringComparison.OrdinalIgnoreCase);
        if (string.IsNullOrWhiteSpace(secrets.KeyFile) && !isSqlite && string.IsNullOrWhiteSpace(secrets.Key))
            log.LogWarning("Storage is PostgreSQL but Secrets:Key is not set; every instance must use the same key (set Secrets:Key or Secrets:KeyFile)");
        return KeyFilePath(storage, secrets);
    }

    /// <summary>Where the secrets key file is (used when <c>Secrets:Key</c> is unset); <c>gapura secrets rotate</c> rewrites it.</summary>
    internal static string KeyFilePath(StorageOptions storage, SecretsOptions secrets)
    {
        if (!string.IsNullOrWhiteSpace(secrets.KeyFile)) return Path.GetFullPath(secrets.KeyFile, Directory.GetCurrentDirectory());
        var isSqlite = string.Equals(storage.Provider?.Trim(), StorageOptions.Sqlite, StringComparison.OrdinalIgnoreCase);
        var dir = isSqlite ? Path.GetDirectoryName(storage.ResolvedPath)! : Path.Combine(Directory.GetCurrentDirectory(), "data");
        return Path.Combine(dir, KeyRingLoader.DefaultKeyFileName);
    }
}
