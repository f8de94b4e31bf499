using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gapura.Tests.Admin;
using Gapura.Tests.Integration;
using Microsoft.Playwright;

namespace Gapura.Tests.Console;

[Trait("Category", "Browser")]
[Collection(ConsoleBrowser.Collection)]
public sealed class BudgetsPageTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>, IAsyncLifetime
{
    private readonly GatewayFixture _gateway = new();

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => _gateway.DisposeAsync();

    [Fact]
    public async Task An_admin_sets_a_users_daily_output_budget_sees_the_bar_fill_with_their_requests_and_resets_it()
    {
        var bob = await ConsoleTestKit.CreateUserAsync(_gateway, "bob@example.com");
        var (key, _) = await ConsoleTestKit.CreateKeyAsync(_gateway, bob);
        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword, "/ui/budgets");
        await Assertions.Expect(page.Locator("#no-budgets")).ToBeVisibleAsync();

        await page.SelectAsync("For", "User bob@example.com");
        await page.GetByLabel("Daily output tokens").FillAsync("2000");
        await page.SelectAsync("Daily action", "pause at the limit");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save budget" }).ClickAsync();

        var card = page.Locator($"#budget-users-{bob}");
        await Assertions.Expect(card).ToContainTextAsync("User bob@example.com");
        await Assertions.Expect(card).ToContainTextAsync("0 of 2 k output tokens today");
        await Assertions.Expect(card).ToContainTextAsync("pause at the limit");
        // The API has what the form said, in the seed's shape.
        using (var admin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey))
        {
            var stored = await admin.GetAsync($"/admin/api/budgets/users/{bob}");
            Assert.Equal(2000, stored.Json!["budget"]!["daily"]!["output_tokens"]!.GetValue<long>());
            Assert.Equal("pause", stored.Json["budget"]!["daily"]!["action"]!.GetValue<string>());
            Assert.Equal(0.8, stored.Json["budget"]!["daily"]!["alert_threshold"]!.GetValue<double>());
        }

        // Bob's requests through the gateway count; the meters settle in the background, so refresh until the bar moves.
        using var http = _gateway.Http(key);
        for (var i = 0; i < 2; i++)
        {
            using var answer = await http.PostAsJsonAsync("/v1/messages", new JsonObject
            {
                ["model"] = "claude-sonnet-4-5", ["max_tokens"] = 200,
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Say hello" }),
            });
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }
        var words = card.Locator(".budget-words").First;
        await ConsoleTestKit.EventuallyAsync(
            () => page.GetByRole(AriaRole.Button, new() { Name = "Refresh" }).ClickAsync(),
            async () => await words.InnerTextAsync() is var t && !t.StartsWith("0 of", StringComparison.Ordinal) && !t.Contains("in flight", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "bob's output tokens on the bar");
        var used = await words.InnerTextAsync();
        Assert.Matches(@"^\d+ of 2 k output tokens today$", used);
        var bar = card.GetByRole(AriaRole.Progressbar).First;
        Assert.True(double.Parse((await bar.GetAttributeAsync("aria-valuenow"))!, System.Globalization.CultureInfo.InvariantCulture) > 0, "the bar moved");

        await card.GetByRole(AriaRole.Button, new() { Name = "Reset the budget of User bob@example.com" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Reset", Exact = true }).ClickAsync();
        await Assertions.Expect(card.Locator(".budget-words").First).ToHaveTextAsync("0 of 2 k output tokens today");

        // Edit fills the form with the stored budget; Clear removes it.
        await card.GetByRole(AriaRole.Button, new() { Name = "Edit the budget of User bob@example.com" }).ClickAsync();
        await Assertions.Expect(page.GetByLabel("Daily output tokens")).ToHaveValueAsync("2000");
        await card.GetByRole(AriaRole.Button, new() { Name = "Clear the budget of User bob@example.com" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Clear", Exact = true }).ClickAsync();
        await Assertions.Expect(card).ToHaveCountAsync(0);
        using var check = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey);
        Assert.True((await check.GetAsync($"/admin/api/budgets/users/{bob}")).Json!["budget"] is null);
    }

    [Fact]
    public async Task A_user_sees_only_their_own_budget_read_only_on_a_phone_and_no_routing()
    {
        var bob = await ConsoleTestKit.CreateUserAsync(_gateway, "bob@example.com");
        var carol = await ConsoleTestKit.CreateUserAsync(_gateway, "carol@example.com");
        var (key, keyId) = await ConsoleTestKit.CreateKeyAsync(_gateway, bob);
        using (var admin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey))
        {
            Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync("/admin/api/budgets/users/default", JsonNode.Parse("""{"daily": {"outputTokens": 500000}}"""))).Status);
            Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync($"/admin/api/budgets/users/{carol}", JsonNode.Parse("""{"daily": {"outputTokens": 123456}}"""))).Status);
            Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync($"/admin/api/budgets/keys/{keyId}", JsonNode.Parse("""{"monthly": {"costUsd": 25}}"""))).Status);
            Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync("/admin/api/budgets/gateway", JsonNode.Parse("""{"monthly": {"costUsd": 1000}}"""))).Status);
        }

        var page = await browser.NewPageAsync(_gateway.BaseUrl, ConsoleBrowser.Phone);
        await page.SignInAsync("bob@example.com", ConsoleTestKit.UserPassword, "/ui/budgets");
        var scopes = page.Locator(".budget-scope");
        await Assertions.Expect(scopes).ToHaveCountAsync(2);
        await Assertions.Expect(page.Locator($"#budget-users-{bob}")).ToContainTextAsync("You (bob@example.com)");
        await Assertions.Expect(page.Locator($"#budget-users-{bob}")).ToContainTextAsync("0 of 500 k output tokens today");
        await Assertions.Expect(page.Locator($"#budget-keys-{keyId}")).ToContainTextAsync("$0.00 of $25.00 this month");
        var text = await page.Locator("#budget-scopes").InnerTextAsync();
        Assert.DoesNotContain("carol", text);
        Assert.DoesNotContain("123", text);
        Assert.DoesNotContain("whole gateway", text);
        // Read only: no form, no buttons that change anything.
        await Assertions.Expect(page.Locator("#budget-form")).ToHaveCountAsync(0);
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { NameRegex = new("^(Edit|Clear|Reset)") })).ToHaveCountAsync(0);
        // Nothing sticks out sideways on a phone.
        Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth + 1"), "no horizontal scrolling at 390 px");

        // Routing is for admins: the server does not render it for them (the request itself is refused), the console
        // says so when they get there from a page, and the API refuses them whatever the page shows.
        var direct = await page.Context.APIRequest.GetAsync("/ui/routing");
        var directText = await direct.TextAsync();
        Assert.Equal(403, direct.Status);
        Assert.Contains("This page is for admins.", directText);
        Assert.DoesNotContain("profiles-table", directText);
        Assert.DoesNotContain("Try it", directText);
        await page.EvaluateAsync("Blazor.navigateTo('/ui/routing')");
        await Assertions.Expect(page.GetByText("This page is for admins.")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#profiles-table")).ToHaveCountAsync(0);
        using var script = new AdminClient(_gateway.BaseUrl, key);
        Assert.Equal(HttpStatusCode.Forbidden, (await script.GetAsync("/admin/api/routing")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await script.PutAsync($"/admin/api/budgets/users/{bob}", JsonNode.Parse("""{"daily": {"outputTokens": 9999999}}"""))).Status);
    }
}
