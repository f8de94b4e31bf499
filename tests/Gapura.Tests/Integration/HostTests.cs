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
