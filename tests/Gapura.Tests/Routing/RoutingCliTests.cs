using Gapura.Cli;
using Gapura.Simulators.Kiro;
using Gapura.Tests.Integration;
using Microsoft.Data.Sqlite;

namespace Gapura.Tests.Routing;

/// <summary>
/// <c>gapura routing import|show|mode</c> against a temporary SQLite file, with the Kiro simulator as the upstream whose
/// model list the import is checked against.
/// </summary>
public sealed class RoutingCliTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gapura-routing-cli-").FullName;
    private KiroSimulator _kiro = null!;
    private string _credentials = "";

    public async Task InitializeAsync()
    {
        _kiro = await KiroSimulator.StartAsync();
        _credentials = Path.Combine(_dir, "kiro-auth-token.json");
        await GatewayFixture.WriteKiroLoginAsync(_kiro, _credentials);
    }

    public async Task DisposeAsync()
    {
        await _kiro.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private async Task<(int Code, string Out, string Err)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await GapuraCli.RunAsync(
        [
            .. args,
            $"--Storage:Path={Path.Combine(_dir, "gapura.db")}",
            $"--Kiro:Endpoint={_kiro.BaseUrl}", $"--Kiro:AuthEndpoint={_kiro.BaseUrl}", $"--Kiro:OidcEndpoint={_kiro.BaseUrl}",
            $"--Kiro:CredentialsFile={_credentials}",
        ], output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task The_seed_file_imports_as_it_is_and_show_prints_what_is_in_force()
    {
        var file = Path.Combine(_dir, "settings.json");
        await File.WriteAllTextAsync(file, RoutingGatewayTests.SeedSettings);

        var imported = await RunAsync("routing", "import", file);
        Assert.True(imported.Code == 0, imported.Err);
        Assert.Contains("profile primary: anthropic/claude-sonnet-4-0, maxTokens 8192, temperature 0.1", imported.Err);
        Assert.Contains("task codeReview → primary", imported.Err);
        Assert.Contains("'budget' is not routing", imported.Err);

        var shown = await RunAsync("routing", "show");
        Assert.Equal(0, shown.Code);
        Assert.Contains("mode: virtual", shown.Out);
        Assert.Matches(@"fast\s+anthropic/claude-sonnet-3-7\s+maxTokens=4096\s+temperature=0.2\s+\[admin\]", shown.Out);
        Assert.Matches(@"background\s+→ fast\s+\[builtin\]", shown.Out);
        Assert.Matches(@"codeReview\s+→ primary\s+\[admin\]", shown.Out);

        Assert.Equal(0, (await RunAsync("routing", "mode", "override")).Code);
        Assert.Contains("mode: override", (await RunAsync("routing", "show")).Out);
    }

    [Fact]
    public async Task A_model_no_upstream_offers_an_unknown_task_or_a_bad_file_is_refused_naming_the_field()
    {
        var file = Path.Combine(_dir, "bad.json");
        await File.WriteAllTextAsync(file, """{"models": {"fast": {"model": "gpt-9-ultra"}}}""");
        var unknownModel = await RunAsync("routing", "import", file);
        Assert.Equal(1, unknownModel.Code);
        Assert.Contains("models.fast.model", unknownModel.Err);

        await File.WriteAllTextAsync(file, """{"models": {"routing": {"gossip": "fast"}}}""");
        var unknownTask = await RunAsync("routing", "import", file);
        Assert.Equal(1, unknownTask.Code);
        Assert.Contains("models.routing.gossip", unknownTask.Err);

        await File.WriteAllTextAsync(file, """{"models": {"fast": {"model": "claude-haiku-4.5", "maxTokens": -3}}}""");
        Assert.Contains("models.fast.maxTokens", (await RunAsync("routing", "import", file)).Err);

        // Nothing of the refused files was stored.
        Assert.Matches(@"fast\s+claude-haiku\s+\[builtin\]", (await RunAsync("routing", "show")).Out);

        Assert.Equal(2, (await RunAsync("routing", "import", Path.Combine(_dir, "missing.json"))).Code);
        Assert.Equal(2, (await RunAsync("routing", "mode", "sometimes")).Code);
    }
}
