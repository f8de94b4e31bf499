using System.Net;
using System.Text.Json;

namespace Gapura.Tests.Integration;

public class HostTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task Health_answers_json_once_ready()
    {
        using var http = gateway.Http(apiKey: null);
        var response = await http.GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("ok", doc.RootElement.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Head_root_answers_for_claude_code_probe()
    {
        using var http = gateway.Http(apiKey: null);
        var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Listens_on_loopback_only()
    {
        Assert.StartsWith("http://127.0.0.1:", gateway.BaseUrl);
        await Task.CompletedTask;
    }
}

/// <summary>
/// A fresh install without Gateway:AdminEmail: the first start creates the owner account, so the bootstrap key works at
/// once; the first admin someone adds from the CLI is the owner claimed, not a second admin.
/// </summary>
public class FreshInstallTests : IAsyncLifetime
{
    private readonly GatewayFixture _gateway = new() { BootstrapAdmin = false };

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => _gateway.DisposeAsync();

    [Fact]
    public async Task The_bootstrap_key_works_at_once_and_users_add_admin_claims_the_owner()
    {
        using var http = _gateway.Http();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/models")).StatusCode);

        var db = $"--Storage:Path={Path.Combine(_gateway.DataDirectory, "gapura.db")}";
        var error = new StringWriter();
        var exit = await Gapura.Cli.GapuraCli.RunAsync(["users", "add", "first@gapura.test", "--admin", db], new StringWriter(), error);
        Assert.True(exit == 0, error.ToString());
        Assert.Contains("owner account", error.ToString());

        var users = new StringWriter();
        Assert.Equal(0, await Gapura.Cli.GapuraCli.RunAsync(["users", "list", db], users, new StringWriter()));
        var rows = users.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToList();
        Assert.Single(rows);
        Assert.Contains("first@gapura.test", rows[0]);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/models")).StatusCode);
    }
}
