using System.Net;
using System.Text.Json.Nodes;
using Gapura.Tests.Admin;
using Gapura.Tests.Integration;
using Microsoft.Playwright;

namespace Gapura.Tests.Console;

[Trait("Category", "Browser")]
[Collection(ConsoleBrowser.Collection)]
public sealed class AuditPageTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>, IAsyncLifetime
{
    private readonly GatewayFixture _gateway = new();

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => _gateway.DisposeAsync();

    [Fact]
    public async Task The_audit_log_shows_user_changes_by_whom_the_filters_narrow_them_and_older_pages_follow()
    {
        // The changes, made by the admin in a browser session (so the audit names them by email).
        using var admin = new AdminClient(_gateway.BaseUrl);
        Assert.Equal(HttpStatusCode.OK, (await admin.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword)).Status);
        var gus = (await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = "gus@example.com" })).Json!["id"]!.GetValue<long>();
        await Ok(admin.PatchAsync($"/admin/api/users/{gus}", new JsonObject { ["role"] = "admin" }));
        await Ok(admin.PatchAsync($"/admin/api/users/{gus}", new JsonObject { ["disabled"] = true }));
        await Ok(admin.PutAsync($"/admin/api/users/{gus}/password", new JsonObject { ["password"] = "Gus-new-password-77" }));
        await Ok(admin.DeleteAsync($"/admin/api/users/{gus}"));
        // Enough other entries for more than one page of 50.
        var hal = (await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = "hal@example.com" })).Json!["id"]!.GetValue<long>();
        for (var i = 0; i < 55; i++) await Ok(admin.PatchAsync($"/admin/api/users/{hal}", new JsonObject { ["display_name"] = $"Hal {i}" }));

        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword, "/ui/audit");
        var rows = page.Locator("#audit-table tbody tr");
        await Assertions.Expect(rows).ToHaveCountAsync(50);
        await Assertions.Expect(rows.First).ToContainTextAsync("session.create"); // newest first: this sign-in
        await page.GetByRole(AriaRole.Button, new() { Name = "Older entries" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Older entries" })).ToHaveCountAsync(0);
        var total = await rows.CountAsync();
        Assert.Equal(63, total); // two sign-ins, gus's five entries, hal's creation and 55 renames
        await Assertions.Expect(rows.Last).ToContainTextAsync("session.create"); // the oldest: the admin's first sign-in
        await Assertions.Expect(page.GetByText($"{total} entries shown")).ToBeVisibleAsync();

        // Everything done to gus, by the admin, newest first.
        await page.GetByLabel("Target").FillAsync("user:gus@example.com");
        await page.GetByRole(AriaRole.Button, new() { Name = "Apply" }).ClickAsync();
        await Assertions.Expect(rows).ToHaveCountAsync(5);
        string[] actions = ["user.delete", "user.password", "user.update", "user.update", "user.create"];
        for (var i = 0; i < actions.Length; i++)
        {
            await Assertions.Expect(rows.Nth(i).Locator("td[data-label='Action']")).ToHaveTextAsync(actions[i]);
            await Assertions.Expect(rows.Nth(i).Locator("td[data-label='Actor']")).ToHaveTextAsync(GatewayFixture.AdminEmail);
        }
        await Assertions.Expect(rows.Nth(2)).ToContainTextAsync("disabled");
        await Assertions.Expect(rows.Nth(3)).ToContainTextAsync("role=admin");
        await Assertions.Expect(rows.Nth(1)).ToContainTextAsync("set by admin");
        Assert.DoesNotContain("Gus-new-password-77", await page.ContentAsync());

        // Narrowed by action too; and a window that ended yesterday holds none of it.
        await page.GetByLabel("Action").FillAsync("user.update");
        await page.GetByRole(AriaRole.Button, new() { Name = "Apply" }).ClickAsync();
        await Assertions.Expect(rows).ToHaveCountAsync(2);
        await page.GetByLabel("Action").FillAsync("user");
        await page.GetByLabel("To (UTC date, included)").FillAsync(DateTime.UtcNow.AddDays(-1).ToString("yyyy-MM-dd"));
        await page.GetByRole(AriaRole.Button, new() { Name = "Apply" }).ClickAsync();
        await Assertions.Expect(page.GetByText("No entries match.")).ToBeVisibleAsync();
        await page.GetByLabel("To (UTC date, included)").FillAsync(DateTime.UtcNow.ToString("yyyy-MM-dd"));
        await page.GetByLabel("From (UTC date)").FillAsync(DateTime.UtcNow.ToString("yyyy-MM-dd"));
        await page.GetByRole(AriaRole.Button, new() { Name = "Apply" }).ClickAsync();
        await Assertions.Expect(rows).ToHaveCountAsync(5);

        // By actor: the admin's own sign-ins are not hal's.
        await page.GetByRole(AriaRole.Button, new() { Name = "Clear" }).ClickAsync();
        await Assertions.Expect(rows).ToHaveCountAsync(50);
        await page.GetByLabel("Actor").FillAsync("hal@example.com");
        await page.GetByRole(AriaRole.Button, new() { Name = "Apply" }).ClickAsync();
        await Assertions.Expect(page.GetByText("No entries match.")).ToBeVisibleAsync();
    }

    private static async Task Ok(Task<AdminResponse> call)
    {
        var response = await call;
        Assert.True((int)response.Status is >= 200 and < 300, response.ToString());
    }
}
