using Gapura.Secrets;
using Gapura.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gapura.Tests.Storage;

/// <summary>The whole start-up path as the host runs it: configuration → DI → migrate → key check.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class StorageRegistrationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gapura-host-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    private IHost BuildHost(params (string Key, string? Value)[] settings)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)));
        builder.Logging.ClearProviders();
        builder.Services.AddGapuraStorage(builder.Configuration);
        return builder.Build();
    }

    [Fact]
    public async Task A_first_start_creates_the_database_and_a_private_key_file_beside_it()
    {
        var dbPath = Path.Combine(_dir, "data", "gapura.db");
        using var host = BuildHost(("Storage:Path", dbPath));

        await host.StartAsync();

        Assert.True(File.Exists(dbPath));
        var keyFile = Path.Combine(_dir, "data", "gapura.key");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        var store = host.Services.GetRequiredService<IGapuraStore>();
        var user = await store.Users.CreateAsync(new NewUser("first@example.com", Role: UserRole.Admin));
        await store.UpstreamLogins.AddAsync(user.Id, "kiro", "main", "tokens");
        Assert.Same(store.Users, host.Services.GetRequiredService<IUserRepository>());
        await host.StopAsync();

        // The same folder again: same key from the file, nothing to migrate, secrets readable.
        using var again = BuildHost(("Storage:Path", dbPath));
        await again.StartAsync();
        var login = Assert.Single(await again.Services.GetRequiredService<IUpstreamLoginRepository>().ListAsync());
        Assert.Equal("tokens", await again.Services.GetRequiredService<IUpstreamLoginRepository>().ReadSecretAsync(login.Id));
        await again.StopAsync();
    }

    [Fact]
    public async Task A_wrong_secrets_key_stops_the_start_with_a_clear_message()
    {
        var dbPath = Path.Combine(_dir, "gapura.db");
        var right = SecretKey.Generate();
        using (var host = BuildHost(("Storage:Path", dbPath), ("Secrets:Key", right.ToBase64())))
        {
            await host.StartAsync();
            await host.Services.GetRequiredService<ISettingsRepository>().SetSecretAsync("oidc.client_secret", "x");
            await host.StopAsync();
        }

        var wrong = SecretKey.Generate();
        using var restarted = BuildHost(("Storage:Path", dbPath), ("Secrets:Key", wrong.ToBase64()));
        var error = await Assert.ThrowsAsync<SecretKeyException>(() => restarted.StartAsync());

        Assert.Contains($"1 under key {right.Id}", error.Message);
        Assert.DoesNotContain(wrong.ToBase64(), error.Message);
        Assert.DoesNotContain(right.ToBase64(), error.Message);
        Assert.False(File.Exists(Path.Combine(_dir, "gapura.key")));
    }

    [Fact]
    public async Task An_unreachable_postgres_stops_the_start_naming_the_target()
    {
        using var host = BuildHost(
            ("Storage:Provider", "postgres"),
            ("ConnectionStrings:Postgres", "Host=127.0.0.1;Port=1;Database=gapura;Username=gw;Password=pw-secret;Timeout=2"),
            ("Secrets:Key", SecretKey.Generate().ToBase64()));

        var error = await Assert.ThrowsAsync<DatabaseUnavailableException>(() => host.StartAsync());

        Assert.Contains("Postgres database at 127.0.0.1:1, database 'gapura' as 'gw'", error.Message);
        Assert.DoesNotContain("pw-secret", error.ToString());
    }

    [Theory]
    [InlineData("mysql", null, "must be 'sqlite' or 'postgres'")]
    [InlineData("postgres", null, "ConnectionStrings:Postgres")]
    public void A_misconfigured_provider_says_what_to_set(string provider, string? connectionString, string expected)
    {
        using var host = BuildHost(("Storage:Provider", provider), ("ConnectionStrings:Postgres", connectionString));
        var error = Assert.Throws<InvalidOperationException>(() => host.Services.GetRequiredService<Database>());
        Assert.Contains(expected, error.Message);
    }
}
