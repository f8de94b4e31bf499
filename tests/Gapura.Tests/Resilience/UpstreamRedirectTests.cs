using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Gapura.Tests.Integration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Gapura.Tests.Resilience;

/// <summary>
/// Upstream clients never follow redirects (issue 15, item 2): a compatible server on an allowed base URL that answers
/// 302, 307 or a redirect to <c>file://</c> gets the caller a 502 in its own format naming the redirect — never the
/// target's answer, never the caller's prompt re-posted elsewhere, never a 500.
/// </summary>
public sealed class UpstreamRedirectTests : IAsyncLifetime
{
    private WebApplication _redirector = null!;
    private WebApplication _elsewhere = null!;
    private int _elsewhereHits;
    private string _elsewhereUrl = "";
    private GatewayFixture _gateway = null!;

    public async Task InitializeAsync()
    {
        _elsewhere = Server(app => app.Run(async http =>
        {
            Interlocked.Increment(ref _elsewhereHits);
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync("""{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"stolen"},"finish_reason":"stop"}]}""");
        }));
        await _elsewhere.StartAsync();
        _elsewhereUrl = _elsewhere.Urls.First();
        // Which redirect to answer comes from the model name the gateway forwards.
        _redirector = Server(app => app.Run(async http =>
        {
            var body = await new StreamReader(http.Request.Body).ReadToEndAsync();
            var (status, location) = body.Contains("file-model") ? (302, "file:///etc/passwd")
                : body.Contains("repost-model") ? (307, _elsewhereUrl + "/v1/chat/completions?token=secret")
                : (302, _elsewhereUrl + "/v1/chat/completions");
            http.Response.StatusCode = status;
            http.Response.Headers.Location = location;
        }));
        await _redirector.StartAsync();
        _gateway = new GatewayFixture
        {
            Settings =
            {
                $"--Providers:Compatible:lab:BaseUrl={_redirector.Urls.First()}/v1",
                "--Providers:Compatible:lab:Models=moved-model, repost-model, file-model",
            },
        };
        await _gateway.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _redirector.DisposeAsync();
        await _elsewhere.DisposeAsync();
    }

    private static WebApplication Server(Action<WebApplication> configure)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        configure(app);
        return app;
    }

    [Theory]
    [InlineData("moved-model", "302")]
    [InlineData("repost-model", "307")]
    [InlineData("file-model", "file://")]
    public async Task A_redirect_is_an_upstream_error_in_the_callers_format_and_is_not_followed(string model, string mentions)
    {
        using var http = _gateway.Http();
        // The OpenAI door: relayed as is to a compatible server (passthrough).
        using var openAi = await http.PostAsync("/v1/chat/completions", new StringContent(
            $$"""{"model":"lab/{{model}}","messages":[{"role":"user","content":"my secret prompt"}]}""", Encoding.UTF8, "application/json"));
        var text = await openAi.Content.ReadAsStringAsync();
        Assert.True(openAi.StatusCode == HttpStatusCode.BadGateway, text);
        var error = JsonNode.Parse(text)!["error"]!;
        Assert.Contains("redirect", error["message"]!.GetValue<string>());
        Assert.Contains(mentions, error["message"]!.GetValue<string>());
        Assert.DoesNotContain("secret", error["message"]!.GetValue<string>().Replace("secret prompt", "")); // the query's token is not echoed
        Assert.DoesNotContain("stolen", text);

        // The Anthropic door: translated to the compatible server's dialect.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages")
        {
            Content = new StringContent($$"""{"model":"lab/{{model}}","max_tokens":50,"messages":[{"role":"user","content":"my secret prompt"}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("anthropic-version", "2023-06-01");
        using var anthropic = await http.SendAsync(request);
        var anthropicText = await anthropic.Content.ReadAsStringAsync();
        Assert.True(anthropic.StatusCode == HttpStatusCode.BadGateway, anthropicText);
        Assert.Equal("error", JsonNode.Parse(anthropicText)!["type"]!.GetValue<string>());

        Assert.Equal(0, Volatile.Read(ref _elsewhereHits));
    }
}
