using Gapura.Tests.Integration;
using Microsoft.Playwright;

namespace Gapura.Tests.Console;

[Trait("Category", "Browser")]
[Collection(ConsoleBrowser.Collection)]
public sealed class KeysPageTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>, IAsyncLifetime
{
    private readonly GatewayFixture _gateway = new();

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => _gateway.DisposeAsync();

    [Fact]
    public async Task An_admin_creates_a_key_sees_it_once_uses_it_and_revokes_it()
    {
        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword);

        await page.GetByLabel("Name").FillAsync("laptop claude");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create key" }).ClickAsync();
        var key = await page.GetByLabel("The new API key").InputValueAsync();
        Assert.StartsWith("sk-gp-", key);

        // The key works on the gateway at once.
        using var http = _gateway.Http(key);
        using var models = await http.GetAsync("/v1/models");
        Assert.Equal(System.Net.HttpStatusCode.OK, models.StatusCode);

        // Listed by name and prefix, never in full.
        var row = page.Locator("#keys-table tr", new() { HasText = "laptop claude" });
        await Assertions.Expect(row).ToContainTextAsync("active");
        await page.ReloadAsync();
        await page.WaitForInteractiveAsync();
        Assert.DoesNotContain(key, await page.ContentAsync());

        await page.Locator("#keys-table tr", new() { HasText = "laptop claude" }).GetByRole(AriaRole.Button, new() { NameRegex = new("^Revoke key") }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Revoke", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#keys-table tr", new() { HasText = "laptop claude" })).ToContainTextAsync("revoked");
        using var refused = await http.GetAsync("/v1/models");
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, refused.StatusCode);
    }
}
