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

/// <summary>A fresh install without Gateway:AdminEmail: the bootstrap key has no owner until an admin exists.</summary>
public class FreshInstallTests : IAsyncLifetime
{
    private readonly GatewayFixture _gateway = new() { BootstrapAdmin = false };

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => _gateway.DisposeAsync();

    [Fact]
    public async Task The_bootstrap_key_explains_how_to_finish_set_up_then_works_once_an_admin_exists()
    {
        using var http = _gateway.Http();
        var refused = await http.GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains("gapura users add", await refused.Content.ReadAsStringAsync());

        var exit = await Gapura.Cli.GapuraCli.RunAsync(
            ["users", "add", "first@gapura.test", "--admin", $"--Storage:Path={Path.Combine(_gateway.DataDirectory, "gapura.db")}"],
            new StringWriter(), new StringWriter());
        Assert.Equal(0, exit);

        var deadline = DateTime.UtcNow.AddSeconds(5);
        HttpResponseMessage response;
        while ((response = await http.GetAsync("/v1/models")).StatusCode != HttpStatusCode.OK && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
