using System.Text.Json.Nodes;
using Gapura.Conversations;
using Gapura.Providers.Kiro;
using Gapura.Providers.Kiro.Auth;
using Microsoft.Extensions.Options;

namespace Gapura.Tests.Providers.Kiro.Auth;

public sealed class KiroCredentialDiscoveryTests : IDisposable
{
    private const string IdePath = ".aws/sso/cache/kiro-auth-token.json";
    private const string StorePath = ".gapura/kiro-credentials.json";
    private const string CliPath = ".local/share/kiro-cli/data.sqlite3";
    private readonly TempHome _home = new();

    public void Dispose() => _home.Dispose();

    private KiroCredentialStore Store(KiroOptions? options = null) => new(Options.Create(options ?? new KiroOptions()), _home.Environment);

    private static JsonObject Ide(string access, string refresh = "r-ide", string expiresAt = "2099-01-01T00:00:00.000Z") => new()
    {
        ["accessToken"] = access,
        ["refreshToken"] = refresh,
        ["expiresAt"] = expiresAt,
        ["profileArn"] = "arn:aws:codewhisperer:us-east-1:1:profile/IDE",
        ["region"] = "us-east-1",
        ["authMethod"] = "social",
    };

    private static JsonObject Cli(string access) => new()
    {
        ["access_token"] = access,
        ["refresh_token"] = "r-" + access,
        ["expires_at"] = "2099-01-01T00:00:00.123456789Z",
        ["region"] = "eu-central-1",
    };

    private void WriteEverySource()
    {
        _home.WriteJson(StorePath, Ide("store"));
        _home.WriteJson(IdePath, Ide("ide"));
        _home.CreateKiroCliDatabase(CliPath, new Dictionary<string, JsonObject> { ["kirocli:social:token"] = Cli("cli") });
    }

    [Fact]
    public void Configured_file_wins_over_every_other_login()
    {
        WriteEverySource();
        var configured = _home.WriteJson("elsewhere/token.json", Ide("configured"));

        var credential = Store(new KiroOptions { CredentialsFile = configured }).Discover();

        Assert.Equal("configured", credential.AccessToken);
        Assert.Equal(KiroCredentialSourceKind.ConfiguredFile, credential.Source.Kind);
    }

    [Fact]
    public void Configured_file_accepts_a_home_relative_path()
    {
        _home.WriteJson("mine/token.json", Ide("tilde"));
        Assert.Equal("tilde", Store(new KiroOptions { CredentialsFile = "~/mine/token.json" }).Discover().AccessToken);
    }

    [Fact]
    public void A_missing_configured_file_fails_instead_of_using_another_login()
    {
        WriteEverySource();
        var error = Assert.Throws<GatewayException>(() => Store(new KiroOptions { CredentialsFile = _home.File("nope.json") }).Discover());
        Assert.Equal(ErrorKind.UpstreamLogin, error.Kind);
        Assert.Contains("nope.json", error.Message);
    }

    [Fact]
    public void Gapura_store_comes_before_the_Kiro_IDE()
    {
        WriteEverySource();
        var credential = Store().Discover();
        Assert.Equal("store", credential.AccessToken);
        Assert.Equal(KiroCredentialSourceKind.GapuraStore, credential.Source.Kind);
    }

    [Fact]
    public void Kiro_IDE_comes_before_kiro_cli_and_reads_the_IdC_client_registration()
    {
        WriteEverySource();
        File.Delete(_home.File(StorePath));
        var json = Ide("ide");
        json["authMethod"] = "IdC";
        json["clientIdHash"] = "0123abcd";
        json.Remove("profileArn");
        _home.WriteJson(IdePath, json);
        _home.WriteJson(".aws/sso/cache/0123abcd.json", new JsonObject { ["clientId"] = "client-1", ["clientSecret"] = "secret-1", ["expiresAt"] = "2099-01-01T00:00:00Z" });

        var credential = Store().Discover();

        Assert.Equal("ide", credential.AccessToken);
        Assert.Equal(KiroCredentialSourceKind.KiroIde, credential.Source.Kind);
        Assert.Equal("client-1", credential.ClientId);
        Assert.Equal("secret-1", credential.ClientSecret);
        Assert.True(credential.UsesOidc);
        Assert.Equal(new DateTimeOffset(2099, 1, 1, 0, 0, 0, TimeSpan.Zero), credential.ExpiresAt);
    }

    [Fact]
    public void Kiro_cli_keys_are_read_in_priority_with_registration_and_profile()
    {
        _home.CreateKiroCliDatabase(CliPath, new Dictionary<string, JsonObject>
        {
            ["codewhisperer:odic:token"] = Cli("legacy"),
            ["kirocli:odic:token"] = Cli("odic"),
            ["kirocli:odic:device-registration"] = new() { ["client_id"] = "cli-client", ["client_secret"] = "cli-secret", ["region"] = "eu-central-1" },
        }, profile: new JsonObject { ["arn"] = "arn:aws:codewhisperer:eu-central-1:1:profile/CLI", ["profile_name"] = "work" });

        var credential = Store().Discover();

        Assert.Equal("odic", credential.AccessToken);
        Assert.Equal("r-odic", credential.RefreshToken);
        Assert.Equal(new KiroCredentialSource(KiroCredentialSourceKind.KiroCli, _home.File(CliPath), "kirocli:odic:token"), credential.Source);
        Assert.Equal("cli-client", credential.ClientId);
        Assert.Equal("cli-secret", credential.ClientSecret);
        Assert.Equal("eu-central-1", credential.Region);
        Assert.Equal("arn:aws:codewhisperer:eu-central-1:1:profile/CLI", credential.ProfileArn);
        // Nine fractional digits, as kiro-cli writes them.
        Assert.Equal(new DateTimeOffset(2099, 1, 1, 0, 0, 0, TimeSpan.Zero).AddTicks(1234567), credential.ExpiresAt);
    }

    [Fact]
    public void Kiro_cli_social_login_comes_first_and_refreshes_on_the_desktop_path()
    {
        _home.CreateKiroCliDatabase(CliPath, new Dictionary<string, JsonObject>
        {
            ["kirocli:odic:token"] = Cli("odic"),
            ["kirocli:social:token"] = Cli("social"),
            ["kirocli:odic:device-registration"] = new() { ["client_id"] = "c", ["client_secret"] = "s" },
        });

        var credential = Store().Discover();

        Assert.Equal("social", credential.AccessToken);
        Assert.False(credential.UsesOidc);
    }

    [Fact]
    public void Amazon_Q_database_is_the_last_resort()
    {
        _home.CreateKiroCliDatabase(".local/share/amazon-q/data.sqlite3", new Dictionary<string, JsonObject> { ["codewhisperer:odic:token"] = Cli("q") });
        var credential = Store().Discover();
        Assert.Equal("q", credential.AccessToken);
        Assert.EndsWith("amazon-q/data.sqlite3", credential.Source.Path);
    }

    [Fact]
    public void A_damaged_store_does_not_hide_a_good_login()
    {
        Directory.CreateDirectory(_home.File(".gapura"));
        File.WriteAllText(_home.File(StorePath), "{ not json");
        _home.WriteJson(IdePath, Ide("ide"));
        Assert.Equal("ide", Store().Discover().AccessToken);
    }

    [Fact]
    public void No_login_anywhere_says_how_to_get_one()
    {
        var error = Assert.Throws<GatewayException>(() => Store().Discover());
        Assert.Equal(ErrorKind.UpstreamLogin, error.Kind);
        Assert.Contains("gapura login kiro", error.Message);
    }

    [Fact]
    public void Credentials_never_print_their_secrets()
    {
        _home.WriteJson(IdePath, Ide("access-secret", "refresh-secret"));
        var credential = Store().Discover();
        Assert.DoesNotContain("secret", credential.ToString());
        Assert.DoesNotContain("secret", new KiroAccessToken("access-secret", null, default).ToString());
    }
}
