using System.Text.Json.Nodes;
using Gapura.Providers.Kiro.Auth;
using Gapura.Tests.Integration;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Cli;

/// <summary>What a real gateway on Kestrel logs once it listens: one line each for URL, storage, client key, logins, providers.</summary>
public sealed class StartupSummaryTests
{
    private static readonly string[] SummaryOn = ["--Logging:LogLevel:Gapura.Startup=Information"];

    private static List<string> SummaryLines(GatewayFixture gateway)
        => [.. gateway.Logs.Lines.Where(l => l.StartsWith("Information Gapura.Startup: ", StringComparison.Ordinal))];

    [Fact]
    public async Task The_summary_names_url_storage_key_source_and_the_kiro_login_with_its_expiry_and_no_secret()
    {
        var gateway = new GatewayFixture();
        gateway.Settings.AddRange(SummaryOn);
        await gateway.InitializeAsync();
        try
        {
            var lines = SummaryLines(gateway);
            var all = string.Join("\n", lines);
            Assert.Contains(lines, l => l.Contains("Listening on " + gateway.BaseUrl));
            Assert.Contains(lines, l => l.Contains("Storage: Sqlite") && l.Contains(gateway.DataDirectory));
            Assert.Contains(lines, l => l.Contains("Client key: setting Gateway:ApiKey"));
            Assert.Contains(lines, l => l.Contains("Upstream login: kiro — file " + gateway.CredentialsFile) && l.Contains("access token expires"));
            Assert.Contains(lines, l => l.Contains("Providers enabled: kiro"));
            Assert.Equal(5, lines.Count);

            var login = JsonNode.Parse(await File.ReadAllTextAsync(gateway.CredentialsFile))!;
            Assert.DoesNotContain((string)login["accessToken"]!, all);
            Assert.DoesNotContain((string)login["refreshToken"]!, all);
            Assert.DoesNotContain(GatewayFixture.ApiKey, all);
            // Local reads only: start-up did not refresh the login or ask for models.
            Assert.Equal(0, gateway.Kiro.RefreshCalls);
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    [Fact]
    public async Task Without_any_kiro_login_the_summary_says_none_and_how_to_sign_in()
    {
        var home = Directory.CreateTempSubdirectory("gapura-summary-home-").FullName;
        var gateway = new GatewayFixture
        {
            // An empty home: no Kiro IDE, kiro-cli or gapura login to discover.
            ConfigureServices = s => s.AddSingleton(new KiroAuthEnvironment(home)),
        };
        gateway.Settings.AddRange(SummaryOn);
        gateway.Settings.Add("--Kiro:CredentialsFile=");
        await gateway.InitializeAsync();
        try
        {
            var lines = SummaryLines(gateway);
            Assert.Contains(lines, l => l.Contains("Upstream login: kiro — none (no Kiro login found") && l.Contains("run `gapura login kiro`"));
            Assert.Contains(lines, l => l.Contains("Providers enabled: none"));
        }
        finally
        {
            await gateway.DisposeAsync();
            Directory.Delete(home, recursive: true);
        }
    }

    // A missing or dead Kiro:CredentialsFile no longer reaches the summary: `serve` refuses to start on it with advice that
    // fits the configured file (StartupFailureTests), and `gapura doctor` reports it as a FAIL row (DoctorCommandTests).
}
