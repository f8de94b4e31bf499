using System.Net;
using System.Text.Json.Nodes;
using Gapura.Identity;
using Gapura.Tests.Admin;
using Gapura.Tests.Integration;
using Microsoft.Playwright;

namespace Gapura.Tests.Console;

[Trait("Category", "Browser")]
[Collection(ConsoleBrowser.Collection)]
public sealed class AccountPageTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>, IAsyncLifetime
{
    private const string IdaEmail = "ida@example.com";
    private const string IdaPassword = "Ida-password-2026";

    private readonly GatewayFixture _gateway = new();

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => _gateway.DisposeAsync();

    private async Task<long> CreateIdaAsync()
    {
        using var admin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey);
        var created = await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = IdaEmail, ["password"] = IdaPassword });
        Assert.True(created.Status == HttpStatusCode.Created, created.ToString());
        return created.Json!["id"]!.GetValue<long>();
    }

    [Fact]
    public async Task A_user_turns_on_two_factor_then_sign_in_needs_the_code_recovery_codes_work_once_and_it_turns_off()
    {
        var id = await CreateIdaAsync();
        var page = await browser.NewPageAsync(_gateway.BaseUrl);
        await page.SignInAsync(IdaEmail, IdaPassword, "/ui/account");
        await Assertions.Expect(page.Locator("#totp-state")).ToContainTextAsync("Two-factor sign-in is off.");

        await page.GetByRole(AriaRole.Button, new() { Name = "Turn on two-factor sign-in" }).ClickAsync();
        var secret = await page.GetByLabel("Secret for your authenticator app").InputValueAsync();
        var uri = await page.GetByRole(AriaRole.Link, new() { Name = "Open in authenticator app" }).GetAttributeAsync("href");
        Assert.StartsWith("otpauth://totp/", uri);
        Assert.Contains("secret=" + secret, uri);

        // A wrong code is refused with the API's message; the authenticator's code turns it on.
        await page.GetByLabel("Authenticator code").FillAsync("000000" == Totp.Compute(secret, DateTimeOffset.UtcNow) ? "111111" : "000000");
        await page.GetByRole(AriaRole.Button, new() { Name = "Verify and turn on" }).ClickAsync();
        await Assertions.Expect(page.GetByText("The code does not match; check the device's clock and try the next code.")).ToBeVisibleAsync();
        await page.GetByLabel("Authenticator code").FillAsync(Totp.Compute(secret, DateTimeOffset.UtcNow));
        await page.GetByRole(AriaRole.Button, new() { Name = "Verify and turn on" }).ClickAsync();
        var shown = page.GetByLabel("Your recovery codes");
        await Assertions.Expect(shown).ToBeVisibleAsync();
        var codes = (await shown.InputValueAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(codes.Length >= 5, string.Join(",", codes));
        await Assertions.Expect(page.Locator("#totp-state")).ToContainTextAsync($"Two-factor sign-in is on. You have {codes.Length} unused recovery codes left.");
        using (var admin = new AdminClient(_gateway.BaseUrl, GatewayFixture.ApiKey))
            Assert.True((await admin.GetAsync($"/admin/api/users/{id}")).Json!["totp_enabled"]!.GetValue<bool>());
        // Shown once: gone once dismissed, and not there after a reload.
        await page.GetByRole(AriaRole.Button, new() { Name = "I saved them" }).ClickAsync();
        await Assertions.Expect(shown).ToHaveCountAsync(0);
        await page.ReloadAsync();
        await page.WaitForInteractiveAsync();
        Assert.DoesNotContain(codes[0], await page.ContentAsync());

        // Signed out, the password alone no longer signs in; the password and the authenticator's code do.
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await page.WaitForURLAsync("**/ui/signin");
        await FillSignInAsync(page, IdaPassword, null);
        await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("This account uses two-factor sign-in");
        // The next time step's code: the one just used to confirm is refused as a replay.
        await FillSignInAsync(page, IdaPassword, Totp.Compute(secret, DateTimeOffset.UtcNow.AddSeconds(Totp.StepSeconds)), "/ui/account");
        await page.WaitForURLAsync("**/ui/account");
        await page.WaitForInteractiveAsync();

        // A recovery code stands in for the device, once.
        var other = await browser.NewPageAsync(_gateway.BaseUrl);
        await FillSignInAsync(other, IdaPassword, codes[0], "/ui/account");
        await other.WaitForURLAsync("**/ui/account");
        await other.WaitForInteractiveAsync();
        await Assertions.Expect(other.Locator("#totp-state")).ToContainTextAsync($"{codes.Length - 1} unused recovery codes left");
        var third = await browser.NewPageAsync(_gateway.BaseUrl);
        await FillSignInAsync(third, IdaPassword, codes[0]);
        await Assertions.Expect(third.GetByRole(AriaRole.Alert)).ToHaveTextAsync("The recovery code is wrong or was already used.");

        // New codes: shown once, the old ones void.
        await other.GetByRole(AriaRole.Button, new() { Name = "Get new recovery codes" }).ClickAsync();
        await other.GetByRole(AriaRole.Button, new() { Name = "Get new codes" }).ClickAsync();
        var fresh = (await other.GetByLabel("Your recovery codes").InputValueAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(codes.Length, fresh.Length);
        Assert.Empty(fresh.Intersect(codes));
        using var api = new AdminClient(_gateway.BaseUrl);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.SignInAsync(IdaEmail, IdaPassword, recoveryCode: codes[1])).Status);

        // Turned off with the password: the password alone signs in again.
        await other.GetByLabel("Password to turn it off").FillAsync("not-my-password");
        await other.GetByRole(AriaRole.Button, new() { Name = "Turn off two-factor sign-in" }).ClickAsync();
        await Assertions.Expect(other.GetByText("'password' is wrong.")).ToBeVisibleAsync();
        await other.GetByLabel("Password to turn it off").FillAsync(IdaPassword);
        await other.GetByRole(AriaRole.Button, new() { Name = "Turn off two-factor sign-in" }).ClickAsync();
        await Assertions.Expect(other.Locator("#totp-state")).ToContainTextAsync("Two-factor sign-in is off.");
        Assert.Equal(HttpStatusCode.OK, (await api.SignInAsync(IdaEmail, IdaPassword)).Status);
    }

    [Fact]
    public async Task A_user_changes_their_own_password_knowing_the_current_one_on_a_phone()
    {
        await CreateIdaAsync();
        var page = await browser.NewPageAsync(_gateway.BaseUrl, ConsoleBrowser.Phone);
        await page.SignInAsync(IdaEmail, IdaPassword, "/ui/account");
        await Assertions.Expect(page.Locator("#account-email")).ToHaveTextAsync(IdaEmail);
        Assert.True(await page.EvaluateAsync<bool>("document.scrollingElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways on a phone");

        await page.GetByLabel("Current password").FillAsync("Not-the-password-1");
        await page.GetByLabel("New password").FillAsync("Ida-second-password-9");
        await page.GetByRole(AriaRole.Button, new() { Name = "Change password" }).ClickAsync();
        await Assertions.Expect(page.GetByText("'current_password' is wrong.")).ToBeVisibleAsync();

        await page.GetByLabel("Current password").FillAsync(IdaPassword);
        await page.GetByLabel("New password").FillAsync("Ida-second-password-9");
        await page.GetByRole(AriaRole.Button, new() { Name = "Change password" }).ClickAsync();
        await Assertions.Expect(page.GetByText("Password changed.")).ToBeVisibleAsync();

        // This browser stays signed in; elsewhere only the new password works.
        await page.ReloadAsync();
        await page.WaitForInteractiveAsync();
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("My account");
        using var api = new AdminClient(_gateway.BaseUrl);
        Assert.Equal(HttpStatusCode.Unauthorized, (await api.SignInAsync(IdaEmail, IdaPassword)).Status);
        Assert.Equal(HttpStatusCode.OK, (await api.SignInAsync(IdaEmail, "Ida-second-password-9")).Status);
    }

    private static async Task FillSignInAsync(IPage page, string password, string? code, string? returnUrl = null)
    {
        await page.GotoAsync("/ui/signin" + (returnUrl is null ? "" : "?returnUrl=" + Uri.EscapeDataString(returnUrl)));
        await page.GetByLabel("Email").FillAsync(IdaEmail);
        await page.GetByLabel("Password").FillAsync(password);
        if (code is not null) await page.GetByLabel("Authenticator or recovery code").FillAsync(code);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForLoadStateAsync();
    }
}
