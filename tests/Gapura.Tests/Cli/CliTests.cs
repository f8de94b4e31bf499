using System.Net;
using Gapura.Cli;
using Gapura.Identity;
using Gapura.Secrets;
using Gapura.Storage;
using Gapura.Tests.Integration;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Cli;

/// <summary>The database verbs end to end: <see cref="GapuraCli.RunAsync"/> with real arguments against a temporary SQLite file.</summary>
public sealed class CliTests : IAsyncLifetime
{
    private const string Password = "Sturdy-password-2026";
    private readonly string _dir = Directory.CreateTempSubdirectory("gapura-cli-").FullName;
    private readonly List<Database> _opened = [];

    private string Db => Path.Combine(_dir, "gapura.db");
    private string KeyFile => Path.Combine(_dir, KeyRingLoader.DefaultKeyFileName);
    private static string Actor => "cli:" + Environment.UserName;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var d in _opened) await d.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await GapuraCli.RunAsync([.. args, $"--Storage:Path={Db}"], output, error);
        return (code, output.ToString(), error.ToString());
    }

    /// <summary>A store over the test database, to look at what the verbs wrote.</summary>
    private GapuraStore Store(SecretKey? key = null)
    {
        var db = new SqliteDatabase(Db);
        _opened.Add(db);
        return new GapuraStore(db, new SecretBox(new KeyRing(key ?? SecretKey.Generate())));
    }

    [Fact]
    public async Task Keys_create_prints_exactly_one_line_that_is_a_valid_key()
    {
        Assert.Equal(0, (await RunAsync("users", "add", "alice@example.com", "--name", "Alice")).Code);

        var (code, output, error) = await RunAsync("keys", "create", "--user", "Alice@Example.com", "--name", "laptop", "--expires", "30d");

        Assert.Equal(0, code);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var key = Assert.Single(lines).TrimEnd('\r');
        Assert.Equal(key + Environment.NewLine, output);
        Assert.True(ApiKeys.LooksLikeKey(key), key);
        Assert.True(key.Length >= ApiKeys.Marker.Length + 32);
        Assert.DoesNotContain(key, error);
        Assert.Contains(ApiKeys.PrefixOf(key), error);
        var stored = await Store().ApiKeys.FindByHashAsync(ApiKeys.Hash(key));
        Assert.NotNull(stored);
        Assert.Equal("laptop", stored.Name);
        Assert.InRange(stored.ExpiresAt!.Value - DateTimeOffset.UtcNow, TimeSpan.FromDays(29.9), TimeSpan.FromDays(30));
        var audit = await Store().Audit.ListAsync();
        Assert.Contains(audit, e => e.Action == "key.create" && e.Actor == Actor && e.Target == "key:" + stored.Prefix && e.RemoteAddr == "local");
        Assert.Contains(audit, e => e.Action == "user.create" && e.Actor == Actor && e.Target == "user:alice@example.com");

        var list = await RunAsync("keys", "list", "--user", "alice@example.com");
        Assert.Equal(0, list.Code);
        Assert.Contains(stored.Prefix, list.Out);
        Assert.DoesNotContain(key, list.Out);
        Assert.DoesNotContain(stored.Hash, list.Out);
    }

    [Fact]
    public async Task Keys_revoke_takes_a_unique_prefix_or_the_key_and_lists_candidates_when_ambiguous()
    {
        await RunAsync("users", "add", "bob@example.com");
        var first = (await RunAsync("keys", "create", "--user", "bob@example.com", "--name", "one")).Out.Trim();
        var second = (await RunAsync("keys", "create", "--user", "bob@example.com", "--name", "two")).Out.Trim();

        var ambiguous = await RunAsync("keys", "revoke", ApiKeys.Marker);
        Assert.Equal(1, ambiguous.Code);
        Assert.Contains("matches 2 keys", ambiguous.Err);
        Assert.Contains(ApiKeys.PrefixOf(first), ambiguous.Err);
        Assert.Contains(ApiKeys.PrefixOf(second), ambiguous.Err);
        Assert.Equal(2, (await Store().ApiKeys.ListAsync(includeRevoked: false)).Count); // nothing revoked on a guess

        var byPrefix = await RunAsync("keys", "revoke", ApiKeys.PrefixOf(first));
        Assert.Equal(0, byPrefix.Code);
        Assert.Contains("Revoked", byPrefix.Err);
        var byKey = await RunAsync("keys", "revoke", second);
        Assert.Equal(0, byKey.Code);
        Assert.Equal("", byPrefix.Out + byKey.Out);
        var keys = await Store().ApiKeys.ListAsync();
        Assert.All(keys, k => Assert.NotNull(k.RevokedAt));
        Assert.Equal(2, (await Store().Audit.ListAsync()).Count(e => e.Action == "key.revoke" && e.Actor == Actor));

        var none = await RunAsync("keys", "revoke", "sk-gp-?????");
        Assert.Equal(1, none.Code);
        Assert.Contains("No key starts with", none.Err);
        var unknownKey = await RunAsync("keys", "revoke", ApiKeys.Generate().Key);
        Assert.Equal(1, unknownKey.Code);
    }

    [Fact]
    public async Task Users_add_refuses_duplicates_bad_emails_and_weak_passwords_without_a_partial_row()
    {
        Assert.Equal(0, (await RunAsync("users", "add", "carol@example.com", "--admin", "--password", Password)).Code);

        var duplicate = await RunAsync("users", "add", "CAROL@example.com", "--password", Password);
        var malformed = await RunAsync("users", "add", "carol.example.com");
        var weak = await RunAsync("users", "add", "dave@example.com", "--password", "short");

        Assert.Equal(1, duplicate.Code);
        Assert.Contains("already exists", duplicate.Err);
        Assert.Equal(1, malformed.Code);
        Assert.Contains("not a usable email address", malformed.Err);
        Assert.Equal(1, weak.Code);
        Assert.Contains("too weak", weak.Err);
        Assert.DoesNotContain("short", weak.Err.Replace("shorter", ""));
        var store = Store();
        var users = await store.Users.ListAsync();
        var carol = Assert.Single(users);
        Assert.True(carol is { IsAdmin: true, HasPassword: true });
        Assert.Single(await store.Audit.ListAsync(), e => e.Action == "user.create");
    }

    [Fact]
    public async Task Users_list_disable_enable_delete_and_the_last_admin_rule()
    {
        await RunAsync("users", "add", "root@example.com", "--admin");
        await RunAsync("users", "add", "erin@example.com", "--name", "Erin");

        Assert.Equal(0, (await RunAsync("users", "disable", "erin@example.com")).Code);
        var list = await RunAsync("users", "list");
        Assert.Equal(0, list.Code);
        var erinLine = Assert.Single(list.Out.Split('\n'), l => l.Contains("erin@example.com"));
        Assert.Contains("disabled", erinLine);
        Assert.Contains("Erin", erinLine);
        Assert.StartsWith("ID", list.Out);
        var keyForDisabled = await RunAsync("keys", "create", "--user", "erin@example.com");
        Assert.Equal((1, ""), (keyForDisabled.Code, keyForDisabled.Out));

        Assert.Equal(0, (await RunAsync("users", "enable", "erin@example.com")).Code);
        Assert.False((await Store().Users.FindByEmailAsync("erin@example.com"))!.Disabled);
        var lastAdmin = await RunAsync("users", "disable", "root@example.com");
        var deleteLast = await RunAsync("users", "delete", "root@example.com");
        Assert.Equal(1, lastAdmin.Code);
        Assert.Contains("last enabled administrator", lastAdmin.Err);
        Assert.Equal(1, deleteLast.Code);
        Assert.Equal(0, (await RunAsync("users", "delete", "erin@example.com")).Code);

        var users = await Store().Users.ListAsync();
        Assert.Equal(["root@example.com"], users.Select(u => u.Email));
        var actions = (await Store().Audit.ListAsync()).Where(e => e.Actor == Actor).Select(e => e.Action).Reverse();
        Assert.Equal(["user.create", "user.create", "user.update", "user.update", "user.delete"], actions);
    }

    [Fact]
    public async Task Unknown_users_unknown_options_and_an_unreachable_database_are_clear_errors()
    {
        var ghostKey = await RunAsync("keys", "create", "--user", "ghost@example.com");
        var ghostDisable = await RunAsync("users", "disable", "ghost@example.com");
        var stray = await RunAsync("users", "list", "--bogus");
        var unreachable = await RunAsync("users", "list", "--Storage:Provider=postgres",
            "--ConnectionStrings:Postgres=Host=127.0.0.1;Port=1;Username=gapura;Password=hunter2;Timeout=3");

        Assert.Equal(1, ghostKey.Code);
        Assert.Contains("no user with the email 'ghost@example.com'", ghostKey.Err);
        Assert.Equal("", ghostKey.Out);
        Assert.Equal(1, ghostDisable.Code);
        Assert.Equal(2, stray.Code);
        Assert.Contains("--bogus", stray.Err);
        Assert.Equal(3, unreachable.Code);
        Assert.Contains("Cannot reach the Postgres database at 127.0.0.1:1", unreachable.Err);
        Assert.DoesNotContain("hunter2", unreachable.Err);
    }

    [Fact]
    public void Expiry_takes_spans_dates_and_times_but_not_the_past()
    {
        var now = new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
        Assert.Equal(now.AddDays(30), KeysCommand.ParseExpiry("30d", now));
        Assert.Equal(now.AddHours(12), KeysCommand.ParseExpiry("12h", now));
        Assert.Equal(now.AddDays(14), KeysCommand.ParseExpiry("2w", now));
        Assert.Equal(new DateTimeOffset(2026, 12, 31, 0, 0, 0, TimeSpan.Zero), KeysCommand.ParseExpiry("2026-12-31", now));
        Assert.Equal(new DateTimeOffset(2026, 4, 1, 8, 30, 0, TimeSpan.FromHours(2)), KeysCommand.ParseExpiry("2026-04-01T08:30:00+02:00", now));
        Assert.Throws<CliException>(() => KeysCommand.ParseExpiry("2020-01-01", now));
        Assert.Throws<CliException>(() => KeysCommand.ParseExpiry("0d", now));
        Assert.Throws<CliException>(() => KeysCommand.ParseExpiry("soon", now));
    }

    [Fact]
    public async Task Secrets_rotate_with_a_key_file_replaces_it_and_reencrypts_every_secret()
    {
        await RunAsync("users", "add", "fay@example.com");
        var oldKey = SecretKey.Parse(await File.ReadAllTextAsync(KeyFile), "test");
        var store = Store(oldKey);
        var fay = (await store.Users.FindByEmailAsync("fay@example.com"))!;
        var seed = Totp.GenerateSecret();
        await store.Users.SetTotpSecretAsync(fay.Id, seed);
        await store.Settings.SetSecretAsync("it.secret", "s3cret-value");

        var (code, output, error) = await RunAsync("secrets", "rotate");

        Assert.Equal(0, code);
        Assert.Equal("", output);
        var newKey = SecretKey.Parse(await File.ReadAllTextAsync(KeyFile), "test");
        Assert.NotEqual(oldKey.Id, newKey.Id);
        Assert.Equal(oldKey.Id, SecretKey.Parse(await File.ReadAllTextAsync(KeyFile + ".previous"), "test").Id);
        if (!OperatingSystem.IsWindows()) Assert.Equal(PrivateMode, File.GetUnixFileMode(KeyFile));
        Assert.Contains("Re-encrypted 2 stored secret(s)", error);
        Assert.DoesNotContain(newKey.ToBase64(), error);
        var rotated = Store(newKey);
        Assert.Equal(new Dictionary<string, long> { [newKey.Id] = 2 }, await rotated.Secrets.CountByKeyIdAsync());
        Assert.Equal(seed, await rotated.Users.GetTotpSecretAsync(fay.Id));
        Assert.Equal("s3cret-value", await rotated.Settings.GetSecretAsync("it.secret"));
        await Assert.ThrowsAsync<SecretDecryptionException>(() => Store(oldKey).Users.GetTotpSecretAsync(fay.Id));
        Assert.Contains(await rotated.Audit.ListAsync(), e => e.Action == "secrets.rotate" && e.Actor == Actor && e.Detail!.Contains($"{oldKey.Id} -> {newKey.Id}"));
    }

    [Fact]
    public async Task Secrets_rotate_with_a_configured_key_prints_the_new_one_and_the_gateway_reads_secrets_with_it()
    {
        var oldKey = SecretKey.Generate();
        var setting = $"--Secrets:Key={oldKey.ToBase64()}";
        await RunAsync("users", "add", GatewayFixture.AdminEmail, "--admin", "--password", Password, setting);
        var store = Store(oldKey);
        await store.Settings.SetSecretAsync("it.secret", "s3cret-value");

        var (code, output, _) = await RunAsync("secrets", "rotate", setting);

        Assert.Equal(0, code);
        var printed = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries)).Trim();
        var newKey = SecretKey.Parse(printed, "stdout");
        Assert.False(File.Exists(KeyFile));

        // A gateway on the old key alone refuses to start; on the new key it starts and reads the secret.
        var stale = new GatewayFixture();
        stale.Settings.AddRange([$"--Storage:Path={Db}", setting]);
        var refused = await Assert.ThrowsAnyAsync<Exception>(stale.InitializeAsync);
        Assert.Contains("Secrets:Key", refused.Message);
        await stale.DisposeAsync();

        var gateway = new GatewayFixture();
        gateway.Settings.AddRange([$"--Storage:Path={Db}", $"--Secrets:Key={printed}"]);
        await gateway.InitializeAsync();
        try
        {
            var live = gateway.Services.GetRequiredService<IGapuraStore>();
            Assert.Equal("s3cret-value", await live.Settings.GetSecretAsync("it.secret"));
            using var http = gateway.Http();
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/models")).StatusCode);
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    private const UnixFileMode PrivateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
}
