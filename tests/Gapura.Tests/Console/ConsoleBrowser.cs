using Microsoft.Playwright;

namespace Gapura.Tests.Console;

/// <summary>
/// Debian's Chromium, headless, driven by Playwright: one browser per test class, a fresh context (cookies,
/// storage) per test. The console's pages are real Blazor circuits over a WebSocket to a real gateway on 127.0.0.1.
/// </summary>
public sealed class ConsoleBrowser : IAsyncLifetime
{
    public const string ChromiumPath = "/usr/bin/chromium";

    /// <summary>
    /// The browser test classes run one after another (beside the rest of the suite): a dozen Chromiums and gateways
    /// at once on a 2-core CI machine made page loads take longer than any sane timeout.
    /// </summary>
    public const string Collection = "Console browser";

    /// <summary>The two sizes the console must work at: a laptop and a phone.</summary>
    public static readonly ViewportSize Desktop = new() { Width = 1280, Height = 800 };
    public static readonly ViewportSize Phone = new() { Width = 390, Height = 844 };

    /// <summary>What the pages logged (console messages, uncaught errors, failed requests), for reading after a failure.</summary>
    public static readonly string LogPath = Path.Combine(Path.GetTempPath(), "gapura-console-browser.log");

    private IPlaywright? _playwright;

    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
            throw new InvalidOperationException($"The browser tests need Debian's chromium at {ChromiumPath}: apt-get install -y chromium (.ci/run does).");
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
        });
    }

    /// <summary>A new page in its own context (no cookies shared with other tests), at <paramref name="size"/>.</summary>
    public async Task<IPage> NewPageAsync(string baseUrl, ViewportSize? size = null)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = baseUrl, ViewportSize = size ?? Desktop });
        // Generous: a 2-core CI machine running the whole suite can take seconds to start a circuit.
        context.SetDefaultTimeout(30_000);
        context.SetDefaultNavigationTimeout(60_000);
        Assertions.SetDefaultExpectTimeout(30_000);
        var page = await context.NewPageAsync();
        page.Console += (_, m) => File.AppendAllText(ConsoleBrowser.LogPath, $"[browser {m.Type}] {m.Text}\n");
        page.PageError += (_, e) => File.AppendAllText(ConsoleBrowser.LogPath, $"[browser error] {e}\n");
        page.RequestFailed += (_, r) => File.AppendAllText(ConsoleBrowser.LogPath, $"[browser request failed] {r.Url} {r.Failure}\n");
        return page;
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.DisposeAsync();
        _playwright?.Dispose();
    }
}

/// <summary>What the console's tests do on every page: sign in, wait for the circuit.</summary>
public static class ConsolePageExtensions
{
    /// <summary>Signs in on the console's sign-in form and waits until <paramref name="landing"/> is interactive.</summary>
    public static async Task SignInAsync(this IPage page, string email, string password, string landing = "/ui/keys")
    {
        await page.GotoAsync("/ui/signin?returnUrl=" + Uri.EscapeDataString(landing));
        await page.GetByLabel("Email").FillAsync(email);
        await page.GetByLabel("Password").FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync("**" + landing);
        await page.WaitForInteractiveAsync();
    }

    /// <summary>Navigates and waits until the page's circuit is live (Blazor took over the prerendered HTML).</summary>
    public static async Task GotoInteractiveAsync(this IPage page, string path)
    {
        await page.GotoAsync(path);
        await page.WaitForInteractiveAsync();
    }

    /// <summary>
    /// Blazor replaces the prerendered page once its circuit connects; a click before that is lost. The layout
    /// marks the body when it rendered interactively.
    /// </summary>
    public static Task WaitForInteractiveAsync(this IPage page)
        => page.Locator("body[data-console-interactive]").WaitForAsync(new() { State = WaitForSelectorState.Attached });
}
