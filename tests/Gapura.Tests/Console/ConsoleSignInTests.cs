using System.Net;
using Gapura.Identity;
using Gapura.Tests.Admin;
using Gapura.Tests.Integration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace Gapura.Tests.Console;

/// <summary>The console's doors: first-admin set-up, sign-in, where it lands, sign-out and an ended session.</summary>
[Trait("Category", "Browser")]
[Collection(ConsoleBrowser.Collection)]
public sealed class ConsoleSignInTests(ConsoleBrowser browser) : IClassFixture<ConsoleBrowser>
{
    [Fact]
    public async Task A_fresh_gateway_leads_to_set_up_where_the_code_creates_the_first_admin_who_is_then_signed_in()
    {
        await WithGatewayAsync(new GatewayFixture { BootstrapAdmin = false }, async gateway =>
        {
            // The code the gateway printed at start is only stored as a hash; issue a fresh one as a restart would.
            var code = await gateway.Services.GetRequiredService<SetupCode>().IssueAsync(CancellationToken.None);
            var page = await browser.NewPageAsync(gateway.BaseUrl);

            await page.GotoAsync("/ui/keys");
            await page.WaitForURLAsync("**/ui/setup");
            await page.GetByLabel("Set-up code").FillAsync("WRNG-CODE-0000");
            await page.GetByLabel("Your email").FillAsync("owner@example.com");
            await page.GetByLabel("Password").FillAsync("a-long-enough-passphrase-1");
            await page.GetByRole(AriaRole.Button, new() { Name = "Create and sign in" }).ClickAsync();
            await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToContainTextAsync("set-up code is wrong");

            await page.GetByLabel("Set-up code").FillAsync(code);
            await page.GetByLabel("Your email").FillAsync("owner@example.com");
            await page.GetByLabel("Password").FillAsync("a-long-enough-passphrase-1");
            await page.GetByRole(AriaRole.Button, new() { Name = "Create and sign in" }).ClickAsync();
            await page.WaitForURLAsync("**/ui");
            await page.WaitForInteractiveAsync();
            await Assertions.Expect(page.Locator(".console-user")).ToHaveTextAsync("owner@example.com");

            // Set-up is over: the page sends people to sign in instead.
            var again = await browser.NewPageAsync(gateway.BaseUrl);
            await again.GotoAsync("/ui/setup");
            await again.WaitForURLAsync("**/ui/signin");
        });
    }

    [Fact]
    public async Task Sign_in_refuses_a_wrong_password_in_the_apis_words_returns_where_the_user_was_going_and_never_redirects_off_site()
    {
        await WithGatewayAsync(new GatewayFixture(), async gateway =>
        {
            using var anonymous = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(gateway.BaseUrl) };
            using var bounced = await anonymous.GetAsync("/ui/keys");
            Assert.Equal(HttpStatusCode.Redirect, bounced.StatusCode);
            Assert.Equal("/ui/signin?returnUrl=%2Fui%2Fkeys", bounced.Headers.Location!.OriginalString);

            var page = await browser.NewPageAsync(gateway.BaseUrl);
            await page.GotoAsync("/ui/signin?returnUrl=%2Fui%2Fkeys");
            await page.GetByLabel("Email").FillAsync(GatewayFixture.AdminEmail);
            await page.GetByLabel("Password").FillAsync("not-the-password");
            var wrong = await page.RunAndWaitForResponseAsync(
                () => page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync(), r => r.Request.Method == "POST");
            Assert.Equal(401, wrong.Status);
            await Assertions.Expect(page.GetByRole(AriaRole.Alert)).ToHaveTextAsync("Wrong email or password.");
            await Assertions.Expect(page.GetByLabel("Password")).ToHaveValueAsync("");

            await page.GetByLabel("Email").FillAsync(GatewayFixture.AdminEmail);
            await page.GetByLabel("Password").FillAsync(GatewayFixture.AdminPassword);
            await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
            await page.WaitForURLAsync("**/ui/keys");

            var offsite = await browser.NewPageAsync(gateway.BaseUrl);
            await offsite.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword, landing: "/ui/keys");
            await offsite.GotoAsync("/ui/signin?returnUrl=" + Uri.EscapeDataString("//evil.example/ui"));
            await offsite.WaitForURLAsync(gateway.BaseUrl.TrimEnd('/') + "/ui");
        });
    }

    [Fact]
    public async Task Sign_out_ends_the_session_for_the_admin_api_too_and_an_ended_session_sends_the_page_back_to_sign_in()
    {
        await WithGatewayAsync(new GatewayFixture(), async gateway =>
        {
            var page = await browser.NewPageAsync(gateway.BaseUrl);
            await page.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword);
            var cookie = (await page.Context.CookiesAsync()).Single(c => c.Name == "gapura_session");
            Assert.True(cookie.HttpOnly);
            Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);

            // The same session works on the admin API: one sign-in for both.
            using var api = new AdminClient(gateway.BaseUrl) { SessionCookie = cookie.Value };
            Assert.Equal(HttpStatusCode.OK, (await api.GetAsync("/admin/api/me")).Status);

            await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
            await page.WaitForURLAsync("**/ui/signin");
            Assert.Equal(HttpStatusCode.Unauthorized, (await api.GetAsync("/admin/api/me")).Status);
            Assert.DoesNotContain(await page.Context.CookiesAsync(), c => c.Name == "gapura_session");

            // A session ended elsewhere (here: signed out through the API) sends the open page to sign in at its next action.
            var second = await browser.NewPageAsync(gateway.BaseUrl);
            await second.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword);
            var token = (await second.Context.CookiesAsync()).Single(c => c.Name == "gapura_session").Value;
            using var other = new AdminClient(gateway.BaseUrl) { SessionCookie = token };
            other.Csrf = (await other.GetAsync("/admin/api/me")).Json!["csrf_token"]!.GetValue<string>();
            Assert.Equal(HttpStatusCode.NoContent, (await other.DeleteAsync("/admin/api/session")).Status);
            await second.GetByRole(AriaRole.Button, new() { Name = "Create key" }).ClickAsync();
            await second.WaitForURLAsync("**/ui/signin?ended=1");
            await Assertions.Expect(second.GetByRole(AriaRole.Status)).ToContainTextAsync("Your session has ended");
        });
    }

    private static async Task WithGatewayAsync(GatewayFixture gateway, Func<GatewayFixture, Task> test)
    {
        await gateway.InitializeAsync();
        try { await test(gateway); }
        finally { await gateway.DisposeAsync(); }
    }
}
