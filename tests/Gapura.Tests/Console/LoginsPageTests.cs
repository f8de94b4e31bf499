using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Storage;
using Gapura.Tests.Admin;
using Gapura.Tests.Integration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace Gapura.Tests.Console;

[Trait("Category", "Browser")]
[Collection(ConsoleBrowser.Collection)]
public sealed class LoginsPageTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>, IAsyncLifetime
{
    private const string AlicePassword = "alice-long-password-0451";

    // Only the test approves a device code (as the user would in the other tab), and polls may come every second.
    private readonly GatewayFixture _gateway = new() { SimulatorOptions = new() { PollsUntilApproved = 0, DeviceInterval = 1 } };

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => _gateway.DisposeAsync();

    [Fact]
    public async Task A_user_connects_a_Kiro_login_by_device_code_the_page_shows_it_alive_by_itself_it_serves_her_and_she_removes_it()
    {
        var (alice, aliceKey) = await AddUserAsync("alice@example.com");
        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync("alice@example.com", AlicePassword, "/ui/logins");
        await Assertions.Expect(page.Locator("#logins-table")).ToContainTextAsync("No logins yet");

        // Kiro is offered first, by device code: the only way it connects.
        await Assertions.Expect(page.GetByRole(AriaRole.Combobox, new() { Name = "Provider", Exact = true })).ToHaveTextAsync("Kiro");
        await page.GetByLabel("Label", new() { Exact = true }).FillAsync("laptop");
        await page.GetByRole(AriaRole.Button, new() { Name = "Start sign-in" }).ClickAsync();
        var code = page.Locator("#device-code");
        await Assertions.Expect(code).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^[A-Z]{4}-[A-Z]{4}$"));
        var link = await page.Locator("#device-link").GetAttributeAsync("href");
        Assert.Contains("user_code=", link);
        await Assertions.Expect(page.Locator("#device-status")).ToContainTextAsync("Waiting for your approval");

        // The user approves in the other tab; the page notices by itself.
        Assert.True(_gateway.Kiro.Approve(await code.InnerTextAsync()));
        var row = page.Locator("#logins-table tr", new() { HasText = "laptop" });
        await Assertions.Expect(row).ToContainTextAsync("alive");
        await Assertions.Expect(row).ToContainTextAsync("Kiro");
        await Assertions.Expect(page.Locator("#device-flow")).ToHaveCountAsync(0);

        // Her requests are served by it at once.
        using (var http = _gateway.Http(aliceKey))
        using (var chat = await http.PostAsJsonAsync("/v1/chat/completions", new { model = "claude-sonnet-4.5", messages = new[] { new { role = "user", content = "Hi" } } }))
        {
            Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
            Assert.Equal("laptop", chat.Headers.GetValues("x-gapura-login").Single());
        }

        // No token of it ever reaches the page.
        var store = _gateway.Services.GetRequiredService<IGapuraStore>();
        var login = (await store.UpstreamLogins.ListAsync(alice)).Single();
        using var secret = JsonDocument.Parse(await store.UpstreamLogins.ReadSecretAsync(login.Id));
        var html = await page.ContentAsync();
        Assert.DoesNotContain(secret.RootElement.GetProperty("accessToken").GetString()!, html);
        Assert.DoesNotContain(secret.RootElement.GetProperty("refreshToken").GetString()!, html);

        await page.GetByRole(AriaRole.Button, new() { Name = "Remove Kiro login laptop" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Remove", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#logins-table")).ToContainTextAsync("No logins yet");
        Assert.Empty(await store.UpstreamLogins.ListAsync(alice));
    }

    [Fact]
    public async Task A_user_adds_an_API_key_login_renames_it_and_removes_it_and_the_key_is_never_shown_again()
    {
        var (alice, _) = await AddUserAsync("alice@example.com");
        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync("alice@example.com", AlicePassword, "/ui/logins");

        await page.GetByRole(AriaRole.Combobox, new() { Name = "Provider", Exact = true }).ClickAsync();
        await page.GetByRole(AriaRole.Option, new() { Name = "Anthropic" }).ClickAsync();
        await page.GetByLabel("Label", new() { Exact = true }).FillAsync("work");
        await page.GetByText("Paste an API key").ClickAsync();
        const string apiKey = "sk-ant-api03-secret-never-shown-0123456789";
        await page.GetByLabel("API key", new() { Exact = true }).FillAsync(apiKey);
        await page.GetByRole(AriaRole.Button, new() { Name = "Connect" }).ClickAsync();

        var row = page.Locator("#logins-table tr", new() { HasText = "work" });
        await Assertions.Expect(row).ToContainTextAsync("Anthropic");
        await Assertions.Expect(row).ToContainTextAsync("alive");
        await Assertions.Expect(page.GetByLabel("API key", new() { Exact = true })).ToHaveValueAsync("");
        var login = Assert.Single(await _gateway.Services.GetRequiredService<IGapuraStore>().UpstreamLogins.ListAsync(alice));
        Assert.Equal(("anthropic", "work"), (login.Provider, login.Label));
        Assert.DoesNotContain(apiKey, await page.ContentAsync());

        await page.GetByRole(AriaRole.Button, new() { Name = "Rename Anthropic login work" }).ClickAsync();
        await page.GetByLabel("New label").FillAsync("team");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#logins-table tr", new() { HasText = "team" })).ToContainTextAsync("Anthropic");

        await page.GetByRole(AriaRole.Button, new() { Name = "Remove Anthropic login team" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Remove", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#logins-table")).ToContainTextAsync("No logins yet");
        Assert.Empty(await _gateway.Services.GetRequiredService<IGapuraStore>().UpstreamLogins.ListAsync(alice));
    }

    [Fact]
    public async Task On_a_phone_an_admin_sees_another_users_login_state_but_never_its_secret()
    {
        var (alice, _) = await AddUserAsync("alice@example.com");
        const string apiKey = "sk-ant-api03-alices-own-secret-9876543210";
        using (var admin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey))
        {
            var connected = await admin.PostAsync($"/admin/api/users/{alice}/logins/anthropic", new JsonObject { ["label"] = "alice-work", ["api_key"] = apiKey });
            Assert.Equal(HttpStatusCode.Created, connected.Status);
        }

        var page = await browser.NewPageAsync(_gateway.BaseUrl, ConsoleBrowser.Phone);
        await page.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword, "/ui/logins");
        await Assertions.Expect(page.Locator("#logins-table")).ToContainTextAsync("Your logins");
        await page.GetByRole(AriaRole.Combobox, new() { Name = "Whose logins" }).ClickAsync();
        await page.GetByRole(AriaRole.Option, new() { Name = "alice@example.com" }).ClickAsync();

        var row = page.Locator("#logins-table tr", new() { HasText = "alice-work" });
        await Assertions.Expect(row).ToContainTextAsync("alive");
        await Assertions.Expect(page.Locator("#logins-table")).ToContainTextAsync("Logins of alice@example.com");
        Assert.DoesNotContain(apiKey, await page.ContentAsync());

        // Her provider order is hers to set, and the admin's to set for her.
        await page.GetByRole(AriaRole.Combobox, new() { Name = "Add a provider" }).ClickAsync();
        await page.GetByRole(AriaRole.Option, new() { Name = "Anthropic" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Add", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#priority-list")).ToContainTextAsync("Anthropic");
        await page.GetByRole(AriaRole.Combobox, new() { Name = "Add a provider" }).ClickAsync();
        await page.GetByRole(AriaRole.Option, new() { Name = "Kiro" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Add", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#priority-list")).ToContainTextAsync("Kiro");
        await page.GetByRole(AriaRole.Button, new() { Name = "Move Kiro up" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Save order" }).ClickAsync();
        await Assertions.Expect(page.GetByText("Provider order saved.")).ToBeVisibleAsync();
        using var asAdmin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey);
        var priority = await asAdmin.GetAsync($"/admin/api/users/{alice}/providers");
        Assert.Equal(["kiro", "anthropic"], priority.Json!["providers"]!.AsArray().Select(p => p!.GetValue<string>()));

        // The page fits the phone: nothing wider than the screen.
        var overflow = await page.EvaluateAsync<bool>("document.documentElement.scrollWidth > window.innerWidth");
        Assert.False(overflow);
    }

    /// <summary>A non-admin user with a password (to sign in to the console) and a gateway key of her own.</summary>
    private async Task<(long Id, string Key)> AddUserAsync(string email)
    {
        using var admin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey);
        var created = await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = email, ["password"] = AlicePassword, ["role"] = "user" });
        Assert.True(created.Status == HttpStatusCode.Created, created.ToString());
        var id = created.Json!["id"]!.GetValue<long>();
        var key = await admin.PostAsync("/admin/api/keys", new JsonObject { ["name"] = "test", ["user_id"] = id });
        Assert.True(key.Status == HttpStatusCode.Created, key.ToString());
        return (id, key.Json!["key"]!.GetValue<string>());
    }
}
