using System.Net;
using System.Text.Json.Nodes;
using Gapura.Tests.Admin;
using Gapura.Tests.Integration;
using Microsoft.Playwright;

namespace Gapura.Tests.Console;

[Trait("Category", "Browser")]
[Collection(ConsoleBrowser.Collection)]
public sealed class RoutingPageTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>, IAsyncLifetime
{
    private const string Explain = """{"model": "auto", "max_tokens": 300, "messages": [{"role": "user", "content": "Explain what src/main.rs does"}]}""";

    private readonly GatewayFixture _gateway = new();

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => _gateway.DisposeAsync();

    private async Task<string> TaskProfileAsync(string task)
    {
        using var admin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey);
        var routing = await admin.GetAsync("/admin/api/routing");
        return routing.Json!["tasks"]!.AsArray().Single(t => t!["task"]!.GetValue<string>() == task)!["profile"]!.GetValue<string>();
    }

    [Fact]
    public async Task The_try_it_box_explains_a_pasted_request_and_follows_a_task_rule_and_profile_changed_on_the_page()
    {
        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword, "/ui/routing");
        var before = await TaskProfileAsync("codeExplanation");

        await page.GetByLabel("Request body (JSON)").FillAsync(Explain);
        await page.GetByRole(AriaRole.Button, new() { Name = "Explain", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#explained-task")).ToHaveTextAsync("codeExplanation");
        await Assertions.Expect(page.Locator("#explained-profile")).ToHaveTextAsync(before);
        await Assertions.Expect(page.Locator("#explained-provider")).ToHaveTextAsync("kiro");
        await Assertions.Expect(page.Locator("#explained-reason")).ToContainTextAsync("the gateway picked the profile");
        await Assertions.Expect(page.Locator("#explained-budget")).ToHaveTextAsync("no budget counts these requests");
        Assert.NotEqual("—", await page.Locator("#explained-model").InnerTextAsync());

        // The task table on the page: codeExplanation to the other profile; the API and the try-it box both follow.
        var other = before == "primary" ? "fast" : "primary";
        await page.SelectAsync("Profile for codeExplanation", other);
        await ConsoleTestKit.EventuallyAsync(() => Task.CompletedTask, async () => await TaskProfileAsync("codeExplanation") == other,
            TimeSpan.FromSeconds(10), "the task table changed through the page");
        await Assertions.Expect(page.Locator("#tasks-table tr", new() { HasText = "codeExplanation" })).ToContainTextAsync("admin");
        await page.GetByRole(AriaRole.Button, new() { Name = "Explain", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#explained-profile")).ToHaveTextAsync(other);

        // A profile edited on the page: its max tokens shows in the API and in what the try-it box explains.
        await page.GetByRole(AriaRole.Button, new() { Name = $"Edit profile {other}" }).ClickAsync();
        await Assertions.Expect(page.GetByLabel("Profile name")).ToHaveValueAsync(other);
        await page.GetByLabel("Max tokens").FillAsync("123");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save profile" }).ClickAsync();
        await Assertions.Expect(page.Locator("#profiles-table tr", new() { HasText = other }).First).ToContainTextAsync("123");
        using (var admin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey))
        {
            var routing = await admin.GetAsync("/admin/api/routing");
            var profile = routing.Json!["profiles"]!.AsArray().Single(p => p!["name"]!.GetValue<string>() == other)!;
            Assert.Equal(123, profile["settings"]!["max_tokens"]!.GetValue<int>());
            Assert.Equal("admin", profile["source"]!.GetValue<string>());
        }
        await page.GetByRole(AriaRole.Button, new() { Name = "Explain", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#route-explanation")).ToContainTextAsync($"profile={other}");

        // The answer as the API gives it for this admin, on the same request.
        using var session = new AdminClient(_gateway.BaseUrl);
        Assert.Equal(HttpStatusCode.OK, (await session.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword)).Status);
        var explained = await session.PostAsync("/admin/api/route?door=anthropic", JsonNode.Parse(Explain));
        Assert.Equal(other, explained.Json!["profile"]!["name"]!.GetValue<string>());
        Assert.Equal(123, explained.Json["max_tokens"]!.GetValue<int>());
    }

    [Fact]
    public async Task The_gateway_mode_and_a_canary_are_changed_on_the_page()
    {
        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword, "/ui/routing");
        await page.SelectAsync("Gateway routing mode", "off");
        await page.GetByRole(AriaRole.Button, new() { Name = "Save mode" }).ClickAsync();
        await Assertions.Expect(page.GetByText("Routing mode set to off.")).ToBeVisibleAsync();
        using var admin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey);
        Assert.Equal("off", (await admin.GetAsync("/admin/api/routing")).Json!["modes"]!["gateway"]!.GetValue<string>());

        await page.GetByLabel("Request body (JSON)").FillAsync("""{"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": "hi"}]}""");
        await page.SelectAsync("Format", "OpenAI chat completions");
        await page.GetByRole(AriaRole.Button, new() { Name = "Explain", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#explained-profile")).ToHaveTextAsync("— (not routed)");
        await Assertions.Expect(page.Locator("#explained-reason")).ToContainTextAsync("not routed");

        // A canary started on the page shows its comparison with the baseline, and rolls back.
        await Assertions.Expect(page.Locator("#no-canaries")).ToBeVisibleAsync();
        await page.SelectAsync("On profile", "primary");
        await page.GetByLabel("Candidate model").FillAsync("claude-haiku-4.5");
        await page.GetByLabel("Share of conversations (%)").FillAsync("25");
        await page.GetByRole(AriaRole.Button, new() { Name = "Start canary" }).ClickAsync();
        var canary = page.Locator("#canary-primary");
        await Assertions.Expect(canary).ToContainTextAsync("25% to claude-haiku-4.5");
        await Assertions.Expect(canary.GetByRole(AriaRole.Rowheader, new() { Name = "Error rate", Exact = true })).ToBeVisibleAsync();
        await Assertions.Expect(canary).ToContainTextAsync("Automatic rollback:");
        var canaries = await admin.GetAsync("/admin/api/routing/canaries");
        Assert.Equal(("primary", 25), (canaries.Json!["data"]![0]!["profile"]!.GetValue<string>(), canaries.Json["data"]![0]!["percent"]!.GetValue<int>()));
        await page.GetByRole(AriaRole.Button, new() { Name = "Roll back the canary on primary" }).ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Roll back", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#no-canaries")).ToBeVisibleAsync();
        Assert.Empty((await admin.GetAsync("/admin/api/routing/canaries")).Json!["data"]!.AsArray());
    }
}
