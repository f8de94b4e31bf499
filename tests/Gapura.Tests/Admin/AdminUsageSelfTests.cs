using System.Net;
using System.Text.Json.Nodes;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Admin;

/// <summary>
/// <c>GET /admin/api/usage</c> for a user who is not an admin: the same report, narrowed to their own usage whatever
/// they ask, signed in (the console) or by their key; naming another user or another user's key is a 403.
/// </summary>
public sealed class AdminUsageSelfTests : AdminTestBase
{
    private async Task<(long KeyId, string Key)> CreateKeyAsync(long userId)
    {
        using var admin = AdminByKey();
        var created = await admin.PostAsync("/admin/api/keys", new JsonObject { ["name"] = "laptop", ["user_id"] = userId });
        Assert.True(created.Status == HttpStatusCode.Created, created.ToString());
        var key = created.Json!["key"]!.GetValue<string>();
        // Keys reach the gateway's in-memory index through the change feed.
        await EventuallyAsync(async () => await ModelsStatusAsync(key) == HttpStatusCode.OK, TimeSpan.FromSeconds(10), "the new key to be accepted");
        return (created.Json!["info"]!["id"]!.GetValue<long>(), key);
    }

    private async Task ChatAsync(string key)
    {
        using var http = Gateway.Http(key);
        var (response, body) = await Wire.SendAsync(http, Wire.OpenAi(Wire.OpenAiBody("hello")));
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
    }

    [Fact]
    public async Task A_user_reads_only_their_own_usage_and_is_refused_anyone_elses()
    {
        var aliceId = await CreateUserAsync("alice@gapura.test");
        var bobId = await CreateUserAsync("bob@gapura.test");
        var (aliceKeyId, aliceKey) = await CreateKeyAsync(aliceId);
        var (bobKeyId, bobKey) = await CreateKeyAsync(bobId);
        await ChatAsync(aliceKey);
        await ChatAsync(aliceKey);
        await ChatAsync(bobKey);
        await ChatAsync(GatewayFixture.ApiKey);

        // The ledger writes in the background: the admin's report sees all four once it has.
        using var admin = AdminByKey();
        await EventuallyAsync(async () => (await admin.GetAsync("/admin/api/usage")).Json?["totals"]?["requests"]?.GetValue<long>() == 4,
            TimeSpan.FromSeconds(15), "the ledger to record four requests");
        var everyone = await admin.GetAsync("/admin/api/usage?groupBy=user");
        Assert.Equal(3, everyone.Json!["data"]!.AsArray().Count);

        // Alice, signed in as the console is: her rows only, by user and key, in JSON and CSV.
        using var alice = await SignedInAsync("alice@gapura.test");
        var own = await alice.GetAsync("/admin/api/usage?groupBy=user,key");
        Assert.True(own.Status == HttpStatusCode.OK, own.ToString());
        var row = Assert.Single(own.Json!["data"]!.AsArray())!;
        Assert.Equal(aliceId, row["user_id"]!.GetValue<long>());
        Assert.Equal("alice@gapura.test", row["user_email"]!.GetValue<string>());
        Assert.Equal(aliceKeyId, row["key_id"]!.GetValue<long>());
        Assert.Equal(2, row["requests"]!.GetValue<long>());
        Assert.Equal(2, own.Json!["totals"]!["requests"]!.GetValue<long>());

        using var raw = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = new Uri(Gateway.BaseUrl) };
        using var csvRequest = new HttpRequestMessage(HttpMethod.Get, "/admin/api/usage.csv?groupBy=user");
        csvRequest.Headers.Add("Cookie", $"gapura_session={alice.SessionCookie}");
        using var csv = await raw.SendAsync(csvRequest);
        var lines = (await csv.Content.ReadAsStringAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(HttpStatusCode.OK, csv.StatusCode);
        Assert.Equal(2, lines.Length);
        Assert.StartsWith($"{aliceId},alice@gapura.test,2,", lines[1]);

        // Naming herself or her key is fine.
        Assert.Equal(2, (await alice.GetAsync("/admin/api/usage?user=alice@gapura.test")).Json!["totals"]!["requests"]!.GetValue<long>());
        Assert.Equal(2, (await alice.GetAsync($"/admin/api/usage?key={aliceKeyId}")).Json!["totals"]!["requests"]!.GetValue<long>());

        // Anyone else — by email, by id, someone who does not exist, another user's key — is a 403 in the API's words.
        foreach (var query in new[] { "user=bob@gapura.test", $"user={bobId}", "user=nobody@gapura.test", $"key={bobKeyId}", "key=987654" })
        {
            var refused = await alice.GetAsync("/admin/api/usage?" + query);
            Assert.True(refused.Status == HttpStatusCode.Forbidden, $"{query}: {refused}");
            Assert.Equal("permission_error", refused.ErrorType);
            Assert.StartsWith("Only admins may read usage reports for another user", refused.ErrorMessage);
        }

        // Bob's own key reads bob's usage only.
        using var bob = new AdminClient(Gateway.BaseUrl, bobKey);
        var bobs = await bob.GetAsync("/admin/api/usage?groupBy=user");
        Assert.Equal("bob@gapura.test", Assert.Single(bobs.Json!["data"]!.AsArray())!["user_email"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Forbidden, (await bob.GetAsync("/admin/api/usage.csv?user=alice@gapura.test")).Status);

        // An admin still reads anyone, and an unknown user is still a 400 for them.
        Assert.Equal(1, (await admin.GetAsync("/admin/api/usage?user=bob@gapura.test")).Json!["totals"]!["requests"]!.GetValue<long>());
        Assert.Equal(HttpStatusCode.BadRequest, (await admin.GetAsync("/admin/api/usage?user=nobody@gapura.test")).Status);
    }
}
