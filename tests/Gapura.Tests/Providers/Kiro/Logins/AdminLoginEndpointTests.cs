using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gapura.Simulators.Kiro;
using Gapura.Storage;

namespace Gapura.Tests.Providers.Kiro.Logins;

/// <summary>The upstream-login part of the admin API: device sign-in, listing, relabel, removal, and who may do what.</summary>
public sealed class AdminLoginEndpointTests : IAsyncLifetime
{
    private LoginsGateway _gateway = null!;

    public async Task InitializeAsync() => _gateway = await LoginsGateway.StartAsync(new KiroSimulatorOptions { PollsUntilApproved = 0, DeviceInterval = 1 });

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    [Fact]
    public async Task A_user_connects_a_login_by_device_sign_in_lists_relabels_and_removes_it_and_every_change_is_audited()
    {
        var (alice, aliceKey) = await _gateway.AddUserAsync("alice@example.com");
        using var http = _gateway.Http(aliceKey);

        using var started = await http.PostAsJsonAsync($"/admin/api/users/{alice.Id}/logins/kiro/device", new { label = "laptop" });
        Assert.Equal(HttpStatusCode.OK, started.StatusCode);
        using var start = JsonDocument.Parse(await started.Content.ReadAsStringAsync());
        var flowId = start.RootElement.GetProperty("flow_id").GetString()!;
        var userCode = start.RootElement.GetProperty("user_code").GetString()!;
        Assert.Contains("user_code=", start.RootElement.GetProperty("verification_uri_complete").GetString());
        Assert.EndsWith($"/device/{flowId}/poll", start.RootElement.GetProperty("poll_url").GetString());

        using (var pending = await http.PostAsync($"/admin/api/users/{alice.Id}/logins/kiro/device/{flowId}/poll", null))
        {
            Assert.Equal(HttpStatusCode.Accepted, pending.StatusCode);
            Assert.Contains("\"pending\"", await pending.Content.ReadAsStringAsync());
        }
        Assert.True(_gateway.Kiro.Approve(userCode));
        JsonDocument? connected = null;
        for (var i = 0; i < 40 && connected is null; i++)
        {
            await Task.Delay(250);
            using var poll = await http.GetAsync($"/admin/api/users/{alice.Id}/logins/kiro/device/{flowId}/poll");
            if (poll.StatusCode == HttpStatusCode.OK) connected = JsonDocument.Parse(await poll.Content.ReadAsStringAsync());
            else Assert.Equal(HttpStatusCode.Accepted, poll.StatusCode);
        }
        Assert.NotNull(connected);
        var login = connected!.RootElement.GetProperty("login");
        var loginId = login.GetProperty("id").GetInt64();
        Assert.Equal(("kiro", "laptop", "alive"), (login.GetProperty("provider").GetString(), login.GetProperty("label").GetString(), login.GetProperty("status").GetString()));
        Assert.True(login.GetProperty("expires_at").GetDateTimeOffset() > DateTimeOffset.UtcNow);

        // The new login serves Alice at once, on this instance.
        using (var chat = await LoginsGateway.ChatAsync(http))
        {
            Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
            Assert.Equal("laptop", chat.Headers.GetValues("x-gapura-login").Single());
        }
        var bearer = _gateway.LastBearer()!["Bearer ".Length..];
        var secret = await _gateway.Store.UpstreamLogins.ReadSecretAsync(loginId);
        var refresh = JsonDocument.Parse(secret).RootElement.GetProperty("refreshToken").GetString()!;

        var listed = await http.GetStringAsync($"/admin/api/users/{alice.Id}/logins");
        Assert.Contains("\"laptop\"", listed);
        Assert.DoesNotContain(bearer, listed);
        Assert.DoesNotContain(refresh, listed);
        Assert.DoesNotContain("clientSecret", listed);

        using (var renamed = await http.PatchAsJsonAsync($"/admin/api/users/{alice.Id}/logins/{loginId}", new { label = "desktop" }))
        {
            Assert.Equal(HttpStatusCode.OK, renamed.StatusCode);
            Assert.Contains("\"desktop\"", await renamed.Content.ReadAsStringAsync());
        }
        using (var chat = await LoginsGateway.ChatAsync(http))
            Assert.Equal("desktop", chat.Headers.GetValues("x-gapura-login").Single());
        using (var bad = await http.PatchAsJsonAsync($"/admin/api/users/{alice.Id}/logins/{loginId}", new { label = "x\r\ny" }))
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        using (var removed = await http.DeleteAsync($"/admin/api/users/{alice.Id}/logins/{loginId}"))
            Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        Assert.Contains("\"logins\":[]", await http.GetStringAsync($"/admin/api/users/{alice.Id}/logins"));
        using (var chat = await LoginsGateway.ChatAsync(http))
            Assert.Equal("process", chat.Headers.GetValues("x-gapura-login").Single());

        var audit = await _gateway.Store.Audit.ListAsync(new AuditQuery(Actor: "alice@example.com"));
        Assert.Equal(["upstream_login.delete", "upstream_login.relabel", "upstream_login.connect", "upstream_login.device_start"], audit.Select(a => a.Action));
        Assert.All(audit, a => Assert.Equal("127.0.0.1", a.RemoteAddr));
        Assert.All(audit, a => Assert.DoesNotContain(bearer, a.Detail ?? ""));
    }

    [Fact]
    public async Task Users_cannot_touch_each_others_logins_but_admins_can()
    {
        var (alice, aliceKey) = await _gateway.AddUserAsync("alice@example.com");
        var (bob, bobKey) = await _gateway.AddUserAsync("bob@example.com");
        var login = await _gateway.ConnectAsync(alice.Id, "work", _gateway.Kiro.IssueCredentials(KiroLoginKind.Social));
        using var asBob = _gateway.Http(bobKey);

        var attempts = new[]
        {
            await asBob.GetAsync($"/admin/api/users/{alice.Id}/logins"),
            await asBob.PostAsJsonAsync($"/admin/api/users/{alice.Id}/logins/kiro/device", new { label = "mine-now" }),
            await asBob.PatchAsJsonAsync($"/admin/api/users/{alice.Id}/logins/{login.Id}", new { label = "stolen" }),
            await asBob.DeleteAsync($"/admin/api/users/{alice.Id}/logins/{login.Id}"),
            await asBob.PutAsJsonAsync($"/admin/api/users/{alice.Id}/providers", new { providers = new[] { "kiro" } }),
            // Bob's own user id does not make Alice's login his.
            await asBob.DeleteAsync($"/admin/api/users/{bob.Id}/logins/{login.Id}"),
            await asBob.PutAsJsonAsync("/admin/api/providers", new { providers = new[] { new { name = "kiro", enabled = false } } }),
            await asBob.PutAsJsonAsync("/admin/api/models/claude-sonnet-4.5", new { enabled = false }),
        };
        Assert.Equal([HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden,
            HttpStatusCode.NotFound, HttpStatusCode.Forbidden, HttpStatusCode.Forbidden], attempts.Select(r => r.StatusCode));
        Assert.Contains("only your own", await attempts[0].Content.ReadAsStringAsync());
        Assert.Equal("work", (await _gateway.Store.UpstreamLogins.FindAsync(login.Id))!.Label);

        using var asAdmin = _gateway.Http();
        Assert.Contains("\"work\"", await asAdmin.GetStringAsync($"/admin/api/users/{alice.Id}/logins"));
        using (var renamed = await asAdmin.PatchAsJsonAsync($"/admin/api/users/{alice.Id}/logins/{login.Id}", new { label = "team" }))
            Assert.Equal(HttpStatusCode.OK, renamed.StatusCode);
        var audit = await _gateway.Store.Audit.ListAsync(new AuditQuery(Actor: LoginsGateway.AdminEmail));
        Assert.Contains(audit, a => a.Action == "upstream_login.relabel" && a.Target == $"user:{alice.Id}/login:{login.Id}");
        Assert.Empty(await _gateway.Store.Audit.ListAsync(new AuditQuery(Actor: "bob@example.com")));
        using (var unauthenticated = await _gateway.Http(apiKey: null).GetAsync($"/admin/api/users/{alice.Id}/logins"))
            Assert.Equal(HttpStatusCode.Unauthorized, unauthenticated.StatusCode);
    }

    [Fact]
    public async Task A_refused_sign_in_is_reported_and_the_flow_is_over()
    {
        var (alice, aliceKey) = await _gateway.AddUserAsync("alice@example.com");
        using var http = _gateway.Http(aliceKey);
        using var started = await http.PostAsJsonAsync($"/admin/api/users/{alice.Id}/logins/kiro/device", new { });
        using var start = JsonDocument.Parse(await started.Content.ReadAsStringAsync());
        var flowId = start.RootElement.GetProperty("flow_id").GetString()!;
        Assert.True(_gateway.Kiro.Deny(start.RootElement.GetProperty("user_code").GetString()!));

        HttpResponseMessage poll;
        var polls = 0;
        do
        {
            await Task.Delay(250);
            poll = await http.PostAsync($"/admin/api/users/{alice.Id}/logins/kiro/device/{flowId}/poll", null);
        } while (poll.StatusCode == HttpStatusCode.Accepted && ++polls < 40);

        Assert.Equal(HttpStatusCode.BadRequest, poll.StatusCode);
        Assert.Contains("denied", await poll.Content.ReadAsStringAsync());
        using var gone = await http.PostAsync($"/admin/api/users/{alice.Id}/logins/kiro/device/{flowId}/poll", null);
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        Assert.Empty(await _gateway.Store.UpstreamLogins.ListAsync(alice.Id));
    }
}
