using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Tests.Admin;
using Gapura.Tests.Integration;
using Microsoft.Playwright;

namespace Gapura.Tests.Console;

/// <summary>
/// Every console page, for an admin and for a plain user, at 1280×800 and at 390 px: it renders its heading with
/// no load error, the page never scrolls sideways, and axe-core finds no control, link or button without a name.
/// With <c>GAPURA_CONSOLE_SCREENSHOTS=&lt;folder&gt;</c> it also saves a screenshot of each (docs/console/ is made so).
/// </summary>
[Trait("Category", "Browser")]
[Collection(ConsoleBrowser.Collection)]
public sealed class ConsolePagesAuditTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>, IAsyncLifetime
{
    private const string UserEmail = "dev@example.com";
    private const string UserPassword = "a-long-enough-passphrase-2";

    /// <summary>The axe rules about names and labels: what "labels on every control" means, checked by a tool.</summary>
    private static readonly string[] NameRules =
    [
        "label", "button-name", "link-name", "select-name", "input-button-name", "aria-input-field-name",
        "aria-toggle-field-name", "aria-command-name", "image-alt", "document-title", "html-has-lang", "frame-title",
    ];

    private static readonly string[] AdminPages =
        ["/ui", "/ui/users", "/ui/keys", "/ui/logins", "/ui/usage", "/ui/budgets", "/ui/providers", "/ui/routing", "/ui/audit", "/ui/setup-help"];

    private static readonly string[] UserPages = ["/ui/keys", "/ui/logins", "/ui/usage", "/ui/budgets", "/ui/setup-help"];

    private readonly GatewayFixture _gateway = new();

    public async Task InitializeAsync()
    {
        await _gateway.InitializeAsync();
        using var admin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey);
        var user = await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = UserEmail, ["password"] = UserPassword, ["display_name"] = "Dev" });
        Assert.Equal(HttpStatusCode.Created, user.Status);
        var key = await admin.PostAsync("/admin/api/keys", new JsonObject { ["name"] = "laptop", ["user_id"] = user.Json!["id"]!.GetValue<long>() });
        Assert.Equal(HttpStatusCode.Created, key.Status);
        // Budgets to draw bars for: the user's own and the gateway's.
        var budget = await admin.PutAsync($"/admin/api/budgets/users/{user.Json!["id"]}", JsonNode.Parse(
            """{"daily": {"outputTokens": 2000, "alertThreshold": 0.8, "action": "notify"}, "monthly": {"inputTokens": 1000000, "action": "pause"}}"""));
        Assert.Equal(HttpStatusCode.OK, budget.Status);
        Assert.Equal(HttpStatusCode.OK, (await admin.PutAsync("/admin/api/budgets/gateway", JsonNode.Parse("""{"monthly": {"costUsd": 500}}"""))).Status);
        // Some usage by both, so charts and tables have rows.
        foreach (var apiKey in new[] { GatewayFixture.ApiKey, key.Json!["key"]!.GetValue<string>() })
        {
            using var http = _gateway.Http(apiKey);
            for (var i = 0; i < 3; i++)
            {
                using var answer = await http.PostAsync("/v1/messages", new StringContent(
                    """{"model":"claude-sonnet-4.5","max_tokens":50,"messages":[{"role":"user","content":"hello"}]}""", System.Text.Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            }
        }
    }

    public Task DisposeAsync() => _gateway.DisposeAsync();

    [Fact]
    public Task Every_admin_page_renders_fits_a_phone_and_names_every_control()
        => AuditAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword, AdminPages, "admin");

    [Fact]
    public Task Every_page_of_a_plain_user_renders_fits_a_phone_and_names_every_control()
        => AuditAsync(UserEmail, UserPassword, UserPages, "user");

    private async Task AuditAsync(string email, string password, string[] pages, string who)
    {
        var screenshots = Environment.GetEnvironmentVariable("GAPURA_CONSOLE_SCREENSHOTS");
        var axe = await File.ReadAllTextAsync(Path.Combine(RepositoryRoot(), "tests", "e2e", "node_modules", "axe-core", "axe.min.js"));
        var problems = new List<string>();
        foreach (var (size, sizeName) in new[] { (ConsoleBrowser.Desktop, "desktop"), (ConsoleBrowser.Phone, "phone") })
        {
            var page = await browser.NewPageAsync(_gateway.BaseUrl, size);
            await page.SignInAsync(email, password);
            foreach (var path in pages)
            {
                await page.GotoInteractiveAsync(path);
                await Assertions.Expect(page.Locator("h1")).ToBeVisibleAsync();
                await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
                var where = $"{path} ({who}, {sizeName})";
                if (await page.Locator(".mud-alert-text-error, .mud-alert-filled-error").CountAsync() > 0)
                    problems.Add($"{where}: shows an error: {await page.Locator(".mud-alert-text-error, .mud-alert-filled-error").First.InnerTextAsync()}");
                var overflow = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth - window.innerWidth");
                if (overflow > 1) problems.Add($"{where}: the page is {overflow} px wider than the screen");

                await page.AddScriptTagAsync(new() { Content = axe });
                var result = await page.EvaluateAsync<JsonElement>(
                    "rules => axe.run(document, { runOnly: { type: 'rule', values: rules } }).then(r => r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', ')))",
                    NameRules);
                foreach (var violation in result.EnumerateArray()) problems.Add($"{where}: {violation.GetString()}");

                if (screenshots is not null)
                {
                    var name = (path == "/ui" ? "overview" : path["/ui/".Length..].Replace('/', '-')) + $"-{who}-{sizeName}.png";
                    await page.ScreenshotAsync(new() { Path = Path.Combine(screenshots, name), FullPage = true });
                }
            }
            await page.Context.CloseAsync();
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Gapura.slnx"))) return dir.FullName;
        throw new InvalidOperationException("The repository root (Gapura.slnx) was not found above " + AppContext.BaseDirectory);
    }
}
