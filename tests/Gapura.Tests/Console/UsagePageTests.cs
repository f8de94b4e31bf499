using Gapura.Tests.Admin;
using Gapura.Tests.Integration;
using Microsoft.Playwright;

namespace Gapura.Tests.Console;

[Trait("Category", "Browser")]
[Collection(ConsoleBrowser.Collection)]
public sealed class UsagePageTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>, IAsyncLifetime
{
    private const string Alice = "alice@gapura.test";

    private readonly GatewayFixture _gateway = new();

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => _gateway.DisposeAsync();

    /// <summary>Alice makes two requests with her key, the admin one with theirs; returns the model they were recorded under.</summary>
    private async Task<string> TwoUsersUsedTheGatewayAsync()
    {
        var aliceId = await ConsoleUsage.CreateUserAsync(_gateway, Alice);
        var aliceKey = await ConsoleUsage.CreateKeyAsync(_gateway, aliceId);
        await ConsoleUsage.ChatAsync(_gateway, aliceKey, 2);
        await ConsoleUsage.ChatAsync(_gateway, GatewayFixture.ApiKey, 1);
        using var admin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey);
        return await ConsoleUsage.WaitForRequestsAsync(admin, 3);
    }

    private static async Task GroupByAsync(IPage page, params string[] groupings)
    {
        await page.GetByRole(AriaRole.Combobox, new() { Name = "Group by", Exact = true }).ClickAsync();
        foreach (var g in groupings) await page.GetByRole(AriaRole.Option, new() { Name = g, Exact = true }).ClickAsync();
        await page.Keyboard.PressAsync("Escape");
        await page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
    }

    [Fact]
    public async Task An_admin_groups_everyones_usage_by_user_and_downloads_it_as_csv()
    {
        var model = await TwoUsersUsedTheGatewayAsync();
        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword, "/ui/usage");

        // By default: the last 7 days by day and model, everyone's.
        await Assertions.Expect(page.Locator("#usage-totals")).ToContainTextAsync("3 requests");
        var today = DateTime.UtcNow.ToString("yyyy-MM-dd");
        var row = page.Locator("#usage-table tbody tr", new() { HasText = model });
        await Assertions.Expect(row).ToContainTextAsync(today);
        await Assertions.Expect(row).ToContainTextAsync("3");
        await Assertions.Expect(page.Locator("#usage-chart")).ToContainTextAsync(model);

        // Also by user: a row for each, alice's with her two requests.
        await GroupByAsync(page, "User");
        var aliceRow = page.Locator("#usage-table tbody tr", new() { HasText = Alice });
        await Assertions.Expect(aliceRow).ToHaveCountAsync(1);
        await Assertions.Expect(aliceRow.Locator("td[data-label=Requests]")).ToHaveTextAsync("2");
        await Assertions.Expect(page.Locator("#usage-table tbody tr", new() { HasText = GatewayFixture.AdminEmail }).Locator("td[data-label=Requests]")).ToHaveTextAsync("1");
        await Assertions.Expect(page.Locator("#usage-table thead")).ToContainTextAsync("User");

        // The CSV is the same report.
        var download = await page.RunAndWaitForDownloadAsync(() => page.GetByText("Download CSV").ClickAsync());
        Assert.EndsWith(".csv", download.SuggestedFilename);
        var lines = (await File.ReadAllTextAsync(await download.PathAsync())).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("day,user_id,user_email,model,requests,", lines[0]);
        Assert.Equal(3, lines.Length);
        Assert.Contains(lines, l => l.StartsWith(today, StringComparison.Ordinal) && l.Contains($",{Alice},{model},2,", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains($",{GatewayFixture.AdminEmail},{model},1,", StringComparison.Ordinal));

        // Narrowed to alice.
        await page.GetByRole(AriaRole.Combobox, new() { Name = "User", Exact = true }).ClickAsync();
        await page.GetByRole(AriaRole.Option, new() { Name = Alice }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        await Assertions.Expect(page.Locator("#usage-totals")).ToContainTextAsync("2 requests");
        await Assertions.Expect(page.Locator("#usage-table tbody tr", new() { HasText = GatewayFixture.AdminEmail })).ToHaveCountAsync(0);

        // A window the API refuses shows its own words.
        await page.GetByLabel("From", new() { Exact = true }).FillAsync("2026-12-31");
        await page.GetByLabel("To", new() { Exact = true }).FillAsync("2026-01-01");
        await page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        await Assertions.Expect(page.Locator("#usage-error")).ToContainTextAsync("from");
    }

    [Fact]
    public async Task A_user_sees_only_their_own_usage()
    {
        var model = await TwoUsersUsedTheGatewayAsync();
        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync(Alice, ConsoleUsage.Password, "/ui/usage");

        await Assertions.Expect(page.Locator("#usage-totals")).ToContainTextAsync("2 requests");
        await Assertions.Expect(page.GetByText("You see your own usage.")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#usage-user")).ToHaveCountAsync(0); // no one else to pick

        await GroupByAsync(page, "User");
        await Assertions.Expect(page.Locator("#usage-table tbody tr", new() { HasText = Alice })).ToHaveCountAsync(1);
        Assert.DoesNotContain(GatewayFixture.AdminEmail, await page.ContentAsync());

        var download = await page.RunAndWaitForDownloadAsync(() => page.GetByText("Download CSV").ClickAsync());
        var csv = await File.ReadAllTextAsync(await download.PathAsync());
        Assert.Contains($",{Alice},{model},2,", csv);
        Assert.DoesNotContain(GatewayFixture.AdminEmail, csv);
    }

    [Fact]
    public async Task The_usage_page_fits_a_phone()
    {
        var model = await TwoUsersUsedTheGatewayAsync();
        var page = await browser.NewPageAsync(_gateway.BaseUrl, ConsoleBrowser.Phone);
        await page.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword, "/ui/usage");
        await Assertions.Expect(page.Locator("#usage-table")).ToContainTextAsync(model);
        await Assertions.Expect(page.Locator("#usage-chart svg").First).ToBeVisibleAsync();
        Assert.True(await ConsoleUsage.FitsWidthAsync(page), "the page body scrolls sideways at 390 px");
    }
}
