using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Gapura.Simulators.Anthropic;
using Gapura.Simulators.Copilot;
using Gapura.Simulators.OpenAi;
using Gapura.Storage;
using Gapura.Tests.Integration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace Gapura.Tests.Console;

/// <summary>
/// The upstream logins page's sign-ins that go through another site: GitHub's device flow for Copilot (the page
/// polls by itself), and Claude's and ChatGPT's OAuth sign-ins (the user pastes back the code Claude shows, or the
/// address ChatGPT lands on). The simulators play GitHub, Claude's and OpenAI's sign-in; the test approves in
/// their place, as the user would in the other tab.
/// </summary>
[Trait("Category", "Browser")]
[Collection(ConsoleBrowser.Collection)]
public sealed class LoginsSignInFlowTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>, IAsyncLifetime
{
    private CopilotSimulator _copilot = null!;
    private OpenAiSimulator _openAi = null!;
    private AnthropicSimulator _anthropic = null!;
    private readonly GatewayFixture _gateway = new();

    public async Task InitializeAsync()
    {
        _copilot = await CopilotSimulator.StartAsync(new CopilotSimulatorOptions { DeviceInterval = 1 });
        _openAi = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions());
        _anthropic = await AnthropicSimulator.StartAsync();
        _gateway.Settings.AddRange(
        [
            $"--Providers:Copilot:GitHubBaseUrl={_copilot.BaseUrl}",
            $"--Providers:Copilot:GitHubApiBaseUrl={_copilot.BaseUrl}",
            "--Providers:Copilot:RetryBaseDelayMilliseconds=10",
            $"--Providers:OpenAI:BaseUrl={_openAi.ApiBaseUrl}",
            $"--Providers:OpenAI:ChatGptBaseUrl={_openAi.CodexBackendUrl}",
            "--Providers:OpenAI:RetryBaseDelayMilliseconds=10",
            $"--Providers:OpenAI:SignIn:AuthorizeUrl={_openAi.OAuthIssuer}{OpenAiSimulator.OAuthAuthorizePath}",
            $"--Providers:OpenAI:SignIn:TokenUrl={_openAi.OAuthIssuer}{OpenAiSimulator.OAuthTokenPath}",
            $"--Providers:Anthropic:BaseUrl={_anthropic.BaseUrl}",
            "--Providers:Anthropic:RetryBaseDelayMilliseconds=10",
            $"--Providers:Anthropic:SignIn:AuthorizeUrl={_anthropic.BaseUrl}/oauth/authorize",
            $"--Providers:Anthropic:SignIn:TokenUrl={_anthropic.BaseUrl}/v1/oauth/token",
        ]);
        await _gateway.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _openAi.DisposeAsync();
        await _anthropic.DisposeAsync();
        await _copilot.DisposeAsync();
    }

    [Fact]
    public async Task A_user_connects_Copilot_with_GitHubs_device_code_the_page_shows_it_alive_by_itself_it_serves_her_and_she_removes_it()
    {
        var alice = await ConsoleTestKit.CreateUserAsync(_gateway, "alice@example.com");
        var (aliceKey, _) = await ConsoleTestKit.CreateKeyAsync(_gateway, alice);
        // GitHub answers "pending" to the page's first polls: the user has not approved yet; then she has.
        _copilot.ScriptPolls(DevicePoll.Pending, DevicePoll.Pending, DevicePoll.Pending);

        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync("alice@example.com", ConsoleTestKit.UserPassword, "/ui/logins");
        await Assertions.Expect(page.Locator("#logins-table")).ToContainTextAsync("No logins yet");
        await page.SelectAsync("Provider", "Copilot");
        await page.GetByLabel("Label", new() { Exact = true }).FillAsync("seat");
        // GitHub's device flow is the quickest way, so it is the one chosen.
        await Assertions.Expect(page.GetByRole(AriaRole.Radio, new() { Name = "Sign in with GitHub (device code)" })).ToBeCheckedAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Start sign-in" }).ClickAsync();

        var code = page.Locator("#device-code");
        await Assertions.Expect(code).ToHaveTextAsync(new Regex(@"^[A-Z0-9]{4}-[A-Z0-9]{4}$"));
        var link = page.Locator("#device-link");
        await Assertions.Expect(link).ToHaveTextAsync(_copilot.BaseUrl + "/login/device");
        Assert.StartsWith(_copilot.BaseUrl + "/login/device", await link.GetAttributeAsync("href"));
        await Assertions.Expect(page.Locator("#device-status")).ToContainTextAsync("Waiting for your approval");

        // GitHub approves (after the scripted "pending" answers): the page notices by itself.
        var row = page.Locator("#logins-table tr", new() { HasText = "seat" });
        await Assertions.Expect(row).ToContainTextAsync("alive");
        await Assertions.Expect(row).ToContainTextAsync("Copilot");
        await Assertions.Expect(page.Locator("#device-flow")).ToHaveCountAsync(0);
        Assert.True(_copilot.DevicePolls.Count >= 4, $"GitHub was polled {_copilot.DevicePolls.Count} times");

        // Her requests to Copilot models go through her own seat.
        using (var http = _gateway.Http(aliceKey))
        using (var chat = await http.PostAsJsonAsync("/v1/chat/completions", new { model = "copilot/gpt-4.1", messages = new[] { new { role = "user", content = "Hi" } } }))
        {
            Assert.True(chat.StatusCode == HttpStatusCode.OK, await chat.Content.ReadAsStringAsync());
            Assert.Equal("copilot/seat", chat.Headers.GetValues("x-gapura-provider").Single());
        }
        Assert.Equal(1, _copilot.ChatCalls);

        await RemoveAsync(page, alice, "Copilot", "seat");
    }

    [Fact]
    public async Task A_user_signs_in_to_ChatGPT_by_pasting_the_address_it_lands_on_and_the_login_is_alive_and_serves_her()
    {
        var bob = await ConsoleTestKit.CreateUserAsync(_gateway, "bob@example.com");
        var (bobKey, _) = await ConsoleTestKit.CreateKeyAsync(_gateway, bob);
        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync("bob@example.com", ConsoleTestKit.UserPassword, "/ui/logins");

        await page.SelectAsync("Provider", "OpenAI");
        await page.GetByLabel("Label", new() { Exact = true }).FillAsync("home");
        await Assertions.Expect(page.GetByRole(AriaRole.Radio, new() { Name = "Sign in to ChatGPT" })).ToBeCheckedAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Start sign-in" }).ClickAsync();

        // The link leads to ChatGPT's sign-in page; approving there lands on a localhost address that does not load.
        var link = page.Locator("#sign-in-link");
        await Assertions.Expect(link).ToHaveTextAsync("the ChatGPT sign-in page");
        var authorizeUrl = await link.GetAttributeAsync("href");
        Assert.StartsWith(_openAi.OAuthIssuer + OpenAiSimulator.OAuthAuthorizePath, authorizeUrl);
        var landed = _openAi.Approve(authorizeUrl!, accountId: "acct-bob-3");
        Assert.StartsWith("http://localhost:1455/auth/callback?code=", landed);

        var finish = page.GetByRole(AriaRole.Button, new() { Name = "Finish sign-in" });
        await Assertions.Expect(finish).ToBeDisabledAsync();
        await page.GetByLabel("Code or address").FillAsync(landed);
        await finish.ClickAsync();

        var row = page.Locator("#logins-table tr", new() { HasText = "home" });
        await Assertions.Expect(row).ToContainTextAsync("alive");
        await Assertions.Expect(row).ToContainTextAsync("OpenAI");
        await Assertions.Expect(page.Locator("#sign-in-flow")).ToHaveCountAsync(0);
        Assert.DoesNotContain(new Uri(landed).Query, await page.ContentAsync());

        // Her requests go to ChatGPT's backend with her account.
        using (var http = _gateway.Http(bobKey))
        using (var chat = await http.PostAsJsonAsync("/v1/chat/completions", new { model = "openai/gpt-5", messages = new[] { new { role = "user", content = "Hi" } } }))
        {
            Assert.True(chat.StatusCode == HttpStatusCode.OK, await chat.Content.ReadAsStringAsync());
            Assert.Equal("openai/home", chat.Headers.GetValues("x-gapura-provider").Single());
        }
        Assert.Equal("acct-bob-3", _openAi.CodexBackendRequests.Last().Header("chatgpt-account-id"));

        await RemoveAsync(page, bob, "OpenAI", "home");
    }

    [Fact]
    public async Task A_user_signs_in_to_Claude_by_pasting_the_code_it_shows_and_the_login_is_alive_and_serves_her()
    {
        var dana = await ConsoleTestKit.CreateUserAsync(_gateway, "dana@example.com");
        var (danaKey, _) = await ConsoleTestKit.CreateKeyAsync(_gateway, dana);
        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync("dana@example.com", ConsoleTestKit.UserPassword, "/ui/logins");

        await page.SelectAsync("Provider", "Anthropic");
        await page.GetByLabel("Label", new() { Exact = true }).FillAsync("max");
        await Assertions.Expect(page.GetByRole(AriaRole.Radio, new() { Name = "Sign in to Claude" })).ToBeCheckedAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Start sign-in" }).ClickAsync();

        // Claude's sign-in page shows a code (code#state) once approved; the user copies it back.
        var link = page.Locator("#sign-in-link");
        await Assertions.Expect(link).ToHaveTextAsync("the Claude sign-in page");
        var pasted = _anthropic.Approve((await link.GetAttributeAsync("href"))!);
        await page.GetByLabel("Code or address").FillAsync(pasted);
        await page.GetByRole(AriaRole.Button, new() { Name = "Finish sign-in" }).ClickAsync();

        var row = page.Locator("#logins-table tr", new() { HasText = "max" });
        await Assertions.Expect(row).ToContainTextAsync("alive");
        await Assertions.Expect(row).ToContainTextAsync("Anthropic");
        await Assertions.Expect(page.Locator("#sign-in-flow")).ToHaveCountAsync(0);

        using (var http = _gateway.Http(danaKey))
        using (var ask = await http.PostAsJsonAsync("/v1/chat/completions", new { model = "anthropic/claude-haiku-4-5", max_tokens = 50, messages = new[] { new { role = "user", content = "Hi" } } }))
        {
            Assert.True(ask.StatusCode == HttpStatusCode.OK, await ask.Content.ReadAsStringAsync());
            Assert.Equal("anthropic/max", ask.Headers.GetValues("x-gapura-provider").Single());
        }

        await RemoveAsync(page, dana, "Anthropic", "max");
    }

    [Fact]
    public async Task A_sign_in_code_that_is_refused_shows_the_gateways_reason_and_nothing_is_connected()
    {
        var carol = await ConsoleTestKit.CreateUserAsync(_gateway, "carol@example.com");
        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync("carol@example.com", ConsoleTestKit.UserPassword, "/ui/logins");

        await page.SelectAsync("Provider", "OpenAI");
        await page.GetByRole(AriaRole.Button, new() { Name = "Start sign-in" }).ClickAsync();
        await Assertions.Expect(page.Locator("#sign-in-link")).ToBeVisibleAsync();
        await page.GetByLabel("Code or address").FillAsync("http://localhost:1455/auth/callback?code=made-up&state=wrong");
        await page.GetByRole(AriaRole.Button, new() { Name = "Finish sign-in" }).ClickAsync();

        // The admin API's own refusal is shown; the flow is over, so the user can start again.
        await Assertions.Expect(page.Locator(".mud-snackbar")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#sign-in-flow")).ToHaveCountAsync(0);
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Start sign-in" })).ToBeEnabledAsync();
        await Assertions.Expect(page.Locator("#logins-table")).ToContainTextAsync("No logins yet");
        Assert.Empty(await _gateway.Services.GetRequiredService<IGapuraStore>().UpstreamLogins.ListAsync(carol));
    }

    private async Task RemoveAsync(IPage page, long userId, string provider, string label)
    {
        await page.GetByRole(AriaRole.Button, new() { Name = $"Remove {provider} login {label}" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Remove", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByText($"The {provider} login '{label}' was removed.")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#logins-table")).ToContainTextAsync("No logins yet");
        Assert.Empty(await _gateway.Services.GetRequiredService<IGapuraStore>().UpstreamLogins.ListAsync(userId));
    }
}
