using System.Net;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Gapura.Tests.Admin;
using Gapura.Tests.Integration;
using Microsoft.Playwright;

namespace Gapura.Tests.Console;

[Trait("Category", "Browser")]
[Collection(ConsoleBrowser.Collection)]
public sealed class UsersPageTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>, IAsyncLifetime
{
    private const string DanaEmail = "dana@example.com";
    private const string DanaPassword = "Dana-first-password-1";

    private readonly GatewayFixture _gateway = new();

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => _gateway.DisposeAsync();

    [Fact]
    public async Task An_admin_adds_a_user_who_signs_in_then_changes_role_disables_resets_password_and_deletes_them()
    {
        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword, "/ui/users");

        await page.GetByLabel("Email", new() { Exact = true }).FillAsync(DanaEmail);
        await page.GetByLabel("Display name", new() { Exact = true }).FillAsync("Dana D.");
        await page.GetByLabel("Initial password").FillAsync(DanaPassword);
        await page.GetByRole(AriaRole.Button, new() { Name = "Add user" }).ClickAsync();
        await Assertions.Expect(page.GetByText($"User {DanaEmail} added.")).ToBeVisibleAsync();
        var row = page.Locator("#users-table tbody tr", new() { HasText = DanaEmail });
        await Assertions.Expect(row).ToContainTextAsync("Dana D.");
        await Assertions.Expect(row).ToContainTextAsync("active");

        // The new user signs in on the console with that password.
        var dana = await browser.NewPageAsync(_gateway.BaseUrl);
        await dana.SignInAsync(DanaEmail, DanaPassword, "/ui/keys");
        await Assertions.Expect(dana.Locator("h1")).ToHaveTextAsync("API keys");

        // Search narrows the list, in the browser.
        await page.GetByLabel("Search by email or name").FillAsync("dana d");
        await Assertions.Expect(page.Locator("#users-table tbody tr")).ToHaveCountAsync(1);
        await page.GetByLabel("Search by email or name").FillAsync("nobody-like-this");
        await Assertions.Expect(page.GetByText("No user matches the search.")).ToBeVisibleAsync();
        await page.GetByLabel("Search by email or name").FillAsync("dana");

        await page.GetByRole(AriaRole.Link, new() { Name = DanaEmail }).ClickAsync();
        await page.WaitForURLAsync("**/ui/users/*");
        var id = long.Parse(page.Url.Split('/')[^1]);
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync(DanaEmail);

        // Role: made an admin, the gateway says so, the list shows it.
        await page.GetByLabel("Role").ClickAsync();
        await page.GetByRole(AriaRole.Option, new() { Name = "admin", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByText($"{DanaEmail} is now an admin.")).ToBeVisibleAsync();
        using var admin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey);
        Assert.Equal("admin", (await admin.GetAsync($"/admin/api/users/{id}")).Json!["role"]!.GetValue<string>());
        await page.GotoInteractiveAsync("/ui/users");
        await Assertions.Expect(page.Locator("#users-table tbody tr", new() { HasText = DanaEmail })).ToContainTextAsync("admin");
        await page.GetByRole(AriaRole.Link, new() { Name = DanaEmail }).ClickAsync();
        await page.WaitForURLAsync($"**/ui/users/{id}");
        // The list page has a Role select of its own (the new-user form): wait until the user's page has replaced it.
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync(DanaEmail);
        await page.GetByLabel("Role").ClickAsync();
        await page.GetByRole(AriaRole.Option, new() { Name = "user", Exact = true }).ClickAsync();
        await Assertions.Expect(page.GetByText($"{DanaEmail} is now a user.")).ToBeVisibleAsync();

        // Disabled: the next sign-in is refused with the API's own words, and her open session ends.
        await page.GetByRole(AriaRole.Button, new() { Name = "Disable account" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Disable", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#user-state")).ToHaveTextAsync("disabled");
        var again = await browser.NewPageAsync(_gateway.BaseUrl);
        await TrySignInAsync(again, DanaEmail, DanaPassword);
        await Assertions.Expect(again.GetByRole(AriaRole.Alert)).ToHaveTextAsync("This account is disabled; ask an admin to enable it.");
        await dana.GotoAsync("/ui/keys");
        await dana.WaitForURLAsync("**/ui/signin**");

        await page.GetByRole(AriaRole.Button, new() { Name = "Enable account" }).ClickAsync();
        await Assertions.Expect(page.Locator("#user-state")).ToHaveTextAsync("active");

        // A new password from the admin: the old one stops working, the new one signs her in.
        await page.GetByLabel("New password").FillAsync("Dana-second-password-2");
        await page.GetByRole(AriaRole.Button, new() { Name = "Set password" }).ClickAsync();
        await Assertions.Expect(page.GetByText($"New password set for {DanaEmail}.")).ToBeVisibleAsync();
        await TrySignInAsync(again, DanaEmail, DanaPassword);
        await Assertions.Expect(again.GetByRole(AriaRole.Alert)).ToBeVisibleAsync();
        Assert.Contains("/ui/signin", again.Url);
        await again.SignInAsync(DanaEmail, "Dana-second-password-2", "/ui/keys");

        // Deleted: gone from the list and from the gateway.
        await page.GetByRole(AriaRole.Button, new() { Name = "Delete user" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Delete", Exact = true }).ClickAsync();
        // The page changes address inside the circuit (no load event): poll the address rather than wait for a navigation event.
        await Assertions.Expect(page.GetByText($"{DanaEmail} deleted.")).ToBeVisibleAsync();
        await Assertions.Expect(page).ToHaveURLAsync(new Regex("/ui/users$"));
        await Assertions.Expect(page.Locator("#users-table tbody tr", new() { HasText = GatewayFixture.AdminEmail })).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#users-table tbody tr", new() { HasText = DanaEmail })).ToHaveCountAsync(0);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/admin/api/users/{id}")).Status);
    }

    [Fact]
    public async Task A_users_page_shows_their_keys_usage_of_the_last_week_and_budget_bars()
    {
        using var admin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey);
        var created = await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = "eli@example.com", ["password"] = "Eli-password-2026" });
        var id = created.Json!["id"]!.GetValue<long>();
        var key = (await admin.PostAsync("/admin/api/keys", new JsonObject { ["name"] = "eli laptop", ["user_id"] = id })).Json!["key"]!.GetValue<string>();
        await admin.PostAsync("/admin/api/keys", new JsonObject { ["name"] = "eli old", ["user_id"] = id });
        var budget = await admin.PutAsync($"/admin/api/budgets/users/{id}", new JsonObject { ["daily"] = new JsonObject { ["input_tokens"] = 100_000, ["output_tokens"] = 50_000 } });
        Assert.True(budget.Status == HttpStatusCode.OK, budget.ToString());

        using var http = _gateway.Http(key);
        await Eventually(async () => (await http.GetAsync("/v1/models")).StatusCode == HttpStatusCode.OK, "the new key to be accepted");
        var (response, body) = await Wire.SendAsync(http, Wire.OpenAi(Wire.OpenAiBody("hello there")));
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        string? model = null;
        await Eventually(async () =>
        {
            var usage = await admin.GetAsync($"/admin/api/usage?user={id}&groupBy=model");
            model = usage.Json?["data"]?.AsArray().FirstOrDefault()?["model"]?.GetValue<string>();
            return model is not null;
        }, "the ledger to record the request");

        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword, $"/ui/users/{id}");
        await Assertions.Expect(page.Locator("#user-keys")).ToContainTextAsync("2 keys, 2 active");
        var usageRow = page.Locator("#usage-table tbody tr", new() { HasText = model! });
        await Assertions.Expect(usageRow).ToBeVisibleAsync();
        await Assertions.Expect(usageRow.Locator("td").Nth(1)).ToHaveTextAsync("1");

        var input = page.Locator("#budget-daily-input");
        await Assertions.Expect(input).ToContainTextAsync("Today: input tokens");
        await Assertions.Expect(input).ToContainTextAsync("of 100,000 used");
        await Assertions.Expect(page.Locator("#budget-daily-output")).ToContainTextAsync("of 50,000 used");
        await Assertions.Expect(page.GetByRole(AriaRole.Progressbar)).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator("#user-budget")).ToContainTextAsync("This user has a budget of their own.");
    }

    [Fact]
    public async Task A_non_admin_gets_the_not_allowed_message_on_users_and_audit_and_the_api_refuses_them()
    {
        using var admin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey);
        var id = (await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = "finn@example.com", ["password"] = "Finn-password-2026" })).Json!["id"]!.GetValue<long>();

        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync("finn@example.com", "Finn-password-2026", "/ui/keys");
        foreach (var path in new[] { "/ui/users", $"/ui/users/{id}", "/ui/audit" })
        {
            // Refused by the server before any page code runs: a 403 whose page says why.
            var answer = await page.GotoAsync(path);
            Assert.Equal(403, answer!.Status);
            await Assertions.Expect(page.GetByText("This page is for admins.")).ToBeVisibleAsync();
            var html = await page.ContentAsync();
            Assert.DoesNotContain(GatewayFixture.AdminEmail, html);
            Assert.DoesNotContain("users-table", html);
            Assert.DoesNotContain("audit-table", html);
        }

        // Not just hidden: the admin API itself refuses this user.
        using var finn = new AdminClient(_gateway.BaseUrl);
        Assert.Equal(HttpStatusCode.OK, (await finn.SignInAsync("finn@example.com", "Finn-password-2026")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await finn.GetAsync("/admin/api/users")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await finn.GetAsync("/admin/api/audit")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await finn.PatchAsync($"/admin/api/users/{id}", new JsonObject { ["role"] = "admin" })).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await finn.PostAsync("/admin/api/users", new JsonObject { ["email"] = "x@example.com" })).Status);
    }

    [Fact]
    public async Task The_users_list_fits_a_phone()
    {
        using var admin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey);
        await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = "a-rather-long-address.for.phones@example.com", ["display_name"] = "Gita" });

        var page = await browser.NewPageAsync(_gateway.BaseUrl, ConsoleBrowser.Phone);
        await page.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword, "/ui/users");
        var row = page.Locator("#users-table tbody tr", new() { HasText = "Gita" });
        await Assertions.Expect(row).ToContainTextAsync("no password");
        // Stacked rows (each cell labelled), and nothing wider than the screen.
        await Assertions.Expect(row.Locator("td[data-label='Email']")).ToBeVisibleAsync();
        Assert.True(await page.EvaluateAsync<bool>("document.scrollingElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways on a phone");
    }

    /// <summary>Submits the sign-in form without expecting it to succeed.</summary>
    private static async Task TrySignInAsync(IPage page, string email, string password)
    {
        await page.GotoAsync("/ui/signin");
        await page.GetByLabel("Email").FillAsync(email);
        await page.GetByLabel("Password").FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForLoadStateAsync();
    }

    private static async Task Eventually(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"Timed out waiting for {what}.");
            await Task.Delay(100);
        }
    }
}
