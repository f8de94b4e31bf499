using System.Text.Json.Nodes;
using Gapura.Api;
using Gapura.Identity;
using Gapura.Providers.Kiro;
using Gapura.Providers.Kiro.Auth;
using Gapura.Secrets;
using Gapura.Tests.Providers.Kiro.Auth;
using Gapura.Tests.Secrets;
using Microsoft.Extensions.Options;

namespace Gapura.Tests.Hosting;

/// <summary>
/// Files holding secrets that Gapura creates are mode 600 in a folder it creates mode 700; one found looser (an older
/// version, a copy, an editor) is set to 600 with a warning naming it. And a dead Kiro:CredentialsFile gets advice that can help.
/// </summary>
public sealed class SecretFileModeTests : IDisposable
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Loose = Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private readonly TempHome _home = new();
    private readonly ListLogger _log = new();

    public void Dispose() => _home.Dispose();

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private string Loosened(string relative, string content)
    {
        var path = _home.File(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        File.SetUnixFileMode(path, Loose);
        return path;
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private void AssertTightenedWithWarning(string path)
    {
        Assert.Equal(Private, File.GetUnixFileMode(path));
        Assert.Contains(_log.Lines, l => l.Contains(path) && l.Contains("644") && l.Contains("600"));
    }

    [Fact]
    public void A_loose_generated_api_key_file_is_tightened_with_a_warning()
    {
        if (OperatingSystem.IsWindows()) return;
        var path = Loosened("data/api-key", "sk-gp-an-existing-key-long-enough\n");

        var options = new GatewayOptions();
        BootstrapApiKey.Apply(options, Path.GetDirectoryName(path)!, _log);

        Assert.Equal("sk-gp-an-existing-key-long-enough", options.ApiKey);
        AssertTightenedWithWarning(path);
    }

    [Fact]
    public void A_generated_api_key_goes_into_a_new_folder_of_mode_700()
    {
        if (OperatingSystem.IsWindows()) return;
        var data = _home.File("fresh/data");

        BootstrapApiKey.Apply(new GatewayOptions(), data, _log);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(data));
        Assert.Equal(Private, File.GetUnixFileMode(Path.Combine(data, "api-key")));
    }

    [Fact]
    public void A_loose_secrets_key_file_is_tightened_with_a_warning()
    {
        if (OperatingSystem.IsWindows()) return;
        var path = Loosened("data/gapura.key", SecretKey.Generate().ToBase64() + "\n");

        KeyRingLoader.Load(new SecretsOptions(), path, _log);

        AssertTightenedWithWarning(path);
    }

    [Fact]
    public void Loose_kiro_login_files_are_tightened_at_start_and_a_refresh_writes_600()
    {
        if (OperatingSystem.IsWindows()) return;
        var login = new JsonObject { ["accessToken"] = "a", ["refreshToken"] = "r", ["expiresAt"] = "2099-01-01T00:00:00.000Z", ["authMethod"] = "social" }.ToJsonString();
        var own = Loosened(".gapura/kiro-credentials.json", login);
        var configured = Loosened("elsewhere/token.json", login);
        var store = new KiroCredentialStore(Options.Create(new KiroOptions { CredentialsFile = configured }), _home.Environment);

        store.CheckAtStart(_log);

        AssertTightenedWithWarning(own);
        AssertTightenedWithWarning(configured);
        File.SetUnixFileMode(configured, Loose);
        var found = store.Discover();
        store.Save(found with { AccessToken = "a2" });
        Assert.Equal(Private, File.GetUnixFileMode(configured));
    }

    [Fact]
    public void A_loose_copilot_login_file_is_tightened_at_start_and_a_new_login_is_written_600()
    {
        if (OperatingSystem.IsWindows()) return;
        var path = Loosened(".gapura/copilot.json", """{"github_token":"ghu_x"}""");

        Gapura.Providers.Copilot.CopilotLoginFile.CheckAtStart(_home.Path, _log);

        AssertTightenedWithWarning(path);
        File.SetUnixFileMode(path, Loose);
        Gapura.Providers.Copilot.CopilotLoginFile.Save(_home.Path, "ghu_y", DateTimeOffset.UtcNow);
        Assert.Equal(Private, File.GetUnixFileMode(path));
        Assert.Equal("ghu_y", Gapura.Providers.Copilot.CopilotLoginFile.Read(_home.Path));
    }

    [Fact]
    public void A_dead_configured_file_is_not_answered_with_gapura_login_kiro_which_cannot_help()
    {
        var configured = new KiroCredentialSource(KiroCredentialSourceKind.ConfiguredFile, "/etc/kiro/token.json");
        var credential = new KiroCredential("a", "r", DateTimeOffset.UnixEpoch, null, null, "social", null, null, configured);

        var message = KiroAuthClient.Dead(credential, "invalid_grant").Message;

        Assert.Contains("/etc/kiro/token.json", message);
        Assert.Contains("unset Kiro:CredentialsFile", message);
        Assert.DoesNotContain("Run `gapura login kiro`", message);
        var ide = credential with { Source = new KiroCredentialSource(KiroCredentialSourceKind.KiroIde, "/home/me/.aws/sso/cache/kiro-auth-token.json") };
        Assert.Contains("Run `gapura login kiro`", KiroAuthClient.Dead(ide, "invalid_grant").Message);
    }
}
