using System.Text.Json.Nodes;
using Gapura.Cli;
using Gapura.Simulators.Kiro;
using Gapura.Tests.Integration;
using Microsoft.Data.Sqlite;

namespace Gapura.Tests.Cli;

/// <summary>
/// <c>gapura doctor</c> end to end: the real verb, against the Kiro simulator (which speaks Kiro's refresh and
/// model-list protocol) and a temporary SQLite file, with no gateway running.
/// </summary>
public sealed class DoctorCommandTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gapura-doctor-").FullName;
    private KiroSimulator _kiro = null!;

    private string CredentialsFile => Path.Combine(_dir, "kiro-auth-token.json");

    public async Task InitializeAsync()
    {
        _kiro = await KiroSimulator.StartAsync(new KiroSimulatorOptions());
        await GatewayFixture.WriteKiroLoginAsync(_kiro, CredentialsFile);
    }

    public async Task DisposeAsync()
    {
        await _kiro.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private async Task<(int Code, string Out, string Err)> DoctorAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await GapuraCli.RunAsync(
        [
            "doctor",
            .. args,
            $"--Kiro:Endpoint={_kiro.BaseUrl}",
            $"--Kiro:AuthEndpoint={_kiro.BaseUrl}",
            $"--Kiro:OidcEndpoint={_kiro.BaseUrl}",
            $"--Kiro:CredentialsFile={CredentialsFile}",
            $"--Gateway:ApiKey={GatewayFixture.ApiKey}",
        ], output, error);
        return (code, output.ToString(), error.ToString());
    }

    private string Sqlite => $"--Storage:Path={Path.Combine(_dir, "data", "gapura.db")}";

    private static JsonObject Row(string json, string check)
        => JsonNode.Parse(json)!["checks"]!.AsArray().Select(r => r!.AsObject()).Single(r => (string)r["check"]! == check);

    [Fact]
    public async Task All_checks_pass_exit_0_and_the_kiro_login_is_refreshed_and_lists_models_with_latency()
    {
        var (code, output, error) = await DoctorAsync(Sqlite);

        Assert.True(code == 0, $"exit {code}\n{output}\n{error}");
        Assert.Contains("kiro login: gateway", output);
        Assert.Contains("token refreshed in", output);
        Assert.Matches(@"\d+ models listed in \d+ ms", output);
        Assert.Contains("schema version", output);
        Assert.Contains("All checks passed", output);
        Assert.DoesNotContain("FAIL", output);
        Assert.True(_kiro.RefreshCalls >= 1, "doctor must really refresh the login");
        Assert.Contains(_kiro.Requests, r => r.Path == "/ListAvailableModels");
        // The refreshed token was written back where it came from, and never printed.
        var saved = JsonNode.Parse(await File.ReadAllTextAsync(CredentialsFile))!;
        Assert.DoesNotContain((string)saved["accessToken"]!, output + error);
        Assert.DoesNotContain((string)saved["refreshToken"]!, output + error);
        Assert.DoesNotContain(GatewayFixture.ApiKey, output + error);

        var json = await DoctorAsync(Sqlite, "--json");
        Assert.Equal(0, json.Code);
        var document = JsonNode.Parse(json.Out)!;
        Assert.True((bool)document["ok"]!);
        Assert.All(document["checks"]!.AsArray(), r => Assert.NotEqual("FAIL", (string)r!["status"]!));
        Assert.Equal("ok", (string)Row(json.Out, "kiro login: gateway")["status"]!);
        Assert.Equal("ok", (string)Row(json.Out, "database")["status"]!);
    }

    [Fact]
    public async Task A_dead_kiro_login_is_a_FAIL_row_with_the_fix_for_the_configured_file_and_a_non_zero_exit()
    {
        var refresh = (string)JsonNode.Parse(await File.ReadAllTextAsync(CredentialsFile))!["refreshToken"]!;
        Assert.True(_kiro.RevokeRefreshToken(refresh));

        var (code, output, error) = await DoctorAsync(Sqlite, "--json");

        Assert.Equal(DoctorCommand.Failed, code);
        Assert.NotEqual(0, code);
        Assert.False((bool)JsonNode.Parse(output)!["ok"]!, output + error);
        var row = Row(output, "kiro login: gateway");
        Assert.Equal("FAIL", (string)row["status"]!);
        Assert.Contains("refresh failed", (string)row["detail"]!);
        // The configured file wins over every other login, so `gapura login kiro` alone cannot help: the fix says so.
        Assert.Contains("Kiro:CredentialsFile", (string)row["fix"]!);
        Assert.Contains("gapura login kiro", (string)row["fix"]!);
        Assert.Equal("FAIL", (string)Row(output, "upstreams")["status"]!);
        Assert.DoesNotContain(refresh, output + error);

        var table = await DoctorAsync(Sqlite);
        Assert.Equal(DoctorCommand.Failed, table.Code);
        Assert.Contains("FAIL", table.Out);
        Assert.Contains("check(s) failed", table.Out);
    }

    [Fact]
    public async Task An_unreachable_database_is_a_FAIL_row_naming_the_setting_and_never_the_password_while_the_other_checks_still_run()
    {
        const string password = "doctor-secret-pw-31337";
        var (code, output, error) = await DoctorAsync("--json", "--Storage:Provider=postgres",
            $"--ConnectionStrings:Postgres=Host=127.0.0.1;Port=1;Username=gapura;Password={password};Timeout=5");

        Assert.Equal(DoctorCommand.Failed, code);
        var row = Row(output, "database");
        Assert.Equal("FAIL", (string)row["status"]!);
        Assert.Contains("127.0.0.1", (string)row["detail"]!);
        Assert.Contains("ConnectionStrings:Postgres", (string)row["fix"]!);
        Assert.DoesNotContain(password, output + error);
        // The upstream login does not need the database: it is still checked.
        Assert.Equal("ok", (string)Row(output, "kiro login: gateway")["status"]!);
    }

    [Fact]
    public async Task Each_users_kiro_login_is_checked_alive_ones_pass_and_a_dead_one_fails_with_the_login_command_for_that_user()
    {
        var db = Path.Combine(_dir, "data", "gapura.db");
        foreach (var email in new[] { "ann@example.com", "bob@example.com" })
            Assert.Equal(0, await GapuraCli.RunAsync(["users", "add", email, $"--Storage:Path={db}"], new StringWriter(), new StringWriter()));
        var keyFile = Path.Combine(_dir, "data", Gapura.Secrets.KeyRingLoader.DefaultKeyFileName);
        await using (var database = new Gapura.Storage.SqliteDatabase(db))
        {
            var store = new Gapura.Storage.GapuraStore(database, new Gapura.Secrets.SecretBox(Gapura.Secrets.KeyRingLoader.Load(
                new Gapura.Secrets.SecretsOptions(), keyFile, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)));
            var ann = (await store.Users.FindByEmailAsync("ann@example.com"))!;
            var bob = (await store.Users.FindByEmailAsync("bob@example.com"))!;
            var alive = _kiro.IssueCredentials();
            var dead = _kiro.IssueCredentials();
            Assert.True(_kiro.RevokeRefreshToken(dead.RefreshToken));
            await Gapura.Providers.Kiro.Logins.KiroUserLogins.SaveAsync(store, ann.Id, "work", Credential(alive), null, null, new Gapura.Storage.NewAuditEntry("test", "connect"), default);
            await Gapura.Providers.Kiro.Logins.KiroUserLogins.SaveAsync(store, bob.Id, "home", Credential(dead), null, null, new Gapura.Storage.NewAuditEntry("test", "connect"), default);
        }
        SqliteConnection.ClearAllPools();

        var (code, output, error) = await DoctorAsync(Sqlite, "--json");

        Assert.Equal(DoctorCommand.Failed, code);
        var annRow = Row(output, "kiro login: ann@example.com 'work'");
        Assert.Equal("ok", (string)annRow["status"]!);
        Assert.Matches(@"token refreshed in \d+ ms.*\d+ models listed in \d+ ms", (string)annRow["detail"]!);
        var bobRow = Row(output, "kiro login: bob@example.com 'home'");
        Assert.Equal("FAIL", (string)bobRow["status"]!);
        Assert.Contains("gapura login kiro --user bob@example.com --label \"home\"", (string)bobRow["fix"]!);
        Assert.Equal("ok", (string)Row(output, "kiro login: gateway")["status"]!);
        Assert.DoesNotContain("upstreams", output + error);
    }

    private static Gapura.Providers.Kiro.Auth.KiroCredential Credential(KiroIssuedCredentials login) => new(login.AccessToken, login.RefreshToken,
        login.ExpiresAt, login.ProfileArn, login.Region, "social", null, null, Gapura.Providers.Kiro.Logins.KiroLoginSecret.SourceFor(0));

    [Fact]
    public async Task A_malformed_secrets_key_is_a_FAIL_row_with_the_setting_to_fix_not_a_crash()
    {
        var (code, output, error) = await DoctorAsync(Sqlite, "--json", "--Secrets:Key=not-a-key");

        Assert.Equal(DoctorCommand.Failed, code);
        Assert.DoesNotContain("Unhandled", error);
        var row = Row(output, "secrets key");
        Assert.Equal("FAIL", (string)row["status"]!);
        Assert.Contains("Secrets:Key", (string)row["fix"]!);
        Assert.Equal("ok", (string)Row(output, "kiro login: gateway")["status"]!);
    }

    [Fact]
    public async Task A_stray_argument_is_a_usage_error()
    {
        var (code, _, error) = await DoctorAsync("extra", Sqlite);
        Assert.Equal(CliExit.Usage, code);
        Assert.Contains("unknown argument 'extra'", error);
    }
}
