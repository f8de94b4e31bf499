using System.Text.Json.Nodes;
using Gapura.Cli;
using Gapura.Secrets;
using Gapura.Simulators.Kiro;
using Gapura.Storage;
using Gapura.Storage.Migrations;
using Gapura.Tests.Providers.Kiro.Auth;
using Gapura.Tests.Storage;
using Microsoft.Extensions.Configuration;

namespace Gapura.Tests.Providers.Kiro.Logins;

/// <summary><c>gapura login kiro --user</c>: the device flow stores the login in the database, sealed, on both back ends.</summary>
public abstract class LoginCliTests : IAsyncLifetime
{
    private readonly SecretKey _key = SecretKey.Generate();
    private readonly TempHome _home = new();
    private KiroSimulator _kiro = null!;
    private string[] _storage = [];
    private Database _db = null!;
    private GapuraStore _store = null!;

    private protected abstract Task<string[]> StorageSettingsAsync();

    public async Task InitializeAsync()
    {
        _kiro = await KiroSimulator.StartAsync(new KiroSimulatorOptions { PollsUntilApproved = 1 });
        _storage = await StorageSettingsAsync();
        var options = new StorageOptions();
        LoginCommand.BuildConfiguration(_storage).GetSection(StorageOptions.Section).Bind(options);
        options.PostgresConnectionString = LoginCommand.BuildConfiguration(_storage).GetConnectionString("Postgres");
        _db = StorageServiceCollectionExtensions.CreateDatabase(options);
        await new Migrator(_db).MigrateAsync();
        _store = new GapuraStore(_db, new SecretBox(new KeyRing(_key)));
    }

    public async Task DisposeAsync()
    {
        await _kiro.DisposeAsync();
        await _db.DisposeAsync();
        _home.Dispose();
    }

    private Task<int> LoginAsync(StringWriter output, string? label = null, string email = "alice@example.com")
    {
        var configuration = LoginCommand.BuildConfiguration([.. _storage, $"--Secrets:Key={_key.ToBase64()}", $"--Kiro:OidcEndpoint={_kiro.BaseUrl}"]);
        return LoginCommand.RunKiroForUserAsync(configuration, email, label, KiroAuthKit.Http, output, default, delay: (_, _) => Task.CompletedTask);
    }

    private async Task<string?> RawSecretAsync(long id)
    {
        await using var connection = await _db.OpenAsync(default);
        var rows = await new DbSession(_db, connection, null).Sql("SELECT secret_enc FROM upstream_logins WHERE id = @id").Param("id", id)
            .ListAsync(r => r.String("secret_enc"), default);
        return rows.SingleOrDefault();
    }

    [Fact]
    public async Task The_device_flow_stores_the_login_encrypted_for_the_user_and_a_second_sign_in_under_the_label_replaces_it()
    {
        var alice = await _store.Users.CreateAsync(new NewUser("alice@example.com"));
        var output = new StringWriter();

        Assert.Equal(0, await LoginAsync(output, "work"));

        var login = Assert.Single(await _store.UpstreamLogins.ListAsync(alice.Id));
        Assert.Equal(("kiro", "work", UpstreamLoginStatus.Alive), (login.Provider, login.Label, login.Status));
        var secret = JsonNode.Parse(await _store.UpstreamLogins.ReadSecretAsync(login.Id))!.AsObject();
        var access = secret["accessToken"]!.GetValue<string>();
        var refresh = secret["refreshToken"]!.GetValue<string>();
        Assert.True(_kiro.IsValidAccessToken(access));
        Assert.NotNull(secret["clientId"]);
        Assert.NotNull(secret["clientSecret"]);
        var raw = await RawSecretAsync(login.Id);
        Assert.StartsWith($"gp1:{_key.Id}:", raw);
        Assert.DoesNotContain(access, raw);
        Assert.DoesNotContain(refresh, raw);
        Assert.DoesNotContain("accessToken", raw);
        var text = output.ToString();
        Assert.Contains("user_code=", text);
        Assert.Contains("Stored Kiro login 'work'", text);
        Assert.DoesNotContain(access, text);
        Assert.False(File.Exists(_home.File(".gapura/kiro-credentials.json")));
        Assert.Contains(await _store.Audit.ListAsync(), a => a.Action == "upstream_login.connect" && a.Actor.StartsWith("cli:") && a.Target == $"user:{alice.Id}/login:{login.Id}");

        await _store.UpstreamLogins.MarkDeadAsync(login.Id, "refresh refused");
        var again = new StringWriter();
        Assert.Equal(0, await LoginAsync(again, "work"));
        var replaced = Assert.Single(await _store.UpstreamLogins.ListAsync(alice.Id));
        Assert.Equal((login.Id, UpstreamLoginStatus.Alive), (replaced.Id, replaced.Status));
        Assert.Contains("Replaced", again.ToString());
        Assert.NotEqual(access, JsonNode.Parse(await _store.UpstreamLogins.ReadSecretAsync(login.Id))!["accessToken"]!.GetValue<string>());

        Assert.Equal(0, await LoginAsync(new StringWriter()));
        Assert.Equal(["work", "default"], (await _store.UpstreamLogins.ListAsync(alice.Id)).Select(l => l.Label));
    }

    [Fact]
    public async Task An_unknown_user_or_a_bad_label_fails_before_any_sign_in()
    {
        await _store.Users.CreateAsync(new NewUser("alice@example.com"));
        var output = new StringWriter();

        Assert.Equal(1, await LoginAsync(output, email: "nobody@example.com"));
        Assert.Equal(2, await LoginAsync(output, "bad\"label"));

        Assert.Contains("no gateway user with the email 'nobody@example.com'", output.ToString());
        Assert.Contains("label:", output.ToString());
        Assert.DoesNotContain(_kiro.Requests, r => r.Path == "/device_authorization");
        Assert.Empty(await _store.UpstreamLogins.ListAsync());
    }
}

public sealed class SqliteLoginCliTests : LoginCliTests
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gapura-cli-").FullName;

    private protected override Task<string[]> StorageSettingsAsync() => Task.FromResult<string[]>([$"--Storage:Path={Path.Combine(_dir, "gapura.db")}"]);
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresLoginCliTests(PostgresCluster cluster) : LoginCliTests
{
    private protected override async Task<string[]> StorageSettingsAsync()
        => ["--Storage:Provider=postgres", $"--ConnectionStrings:Postgres={await cluster.CreateIsolatedAsync(nameof(PostgresLoginCliTests))}"];
}
