using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Gapura.Tests.Integration;
using Microsoft.Playwright;

namespace Gapura.Tests.Console;

[Trait("Category", "Browser")]
[Collection(ConsoleBrowser.Collection)]
public sealed partial class SetupHelpPageTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>, IAsyncLifetime
{
    private readonly GatewayFixture _gateway = new();

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => _gateway.DisposeAsync();

    [Fact]
    public async Task A_user_sees_this_gateways_address_creates_a_key_and_the_curl_line_works()
    {
        await ConsoleTestKit.CreateUserAsync(_gateway, "dana@example.com");
        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync("dana@example.com", ConsoleTestKit.UserPassword, "/ui/setup-help");
        var url = _gateway.BaseUrl.TrimEnd('/');

        await Assertions.Expect(page.Locator("#gateway-url")).ToHaveTextAsync(url);
        var claude = await page.GetByLabel("Claude Code environment", new() { Exact = true }).InputValueAsync();
        Assert.Contains($"export ANTHROPIC_BASE_URL={url}\n", claude);
        Assert.Contains("export ANTHROPIC_API_KEY=YOUR-GAPURA-KEY", claude);
        Assert.Contains($"base_url = \"{url}/v1\"", await page.GetByLabel("Codex CLI config.toml", new() { Exact = true }).InputValueAsync());
        Assert.Contains($"\"baseURL\": \"{url}/v1\"", await page.GetByLabel("opencode.json", new() { Exact = true }).InputValueAsync());
        Assert.Contains($"OpenAI(base_url=\"{url}/v1\"", await page.GetByLabel("OpenAI SDK, Python", new() { Exact = true }).InputValueAsync());
        Assert.Contains($"new Anthropic({{ baseURL: \"{url}\"", await page.GetByLabel("Anthropic SDK, JavaScript", new() { Exact = true }).InputValueAsync());
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = "API keys" }).Last).ToHaveAttributeAsync("href", "/ui/keys");
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { NameRegex = new("^Copy: ") })).ToHaveCountAsync(11);

        await page.GetByRole(AriaRole.Button, new() { Name = "Create a key for this" }).ClickAsync();
        var key = await page.GetByLabel("The new API key", new() { Exact = true }).InputValueAsync();
        Assert.StartsWith("sk-gp-", key);
        Assert.Contains($"export ANTHROPIC_API_KEY={key}", await page.GetByLabel("Claude Code environment", new() { Exact = true }).InputValueAsync());
        Assert.Contains($"export GAPURA_API_KEY={key}", await page.GetByLabel("Codex CLI environment", new() { Exact = true }).InputValueAsync());

        // The curl line, run as written: its URL, headers and body.
        var curl = await page.GetByLabel("curl, Anthropic messages", new() { Exact = true }).InputValueAsync();
        var target = CurlUrl().Match(curl).Groups[1].Value;
        using var request = new HttpRequestMessage(HttpMethod.Post, target)
        {
            Content = new StringContent(CurlBody().Match(curl).Groups[1].Value, Encoding.UTF8, "application/json"),
        };
        foreach (Match h in CurlHeader().Matches(curl))
            if (!h.Groups[1].Value.Equals("content-type", StringComparison.OrdinalIgnoreCase)) request.Headers.Add(h.Groups[1].Value, h.Groups[2].Value);
        using var http = new HttpClient();
        using var answer = await http.SendAsync(request);
        var text = await answer.Content.ReadAsStringAsync();
        Assert.True(answer.StatusCode == HttpStatusCode.OK, text);
        Assert.Contains("\"type\":\"message\"", text.Replace(" ", ""));

        // The key is the user's own, listed on their keys page, and shown once: not after a reload.
        await page.ReloadAsync();
        await page.WaitForInteractiveAsync();
        Assert.DoesNotContain(key, await page.ContentAsync());
        await page.GotoInteractiveAsync("/ui/keys");
        await Assertions.Expect(page.Locator("#keys-table")).ToContainTextAsync("coding tools");
    }

    [GeneratedRegex(@"^curl (\S+)", RegexOptions.Multiline)]
    private static partial Regex CurlUrl();

    [GeneratedRegex("-H \"([^:\"]+): ([^\"]+)\"")]
    private static partial Regex CurlHeader();

    [GeneratedRegex("-d '([^']+)'")]
    private static partial Regex CurlBody();
}
