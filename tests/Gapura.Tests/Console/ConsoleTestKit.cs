using System.Net;
using System.Text.Json.Nodes;
using Gapura.Tests.Admin;
using Gapura.Tests.Integration;
using Microsoft.Playwright;

namespace Gapura.Tests.Console;

/// <summary>What the routing, budgets and set-up help tests share: users made through the admin API, MudBlazor selects, waiting.</summary>
internal static class ConsoleTestKit
{
    public const string UserPassword = "Sturdy-password-2026";

    /// <summary>A user (with a password, to sign in) made by the bootstrap admin; returns their id.</summary>
    public static async Task<long> CreateUserAsync(GatewayFixture gateway, string email, string role = "user")
    {
        using var admin = new AdminClient(gateway.BaseUrl, GatewayFixture.ApiKey);
        var created = await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = email, ["display_name"] = email.Split('@')[0], ["role"] = role, ["password"] = UserPassword });
        Assert.True(created.Status == HttpStatusCode.Created, created.ToString());
        return created.Json!["id"]!.GetValue<long>();
    }

    /// <summary>A key for <paramref name="userId"/>, made by the bootstrap admin: the key itself and its id.</summary>
    public static async Task<(string Key, long Id)> CreateKeyAsync(GatewayFixture gateway, long userId)
    {
        using var admin = new AdminClient(gateway.BaseUrl, GatewayFixture.ApiKey);
        var created = await admin.PostAsync("/admin/api/keys", new JsonObject { ["user_id"] = userId, ["name"] = "laptop" });
        Assert.True(created.Status == HttpStatusCode.Created, created.ToString());
        return (created.Json!["key"]!.GetValue<string>(), created.Json["info"]!["id"]!.GetValue<long>());
    }

    /// <summary>Picks <paramref name="option"/> in the MudSelect labelled <paramref name="label"/>, by mouse as a person would.</summary>
    public static async Task SelectAsync(this IPage page, string label, string option, ILocator? within = null)
    {
        var scope = within ?? page.Locator("body");
        await scope.Locator(".mud-select", new() { Has = page.Locator("label", new() { HasText = label }) }).First.ClickAsync();
        await page.Locator(".mud-popover-open").GetByRole(AriaRole.Option, new() { Name = option, Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator(".mud-popover-open .mud-list")).ToHaveCountAsync(0);
    }

    /// <summary>Runs <paramref name="act"/> until <paramref name="condition"/> holds (things that settle in the background).</summary>
    public static async Task EventuallyAsync(Func<Task> act, Func<Task<bool>> condition, TimeSpan within, string what)
    {
        var until = DateTime.UtcNow + within;
        while (true)
        {
            await act();
            if (await condition()) return;
            if (DateTime.UtcNow > until) Assert.Fail($"Not within {within.TotalSeconds} s: {what}");
            await Task.Delay(500);
        }
    }
}
