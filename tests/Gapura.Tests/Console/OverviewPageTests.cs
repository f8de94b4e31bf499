using System.Net;
using System.Text.Json.Nodes;
using Gapura.Tests.Admin;
using Gapura.Tests.Integration;
using Microsoft.Playwright;

namespace Gapura.Tests.Console;

[Trait("Category", "Browser")]
[Collection(ConsoleBrowser.Collection)]
public sealed class OverviewPageTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>, IAsyncLifetime
{
    private readonly GatewayFixture _gateway = new();

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => _gateway.DisposeAsync();

    [Fact]
    public async Task An_admin_sees_todays_requests_the_charts_providers_and_the_user_nearest_a_budget()
    {
        using var admin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey);
        var me = await admin.GetAsync("/admin/api/me");
        var myId = me.Json!["user"]?["id"]?.GetValue<long>() ?? me.Json!["id"]!.GetValue<long>();
        var budget = await admin.PutAsync($"/admin/api/budgets/users/{myId}", new JsonObject { ["daily"] = new JsonObject { ["output_tokens"] = 100_000 } });
        Assert.True(budget.Status == HttpStatusCode.OK, budget.ToString());

        // Two requests through the gateway with the admin's key; the ledger writes them in the background.
        await ConsoleUsage.ChatAsync(_gateway, GatewayFixture.ApiKey, 2);
        var model = await ConsoleUsage.WaitForRequestsAsync(admin, 2);

        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword, "/ui");
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Overview", Level = 1 })).ToBeVisibleAsync();
        foreach (var period in new[] { "today", "week", "month" })
        {
            await Assertions.Expect(page.Locator($"#period-{period} [data-figure=requests]")).ToHaveTextAsync("2");
            Assert.NotEqual("0", await page.Locator($"#period-{period} [data-figure=tokens]").TextContentAsync());
            Assert.StartsWith("$", await page.Locator($"#period-{period} [data-figure=cost]").TextContentAsync()); // Sonnet has a list price
        }

        // The charts name the model; grouped by user they name the admin.
        await Assertions.Expect(page.Locator("#overview-tokens")).ToContainTextAsync(model);
        await Assertions.Expect(page.Locator("#overview-cost")).ToContainTextAsync(model);
        await Assertions.Expect(page.Locator("#overview-tokens svg").First).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Combobox, new() { Name = "By", Exact = true }).ClickAsync();
        await page.GetByRole(AriaRole.Option, new() { Name = "User" }).ClickAsync();
        await Assertions.Expect(page.Locator("#overview-tokens")).ToContainTextAsync(GatewayFixture.AdminEmail);

        // Providers: kiro answered both, no errors, a time to first byte.
        var kiro = page.Locator("#overview-providers tr", new() { HasText = "kiro" });
        await Assertions.Expect(kiro).ToContainTextAsync("0.0 %");
        await Assertions.Expect(kiro).ToContainTextAsync("ms");

        // The admin's own daily output budget, with its bar.
        var budgets = page.Locator("#overview-budgets");
        await Assertions.Expect(budgets).ToContainTextAsync(GatewayFixture.AdminEmail);
        await Assertions.Expect(budgets).ToContainTextAsync("/ 100,000");
        await Assertions.Expect(budgets.GetByRole(AriaRole.Progressbar)).ToHaveCountAsync(1);
    }

    [Fact]
    public async Task A_user_who_is_not_an_admin_is_sent_to_their_keys()
    {
        await ConsoleUsage.CreateUserAsync(_gateway, "dev@gapura.test");
        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync("dev@gapura.test", ConsoleUsage.Password);
        await page.GotoAsync("/ui");
        await page.WaitForURLAsync("**/ui/keys");
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "API keys", Level = 1 })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#overview-periods")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task The_overview_fits_a_phone()
    {
        await ConsoleUsage.ChatAsync(_gateway, GatewayFixture.ApiKey, 1);
        using var admin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey);
        await ConsoleUsage.WaitForRequestsAsync(admin, 1);
        var page = await browser.NewPageAsync(_gateway.BaseUrl, ConsoleBrowser.Phone);
        await page.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword, "/ui");
        await Assertions.Expect(page.Locator("#period-today [data-figure=requests]")).ToHaveTextAsync("1");
        await Assertions.Expect(page.Locator("#overview-tokens svg").First).ToBeVisibleAsync();
        Assert.True(await ConsoleUsage.FitsWidthAsync(page), "the page body scrolls sideways at 390 px");
    }
}

/// <summary>What the usage pages' tests share: users, requests through the gateway, waiting for the ledger.</summary>
internal static class ConsoleUsage
{
    public const string Password = "Sturdy-password-2026";

    public static async Task<long> CreateUserAsync(GatewayFixture gateway, string email)
    {
        using var admin = new AdminClient(gateway.BaseUrl, GatewayFixture.ApiKey);
        var created = await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = email, ["display_name"] = email.Split('@')[0], ["role"] = "user", ["password"] = Password });
        Assert.True(created.Status == HttpStatusCode.Created, created.ToString());
        return created.Json!["id"]!.GetValue<long>();
    }

    /// <summary>A key for <paramref name="userId"/>, once the gateway accepts it (new keys arrive through the change feed).</summary>
    public static async Task<string> CreateKeyAsync(GatewayFixture gateway, long userId)
    {
        using var admin = new AdminClient(gateway.BaseUrl, GatewayFixture.ApiKey);
        var created = await admin.PostAsync("/admin/api/keys", new JsonObject { ["name"] = "laptop", ["user_id"] = userId });
        Assert.True(created.Status == HttpStatusCode.Created, created.ToString());
        var key = created.Json!["key"]!.GetValue<string>();
        using var http = gateway.Http(key);
        await EventuallyAsync(async () => (await http.GetAsync("/v1/models")).StatusCode == HttpStatusCode.OK, "the new key to be accepted");
        return key;
    }

    public static async Task ChatAsync(GatewayFixture gateway, string key, int times)
    {
        using var http = gateway.Http(key);
        for (var i = 0; i < times; i++)
        {
            var (response, body) = await Wire.SendAsync(http, Wire.OpenAi(Wire.OpenAiBody("hello")));
            Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        }
    }

    /// <summary>Waits until the ledger holds <paramref name="requests"/> requests (the admin's report over the default week); returns the model they were recorded under.</summary>
    public static async Task<string> WaitForRequestsAsync(AdminClient admin, long requests)
    {
        await EventuallyAsync(async () => (await admin.GetAsync("/admin/api/usage")).Json?["totals"]?["requests"]?.GetValue<long>() == requests, $"the ledger to hold {requests} requests");
        var byModel = await admin.GetAsync("/admin/api/usage?groupBy=model");
        return byModel.Json!["data"]![0]!["model"]!.GetValue<string>();
    }

    public static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"Timed out waiting for {what}.");
            await Task.Delay(100);
        }
    }

    /// <summary>True when the page's body does not scroll sideways (wide tables and charts scroll or shrink inside it).</summary>
    public static Task<bool> FitsWidthAsync(IPage page)
        => page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth && document.body.scrollWidth <= window.innerWidth");
}
