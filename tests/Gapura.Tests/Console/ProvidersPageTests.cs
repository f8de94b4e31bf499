using System.Net;
using System.Text.Json.Nodes;
using Gapura.Tests.Admin;
using Gapura.Tests.Integration;
using Microsoft.Playwright;

namespace Gapura.Tests.Console;

[Trait("Category", "Browser")]
[Collection(ConsoleBrowser.Collection)]
public sealed class ProvidersPageTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>, IAsyncLifetime
{
    private readonly GatewayFixture _gateway = new();

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => _gateway.DisposeAsync();

    [Fact]
    public async Task An_admin_turns_a_provider_and_a_model_off_and_on_and_the_gateway_follows()
    {
        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword, "/ui/providers");
        using var http = _gateway.Http();
        Assert.Contains("claude-sonnet-4.5", await http.GetStringAsync("/v1/models"));

        // Kiro's models are listed with their limits and what they can do.
        var model = page.Locator("#models-table tr", new() { HasText = "claude-sonnet-4.5" }).First;
        await Assertions.Expect(model).ToContainTextAsync("Kiro");
        await Assertions.Expect(model).ToContainTextAsync("offered");
        await Assertions.Expect(model).ToContainTextAsync("tools");
        Assert.Matches(@"\d{1,3}(,\d{3})+", await model.InnerTextAsync());

        await page.GetByRole(AriaRole.Switch, new() { Name = "Use Kiro", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByText("Kiro is off.")).ToBeVisibleAsync();
        await Assertions.Expect(model).ToContainTextAsync("provider off");
        await Assertions.Expect(page.Locator("#providers-table tr", new() { HasText = "Kiro" })).ToContainTextAsync("off");
        Assert.DoesNotContain("claude-sonnet-4.5", await http.GetStringAsync("/v1/models"));

        await page.GetByRole(AriaRole.Switch, new() { Name = "Use Kiro", Exact = true }).ClickAsync();
        await Assertions.Expect(model).ToContainTextAsync("offered");
        Assert.Contains("claude-sonnet-4.5", await http.GetStringAsync("/v1/models"));

        // One model off: the others stay.
        await page.GetByLabel("Filter").FillAsync("sonnet-4.5");
        await page.GetByRole(AriaRole.Switch, new() { Name = "Offer claude-sonnet-4.5", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#models-table tr", new() { HasText = "claude-sonnet-4.5" }).First).ToContainTextAsync("off");
        var models = await http.GetStringAsync("/v1/models");
        Assert.DoesNotContain("\"claude-sonnet-4.5\"", models);
        Assert.Contains("claude", models);
    }

    [Fact]
    public async Task A_user_who_is_not_an_admin_is_told_so_and_the_API_refuses_them()
    {
        using var admin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey);
        var created = await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = "bob@example.com", ["password"] = "bob-long-password-0451", ["role"] = "user" });
        Assert.Equal(HttpStatusCode.Created, created.Status);

        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync("bob@example.com", "bob-long-password-0451", "/ui/logins");
        // The menu does not offer the page; going there anyway (in the console) says it is for admins.
        await Assertions.Expect(page.GetByRole(AriaRole.Link, new() { Name = "Providers" })).ToHaveCountAsync(0);
        await page.EvaluateAsync("Blazor.navigateTo('/ui/providers')");
        await page.WaitForURLAsync("**/ui/providers");
        await Assertions.Expect(page.GetByText("This page is for admins.")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#providers-table")).ToHaveCountAsync(0);

        using var bob = new AdminClient(_gateway.BaseUrl);
        Assert.Equal(HttpStatusCode.OK, (await bob.SignInAsync("bob@example.com", "bob-long-password-0451")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await bob.GetAsync("/admin/api/providers")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await bob.PutAsync("/admin/api/providers", new JsonObject
        {
            ["providers"] = new JsonArray(new JsonObject { ["name"] = "kiro", ["enabled"] = false }),
        })).Status);
    }
}
