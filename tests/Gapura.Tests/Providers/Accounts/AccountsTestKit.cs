using System.Net;
using System.Text.Json.Nodes;
using Gapura.Tests.Admin;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Providers.Accounts;

/// <summary>Gateway users for the accounts tests, made the way a team makes them: through the admin API.</summary>
internal static class AccountsTestKit
{
    public const string Password = "Sturdy-password-2026";

    /// <summary>A user, signed in once to create an API key of their own; returns when the gateway accepts the key.</summary>
    public static async Task<(long Id, string Key)> UserAsync(GatewayFixture gateway, string email)
    {
        using var admin = new AdminClient(gateway.BaseUrl, GatewayFixture.ApiKey);
        var created = await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = email, ["display_name"] = email, ["role"] = "user", ["password"] = Password });
        Assert.Equal(HttpStatusCode.Created, created.Status);
        var id = created.Json!["id"]!.GetValue<long>();
        using var user = new AdminClient(gateway.BaseUrl);
        Assert.Equal(HttpStatusCode.OK, (await user.SignInAsync(email, Password)).Status);
        var key = (await user.PostAsync("/admin/api/keys", new JsonObject { ["name"] = "cli" })).Json!["key"]!.GetValue<string>();
        // New keys reach the gateway's in-memory index within its sync interval (1 s).
        using var http = gateway.Http(key);
        for (var i = 0; i < 100 && (await http.GetAsync("/v1/models")).StatusCode != HttpStatusCode.OK; i++) await Task.Delay(100);
        return (id, key);
    }
}
