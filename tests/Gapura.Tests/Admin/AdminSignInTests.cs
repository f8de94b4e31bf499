using System.Net;
using System.Text.Json.Nodes;
using Gapura.Identity;
using Gapura.Tests.Storage;

namespace Gapura.Tests.Admin;

/// <summary>Sign-in, sessions, CSRF, second factor and API keys over real HTTP — on SQLite and on PostgreSQL.</summary>
public abstract class AdminSignInTests : AdminTestBase
{
    protected override IEnumerable<string> ExtraSettings => ["--Admin:MaxFailedLogins=3", "--Admin:LockoutMinutes=10"];

    [Fact]
    public async Task Sign_in_sets_a_strict_http_only_cookie_and_me_answers_with_the_csrf_token()
    {
        await CreateUserAsync("alice@example.com");
        using var alice = Anonymous();

        var signIn = await alice.SignInAsync("ALICE@example.com", Password);

        Assert.Equal(HttpStatusCode.OK, signIn.Status);
        var cookie = alice.LastSetCookie!.ToLowerInvariant();
        Assert.Contains("httponly", cookie);
        Assert.Contains("samesite=strict", cookie);
        Assert.Contains("path=/;", cookie + ";"); // the admin API and the console at /ui share the one session
        Assert.DoesNotContain("secure", cookie); // plain http on loopback: a Secure cookie would never come back
        Assert.Equal("alice@example.com", signIn.Json!["user"]!["email"]!.GetValue<string>());
        var me = await alice.GetAsync("/admin/api/me");
        Assert.Equal(HttpStatusCode.OK, me.Status);
        Assert.Equal(("session", "alice@example.com", alice.Csrf), (me.Json!["auth"]!.GetValue<string>(), me.Json["actor"]!.GetValue<string>(), me.Json["csrf_token"]!.GetValue<string>()));
        // Only the hash of the token is stored.
        var session = await Store.Sessions.FindByTokenHashAsync(Gapura.Api.Admin.AdminSessions.HashToken(alice.SessionCookie!));
        Assert.NotNull(session);
        Assert.Null(await Store.Sessions.FindByTokenHashAsync(alice.SessionCookie!));

        var ended = alice.SessionCookie;
        var signOut = await alice.DeleteAsync("/admin/api/session");
        Assert.Equal(HttpStatusCode.NoContent, signOut.Status);
        Assert.Null(alice.SessionCookie); // the cookie is cleared…
        using var replay = new AdminClient(Gateway.BaseUrl) { SessionCookie = ended };
        Assert.Equal(HttpStatusCode.Unauthorized, (await replay.GetAsync("/admin/api/me")).Status); // …and the session is gone on the server
    }

    [Fact]
    public async Task Wrong_passwords_are_refused_and_back_off_after_the_threshold_until_an_admin_sets_a_new_password()
    {
        await CreateUserAsync("bob@example.com");
        using var client = Anonymous();

        var unknown = await client.SignInAsync("nobody@example.com", Password);
        var first = await client.SignInAsync("bob@example.com", "Wrong-password-0001");
        var second = await client.SignInAsync("bob@example.com", "Wrong-password-0002");
        var third = await client.SignInAsync("bob@example.com", "Wrong-password-0003");

        Assert.Equal((HttpStatusCode.Unauthorized, "authentication_error"), (unknown.Status, unknown.ErrorType));
        Assert.Equal(unknown.ErrorMessage, first.ErrorMessage); // an unknown email and a wrong password read the same
        Assert.Equal(HttpStatusCode.Unauthorized, second.Status);
        Assert.Equal((HttpStatusCode.TooManyRequests, "rate_limit_error"), (third.Status, third.ErrorType));
        Assert.True(third.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), third.Headers.RetryAfter?.ToString());
        Assert.Null(client.SessionCookie);
        var audit = await AuditAsync();
        Assert.Equal(3, audit.Count(e => e.Action == "session.create_failed" && e.Target == "user:bob@example.com"));
        Assert.Contains(audit, e => e.Target == "user:nobody@example.com" && e.Detail!.Contains("no such user"));
        Assert.All(audit.Where(e => e.Action.StartsWith("session.", StringComparison.Ordinal)), e => Assert.Equal("127.0.0.1", e.RemoteAddr));

        // An admin setting a new password ends every back-off at once.
        var bob = (await Store.Users.FindByEmailAsync("bob@example.com"))!;
        using var admin = AdminByKey();
        Assert.Equal(HttpStatusCode.NoContent, (await admin.PutAsync($"/admin/api/users/{bob.Id}/password", new JsonObject { ["password"] = "Another-sturdy-pass-1" })).Status);
        Assert.Equal(HttpStatusCode.OK, (await client.SignInAsync("bob@example.com", "Another-sturdy-pass-1")).Status);
    }

    [Fact]
    public async Task Cookie_authenticated_changes_need_the_csrf_token_but_api_keys_do_not()
    {
        await CreateUserAsync("carol@example.com");
        using var carol = await SignedInAsync("carol@example.com");

        var missing = await carol.SendAsync(HttpMethod.Post, "/admin/api/keys", new JsonObject { ["name"] = "a" }, sendCsrf: false);
        var token = carol.Csrf;
        carol.Csrf = token![..^2] + (token[^1] == 'A' ? "BB" : "AA");
        var forged = await carol.PostAsync("/admin/api/keys", new JsonObject { ["name"] = "b" });
        carol.Csrf = token;
        var good = await carol.PostAsync("/admin/api/keys", new JsonObject { ["name"] = "c" });
        var read = await carol.SendAsync(HttpMethod.Get, "/admin/api/keys", sendCsrf: false);

        Assert.Equal((HttpStatusCode.Forbidden, "permission_error"), (missing.Status, missing.ErrorType));
        Assert.Contains("X-CSRF-Token", missing.ErrorMessage);
        Assert.Equal(HttpStatusCode.Forbidden, forged.Status);
        Assert.Equal(HttpStatusCode.Created, good.Status);
        Assert.Equal(HttpStatusCode.OK, read.Status);
        Assert.Single(read.Json!["data"]!.AsArray());

        using var script = new AdminClient(Gateway.BaseUrl, good.Json!["key"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Created, (await script.PostAsync("/admin/api/keys", new JsonObject { ["name"] = "from a script" })).Status);
        Assert.Contains(await AuditAsync(), e => e.Action == "denied" && e.Actor == "carol@example.com" && e.Detail!.Contains("X-CSRF-Token"));
    }

    [Fact]
    public async Task A_created_key_works_at_once_and_a_revoked_one_is_refused_within_5_seconds()
    {
        await CreateUserAsync("dan@example.com");
        using var dan = await SignedInAsync("dan@example.com");

        var created = await dan.PostAsync("/admin/api/keys", new JsonObject { ["name"] = "laptop", ["expires_in_days"] = 30 });

        Assert.Equal(HttpStatusCode.Created, created.Status);
        var key = created.Json!["key"]!.GetValue<string>();
        Assert.True(IsKey(key), key);
        Assert.Equal(ApiKeys.PrefixOf(key), created.Json["info"]!["prefix"]!.GetValue<string>());
        var listed = (await dan.GetAsync("/admin/api/keys")).Json!["data"]![0]!.AsObject();
        Assert.False(listed.ContainsKey("key") || listed.ContainsKey("hash"));
        Assert.Equal("laptop", listed["name"]!.GetValue<string>());
        await EventuallyAsync(async () => await ModelsStatusAsync(key) == HttpStatusCode.OK, TimeSpan.FromSeconds(5), "the new key works on /v1/models");

        var revoked = await dan.DeleteAsync($"/admin/api/keys/{listed["id"]!.GetValue<long>()}");

        Assert.Equal(HttpStatusCode.OK, revoked.Status);
        Assert.False(revoked.Json!["active"]!.GetValue<bool>());
        var took = await EventuallyAsync(async () => await ModelsStatusAsync(key) == HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(5), "the revoked key is refused");
        Assert.True(took < TimeSpan.FromSeconds(5));
        Assert.Equal(HttpStatusCode.Unauthorized, (await new AdminClient(Gateway.BaseUrl, key).GetAsync("/admin/api/me")).Status);
    }

    [Fact]
    public async Task Users_cannot_list_or_revoke_each_others_keys_but_admins_can()
    {
        var erinId = await CreateUserAsync("erin@example.com");
        var frankId = await CreateUserAsync("frank@example.com");
        using var erin = await SignedInAsync("erin@example.com");
        using var frank = await SignedInAsync("frank@example.com");
        var frankKey = (await frank.PostAsync("/admin/api/keys", new JsonObject { ["name"] = "frank's" })).Json!["info"]!["id"]!.GetValue<long>();
        await erin.PostAsync("/admin/api/keys", new JsonObject { ["name"] = "erin's" });

        var listOther = await erin.GetAsync($"/admin/api/keys?user_id={frankId}");
        var listOwn = await erin.GetAsync("/admin/api/keys");
        var createForOther = await erin.PostAsync("/admin/api/keys", new JsonObject { ["user_id"] = frankId });
        var revokeOther = await erin.DeleteAsync($"/admin/api/keys/{frankKey}");
        var listUsers = await erin.GetAsync("/admin/api/users");
        var readOther = await erin.GetAsync($"/admin/api/users/{frankId}");
        var readSelf = await erin.GetAsync($"/admin/api/users/{erinId}");

        Assert.Equal(HttpStatusCode.Forbidden, listOther.Status);
        Assert.Equal(["erin's"], listOwn.Json!["data"]!.AsArray().Select(k => k!["name"]!.GetValue<string>()));
        Assert.Equal(HttpStatusCode.Forbidden, createForOther.Status);
        Assert.Equal((HttpStatusCode.NotFound, "not_found_error"), (revokeOther.Status, revokeOther.ErrorType));
        Assert.Equal(HttpStatusCode.Forbidden, listUsers.Status);
        Assert.Equal(HttpStatusCode.Forbidden, readOther.Status);
        Assert.Equal(HttpStatusCode.OK, readSelf.Status);
        Assert.Null((await Store.ApiKeys.FindAsync(frankKey))!.RevokedAt);

        using var admin = AdminByKey();
        var adminList = await admin.GetAsync($"/admin/api/keys?user_id={frankId}");
        var all = await admin.GetAsync("/admin/api/keys");
        var adminRevoke = await admin.DeleteAsync($"/admin/api/keys/{frankKey}");
        var adminCreate = await admin.PostAsync("/admin/api/keys", new JsonObject { ["user_id"] = erinId, ["name"] = "issued" });

        Assert.Equal(["frank's"], adminList.Json!["data"]!.AsArray().Select(k => k!["name"]!.GetValue<string>()));
        Assert.Equal(2, all.Json!["data"]!.AsArray().Count);
        Assert.Equal(HttpStatusCode.OK, adminRevoke.Status);
        Assert.Equal(HttpStatusCode.Created, adminCreate.Status);
        Assert.Equal("erin@example.com", adminCreate.Json!["info"]!["user_email"]!.GetValue<string>());
        var audit = await AuditAsync();
        Assert.Contains(audit, e => e.Action == "denied" && e.Actor == "erin@example.com" && e.Target == $"GET /admin/api/users/{frankId}");
        Assert.Contains(audit, e => e.Action == "denied" && e.Actor == "erin@example.com" && e.Detail == "tried to revoke another user's key");
        Assert.Contains(audit, e => e.Action == "key.revoke" && e.Actor == "key:bootstrap" && e.Detail == "of frank@example.com");
    }

    [Fact]
    public async Task Totp_becomes_required_codes_are_single_use_and_recovery_codes_work_once()
    {
        var id = await CreateUserAsync("gwen@example.com");
        using var gwen = await SignedInAsync("gwen@example.com");

        var enroll = await gwen.PostAsync($"/admin/api/users/{id}/totp");
        Assert.Equal(HttpStatusCode.OK, enroll.Status);
        var secret = enroll.Json!["secret"]!.GetValue<string>();
        Assert.StartsWith("otpauth://totp/Gapura:gwen%40example.com?secret=" + secret, enroll.Json["otpauth_uri"]!.GetValue<string>());
        var wrong = await gwen.PostAsync($"/admin/api/users/{id}/totp/verify", new JsonObject { ["code"] = "000000" == Totp.Compute(secret, DateTimeOffset.UtcNow) ? "111111" : "000000" });
        Assert.Equal((HttpStatusCode.BadRequest, "code"), (wrong.Status, wrong.ErrorParam));
        var verify = await gwen.PostAsync($"/admin/api/users/{id}/totp/verify", new JsonObject { ["code"] = Totp.Compute(secret, DateTimeOffset.UtcNow) });
        Assert.Equal(HttpStatusCode.OK, verify.Status);
        var recovery = verify.Json!["recovery_codes"]!.AsArray().Select(c => c!.GetValue<string>()).ToList();
        Assert.Equal(RecoveryCodes.DefaultCount, recovery.Count);
        // The seed is stored encrypted, never as typed.
        Assert.Equal(secret, await Store.Users.GetTotpSecretAsync(id));

        using var again = Anonymous();
        var passwordOnly = await again.SignInAsync("gwen@example.com", Password);
        Assert.Equal((HttpStatusCode.Unauthorized, "second_factor_required"), (passwordOnly.Status, passwordOnly.ErrorType));
        Assert.Null(again.SessionCookie);

        // The verify call used this step's code; the next step's code is still inside the drift window.
        var code = Totp.Compute(secret, DateTimeOffset.UtcNow.AddSeconds(Totp.StepSeconds));
        var withTotp = await again.SignInAsync("gwen@example.com", Password, totp: code);
        Assert.Equal(HttpStatusCode.OK, withTotp.Status);
        using var replayer = Anonymous();
        var replay = await replayer.SignInAsync("gwen@example.com", Password, totp: code);
        Assert.Equal(HttpStatusCode.Unauthorized, replay.Status);
        Assert.Contains("already used", replay.ErrorMessage);

        using var lost = Anonymous();
        Assert.Equal(HttpStatusCode.OK, (await lost.SignInAsync("gwen@example.com", Password, recoveryCode: recovery[3].ToUpperInvariant())).Status);
        Assert.Equal(recovery.Count - 1, (await lost.GetAsync("/admin/api/me")).Json!["recovery_codes_left"]!.GetValue<int>());
        using var reuse = Anonymous();
        var reused = await reuse.SignInAsync("gwen@example.com", Password, recoveryCode: recovery[3]);
        Assert.Equal(HttpStatusCode.Unauthorized, reused.Status);

        // Turning it off needs the password when done by the user themselves.
        var noPassword = await lost.DeleteAsync($"/admin/api/users/{id}/totp");
        Assert.Equal((HttpStatusCode.BadRequest, "password"), (noPassword.Status, noPassword.ErrorParam));
        Assert.Equal(HttpStatusCode.NoContent, (await lost.DeleteAsync($"/admin/api/users/{id}/totp", new JsonObject { ["password"] = Password })).Status);
        using var plain = Anonymous();
        Assert.Equal(HttpStatusCode.OK, (await plain.SignInAsync("gwen@example.com", Password)).Status);
    }
}

public sealed class SqliteAdminSignInTests : AdminSignInTests;

[Collection(PostgresCollection.Name)]
public sealed class PostgresAdminSignInTests(PostgresCluster cluster) : AdminSignInTests
{
    protected override Task<IEnumerable<string>> StorageSettingsAsync() => PostgresGateway.SettingsAsync(cluster, GetType().Name);
}
