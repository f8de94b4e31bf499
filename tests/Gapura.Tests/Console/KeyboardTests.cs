using Gapura.Tests.Integration;
using Microsoft.Playwright;

namespace Gapura.Tests.Console;

/// <summary>
/// The console without a mouse: sign in, make a key, reach every menu link — only typing, Tab and Enter, each
/// place reached in a bounded number of presses (a trap or an unreachable control fails the test).
/// </summary>
[Trait("Category", "Browser")]
[Collection(ConsoleBrowser.Collection)]
public sealed class KeyboardTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>, IAsyncLifetime
{
    /// <summary>More than the controls on the page before the target: a control not met by then is unreachable.</summary>
    private const int MaxTabs = 40;

    private readonly GatewayFixture _gateway = new();

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => _gateway.DisposeAsync();

    [Fact]
    public async Task A_user_signs_in_creates_a_key_and_reaches_every_menu_link_with_the_keyboard_only()
    {
        await ConsoleTestKit.CreateUserAsync(_gateway, "kim@example.com");
        var page = await browser.NewPageAsync(_gateway.BaseUrl);

        // The sign-in form: the email field has the focus from the start; Tab moves on, Enter submits.
        await page.GotoAsync("/ui/signin?returnUrl=" + Uri.EscapeDataString("/ui/keys"));
        Assert.True(await FocusIsInAsync(page, "#email"), "the email field has no focus on arrival");
        await page.Keyboard.TypeAsync("kim@example.com");
        await page.Keyboard.PressAsync("Tab");
        Assert.True(await FocusIsInAsync(page, "#password"), "Tab from the email field does not reach the password");
        await page.Keyboard.TypeAsync(ConsoleTestKit.UserPassword);
        await page.Keyboard.PressAsync("Enter");
        await page.WaitForURLAsync("**/ui/keys");
        await page.WaitForInteractiveAsync();

        // From the top of the page, Tab reaches the Name field, then the Create key button; Enter presses it.
        var seen = new List<string>();
        await TabUntilAsync(page, "#key-name", seen);
        await page.Keyboard.TypeAsync("keyboard only");
        await TabUntilAsync(page, "#key-create", seen, maxTabs: 3);
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.Locator("#key-created")).ToContainTextAsync("keyboard only");
        await Assertions.Expect(page.Locator("#new-key")).ToHaveValueAsync(new System.Text.RegularExpressions.Regex(".{20,}"));
        await Assertions.Expect(page.Locator("#keys-table tr", new() { HasText = "keyboard only" })).ToContainTextAsync("active");

        // The rest of the page, round to the top again: every menu link a user has is met on the way.
        for (var i = 0; i < MaxTabs * 2; i++)
        {
            await page.Keyboard.PressAsync("Tab");
            seen.Add(await FocusedAsync(page));
        }
        string[] menu = ["/ui/keys", "/ui/logins", "/ui/usage", "/ui/budgets", "/ui/setup-help", "/ui/account"];
        var missing = menu.Where(href => !seen.Contains("a " + href)).ToList();
        Assert.True(missing.Count == 0, $"Not reachable by Tab: {string.Join(", ", missing)}. Focus went: {string.Join(" → ", seen)}");

        // Enter on a menu link follows it.
        await TabUntilAsync(page, "nav a[href='/ui/logins']", seen, MaxTabs * 2);
        await page.Keyboard.PressAsync("Enter");
        await page.WaitForURLAsync("**/ui/logins");
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Upstream logins");
    }

    /// <summary>Presses Tab until the focus is in <paramref name="selector"/>; fails after <paramref name="maxTabs"/> presses.</summary>
    private static async Task TabUntilAsync(IPage page, string selector, List<string> seen, int maxTabs = MaxTabs)
    {
        for (var i = 0; i < maxTabs; i++)
        {
            await page.Keyboard.PressAsync("Tab");
            seen.Add(await FocusedAsync(page));
            if (await FocusIsInAsync(page, selector)) return;
        }
        Assert.Fail($"{selector} not reached with {maxTabs} presses of Tab. Focus went: {string.Join(" → ", seen)}");
    }

    private static Task<bool> FocusIsInAsync(IPage page, string selector)
        => page.EvaluateAsync<bool>("s => { const t = document.querySelector(s); return !!t && !!document.activeElement && (t === document.activeElement || t.contains(document.activeElement)); }", selector);

    /// <summary>The focused element, short: tag and link target, or tag and id.</summary>
    private static Task<string> FocusedAsync(IPage page)
        => page.EvaluateAsync<string>("() => { const e = document.activeElement; if (!e) return 'none'; const tag = e.tagName.toLowerCase(); return tag + ' ' + (e.getAttribute('href') ?? e.id ?? ''); }");
}
