using System.Net;
using System.Text.Json.Nodes;
using Gapura.Identity;
using Gapura.Tests.Integration;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Admin;

/// <summary>Users, roles, settings, audit, validation and the OpenAPI document over real HTTP.</summary>
public sealed class AdminApiTests : AdminTestBase
{
    [Fact]
    public async Task Demoting_an_admin_removes_admin_access_at_once_for_sessions_and_keys()
    {
        var id = await CreateUserAsync("hana@example.com", role: "admin");
        using var hana = await SignedInAsync("hana@example.com");
        var key = (await hana.PostAsync("/admin/api/keys", new JsonObject { ["name"] = "ops" })).Json!["key"]!.GetValue<string>();
        using var script = new AdminClient(Gateway.BaseUrl, key);
        Assert.Equal(HttpStatusCode.OK, (await hana.GetAsync("/admin/api/users")).Status);
        Assert.Equal(HttpStatusCode.OK, (await script.GetAsync("/admin/api/users")).Status);

        using var admin = AdminByKey();
        var demote = await admin.PatchAsync($"/admin/api/users/{id}", new JsonObject { ["role"] = "user" });

        Assert.Equal(HttpStatusCode.OK, demote.Status);
        Assert.Equal("user", demote.Json!["role"]!.GetValue<string>());
        // No waiting: the very next request is refused, by session and by key alike.
        Assert.Equal(HttpStatusCode.Forbidden, (await hana.GetAsync("/admin/api/users")).Status);
        Assert.Equal(HttpStatusCode.Forbidden, (await script.GetAsync("/admin/api/users")).Status);
        Assert.Equal(HttpStatusCode.OK, (await hana.GetAsync("/admin/api/me")).Status); // still a user
        Assert.Contains(await AuditAsync(), e => e.Action == "user.update" && e.Target == "user:hana@example.com" && e.Detail == "role=user" && e.Actor == "key:bootstrap");
    }

    [Fact]
    public async Task Disabling_or_deleting_a_user_ends_their_session_and_keys_at_once()
    {
        var id = await CreateUserAsync("ivan@example.com");
        using var ivan = await SignedInAsync("ivan@example.com");
        var key = (await ivan.PostAsync("/admin/api/keys", new JsonObject())).Json!["key"]!.GetValue<string>();
        using var script = new AdminClient(Gateway.BaseUrl, key);
        using var admin = AdminByKey();

        Assert.Equal(HttpStatusCode.OK, (await admin.PatchAsync($"/admin/api/users/{id}", new JsonObject { ["disabled"] = true })).Status);

        Assert.Equal(HttpStatusCode.Unauthorized, (await ivan.GetAsync("/admin/api/me")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await script.GetAsync("/admin/api/me")).Status);
        using var again = Anonymous();
        Assert.Equal(HttpStatusCode.Forbidden, (await again.SignInAsync("ivan@example.com", Password)).Status);
        await EventuallyAsync(async () => await ModelsStatusAsync(key) == HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(5), "a disabled user's key is refused on /v1");

        Assert.Equal(HttpStatusCode.OK, (await admin.PatchAsync($"/admin/api/users/{id}", new JsonObject { ["disabled"] = false })).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await ivan.GetAsync("/admin/api/me")).Status); // the old session does not come back
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/admin/api/users/{id}")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await admin.GetAsync($"/admin/api/users/{id}")).Status);
        Assert.Empty(await Store.Sessions.ListForUserAsync(id));
    }

    [Fact]
    public async Task The_last_admin_can_be_neither_demoted_nor_disabled_nor_deleted()
    {
        var adminId = (await Store.Users.FindByEmailAsync(GatewayFixture.AdminEmail))!.Id;
        using var admin = AdminByKey();

        var demote = await admin.PatchAsync($"/admin/api/users/{adminId}", new JsonObject { ["role"] = "user" });
        var disable = await admin.PatchAsync($"/admin/api/users/{adminId}", new JsonObject { ["disabled"] = true });
        var delete = await admin.DeleteAsync($"/admin/api/users/{adminId}");

        Assert.All([demote, disable, delete], r => Assert.Equal((HttpStatusCode.Conflict, "conflict_error"), (r.Status, r.ErrorType)));
        Assert.Contains("last enabled administrator", demote.ErrorMessage);
        var still = (await Store.Users.GetAsync(adminId));
        Assert.True(still.IsAdmin && !still.Disabled);
        // Nothing half-done: no audit row claims a change that did not happen.
        Assert.DoesNotContain(await AuditAsync(), e => e.Target == "user:" + GatewayFixture.AdminEmail && e.Action is "user.update" or "user.delete");

        // With a second admin, the first can step down.
        await CreateUserAsync("jo@example.com", role: "admin");
        Assert.Equal(HttpStatusCode.OK, (await admin.PatchAsync($"/admin/api/users/{adminId}", new JsonObject { ["role"] = "user" })).Status);
    }

    [Fact]
    public async Task Every_action_leaves_an_audit_row_with_actor_and_remote_address()
    {
        using var admin = AdminByKey();
        var id = await CreateUserAsync("kim@example.com");
        using var kim = await SignedInAsync("kim@example.com");
        var created = await kim.PostAsync("/admin/api/keys", new JsonObject { ["name"] = "ci", ["expires_at"] = DateTimeOffset.UtcNow.AddDays(3).ToString("O") });
        var keyId = created.Json!["info"]!["id"]!.GetValue<long>();
        var prefix = created.Json["info"]!["prefix"]!.GetValue<string>();
        await kim.PatchAsync($"/admin/api/users/{id}", new JsonObject { ["display_name"] = "Kim K." });
        await kim.PutAsync($"/admin/api/users/{id}/password", new JsonObject { ["password"] = "Brand-new-password-9", ["current_password"] = Password });
        await admin.DeleteAsync($"/admin/api/keys/{keyId}");
        await admin.PutAsync("/admin/api/settings/auth.lockout_minutes", new JsonObject { ["value"] = "30" });
        await kim.DeleteAsync("/admin/api/session");

        var audit = await AuditAsync();
        (string Actor, string Action, string Target)[] expected =
        [
            ("key:bootstrap", "user.create", "user:kim@example.com"),
            ("kim@example.com", "session.create", "user:kim@example.com"),
            ("kim@example.com", "key.create", "key:" + prefix),
            ("kim@example.com", "user.update", "user:kim@example.com"),
            ("kim@example.com", "user.password", "user:kim@example.com"),
            ("key:bootstrap", "key.revoke", "key:" + prefix),
            ("key:bootstrap", "setting.set", "setting:auth.lockout_minutes"),
            ("kim@example.com", "session.delete", "user:kim@example.com"),
        ];
        foreach (var (actor, action, target) in expected)
        {
            var row = Assert.Single(audit, e => e.Action == action && e.Target == target);
            Assert.Equal(actor, row.Actor);
            Assert.Equal("127.0.0.1", row.RemoteAddr);
            Assert.True(DateTimeOffset.UtcNow - row.At < TimeSpan.FromMinutes(1));
        }
        // The audit log never holds a secret.
        Assert.DoesNotContain(audit, e => $"{e.Detail}{e.Target}".Contains("Brand-new-password-9") || $"{e.Detail}".Contains(GatewayFixture.ApiKey));

        var listed = await admin.GetAsync("/admin/api/audit?actor=kim%40example.com&limit=3");
        Assert.Equal(HttpStatusCode.OK, listed.Status);
        var rows = listed.Json!["data"]!.AsArray();
        Assert.Equal(3, rows.Count);
        Assert.All(rows, r => Assert.Equal("kim@example.com", r!["actor"]!.GetValue<string>()));
        Assert.Equal("session.delete", rows[0]!["action"]!.GetValue<string>()); // newest first
        var next = listed.Json["next_before_id"]!.GetValue<long>();
        var page2 = await admin.GetAsync($"/admin/api/audit?actor=kim%40example.com&before_id={next}");
        Assert.All(page2.Json!["data"]!.AsArray(), r => Assert.True(r!["id"]!.GetValue<long>() < next));
        using var plain = await SignedInAsync("kim@example.com", "Brand-new-password-9");
        Assert.Equal(HttpStatusCode.Forbidden, (await plain.GetAsync("/admin/api/audit")).Status);
    }

    [Fact]
    public async Task Bad_input_gets_a_400_naming_the_field_and_other_errors_their_status()
    {
        using var admin = AdminByKey();
        using var anonymous = Anonymous();

        var badEmail = await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = "not-an-email" });
        var noEmail = await admin.PostAsync("/admin/api/users", new JsonObject { ["display_name"] = "x" });
        var badRole = await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = "l@example.com", ["role"] = "root" });
        var weak = await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = "l@example.com", ["password"] = "short" });
        var unknownField = await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = "l@example.com", ["is_admin"] = true });
        var wrongType = await admin.PostAsync("/admin/api/keys", new JsonObject { ["expires_in_days"] = "soon" });
        var pastExpiry = await admin.PostAsync("/admin/api/keys", new JsonObject { ["expires_at"] = "2001-01-01T00:00:00Z" });
        var notJson = await admin.SendAsync(HttpMethod.Post, "/admin/api/users");
        var duplicate = await admin.PostAsync("/admin/api/users", new JsonObject { ["email"] = GatewayFixture.AdminEmail.ToUpperInvariant() });
        var missingUser = await admin.GetAsync("/admin/api/users/424242");
        var noRoute = await admin.GetAsync("/admin/api/nothing-here");
        var unauthenticated = await anonymous.GetAsync("/admin/api/users");
        using var stranger = new AdminClient(Gateway.BaseUrl, "sk-gp-" + new string('x', 43));
        var badKey = await stranger.GetAsync("/admin/api/me");

        Assert.Equal((HttpStatusCode.BadRequest, "email"), (badEmail.Status, badEmail.ErrorParam));
        Assert.Equal((HttpStatusCode.BadRequest, "email"), (noEmail.Status, noEmail.ErrorParam));
        Assert.Equal((HttpStatusCode.BadRequest, "role"), (badRole.Status, badRole.ErrorParam));
        Assert.Equal((HttpStatusCode.BadRequest, "password"), (weak.Status, weak.ErrorParam));
        Assert.Contains("12 characters", weak.ErrorMessage);
        Assert.Equal((HttpStatusCode.BadRequest, "is_admin"), (unknownField.Status, unknownField.ErrorParam));
        Assert.Equal((HttpStatusCode.BadRequest, "expires_in_days"), (wrongType.Status, wrongType.ErrorParam));
        Assert.Equal((HttpStatusCode.BadRequest, "expires_at"), (pastExpiry.Status, pastExpiry.ErrorParam));
        Assert.Equal(HttpStatusCode.BadRequest, notJson.Status);
        Assert.Equal((HttpStatusCode.Conflict, "conflict_error"), (duplicate.Status, duplicate.ErrorType));
        Assert.Equal((HttpStatusCode.NotFound, "not_found_error"), (missingUser.Status, missingUser.ErrorType));
        Assert.Equal((HttpStatusCode.NotFound, "not_found_error"), (noRoute.Status, noRoute.ErrorType));
        Assert.Equal((HttpStatusCode.Unauthorized, "authentication_error"), (unauthenticated.Status, unauthenticated.ErrorType));
        Assert.Equal(HttpStatusCode.Unauthorized, badKey.Status);
        // No partial rows from any of it.
        Assert.Single(await Store.Users.ListAsync());
        Assert.Empty(await Store.ApiKeys.ListAsync());
    }

    [Fact]
    public async Task Settings_are_allow_listed_validated_and_take_effect()
    {
        await CreateUserAsync("max@example.com");
        using var admin = AdminByKey();

        var list = await admin.GetAsync("/admin/api/settings");
        var unknown = await admin.PutAsync("/admin/api/settings/setup.code_hash", new JsonObject { ["value"] = "x" });
        var invalid = await admin.PutAsync("/admin/api/settings/auth.max_failed_logins", new JsonObject { ["value"] = "0" });
        var set = await admin.PutAsync("/admin/api/settings/auth.max_failed_logins", new JsonObject { ["value"] = "2" });

        Assert.Equal(HttpStatusCode.OK, list.Status);
        var known = list.Json!["data"]!.AsArray().ToDictionary(s => s!["key"]!.GetValue<string>(), s => s!["effective"]!.GetValue<string>());
        Assert.Equal("5", known["auth.max_failed_logins"]);
        Assert.Equal("15", known["auth.lockout_minutes"]);
        Assert.Equal(HttpStatusCode.NotFound, unknown.Status);
        Assert.Equal((HttpStatusCode.BadRequest, "value"), (invalid.Status, invalid.ErrorParam));
        Assert.Equal(("2", "5"), (set.Json!["effective"]!.GetValue<string>(), set.Json["default"]!.GetValue<string>()));

        using var client = Anonymous();
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.SignInAsync("max@example.com", "Wrong-password-0001")).Status);
        Assert.Equal(HttpStatusCode.TooManyRequests, (await client.SignInAsync("max@example.com", "Wrong-password-0002")).Status);

        Assert.Equal(HttpStatusCode.OK, (await admin.DeleteAsync("/admin/api/settings/auth.max_failed_logins")).Status);
        Assert.Null(await Store.Settings.GetAsync("auth.max_failed_logins"));
    }

    [Fact]
    public async Task The_openapi_document_is_served_and_lists_the_admin_paths()
    {
        using var http = Gateway.Http(apiKey: null);
        using var response = await http.GetAsync("/openapi/v1.json");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var doc = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.StartsWith("3.", doc["openapi"]!.GetValue<string>());
        var paths = doc["paths"]!.AsObject();
        foreach (var (path, method) in new[]
        {
            ("/admin/api/setup", "post"), ("/admin/api/session", "post"), ("/admin/api/session", "delete"), ("/admin/api/me", "get"),
            ("/admin/api/users", "get"), ("/admin/api/users", "post"), ("/admin/api/users/{id}", "patch"), ("/admin/api/users/{id}", "delete"),
            ("/admin/api/users/{id}/password", "put"), ("/admin/api/users/{id}/totp", "post"), ("/admin/api/users/{id}/totp/verify", "post"),
            ("/admin/api/users/{id}/recovery-codes", "post"), ("/admin/api/keys", "get"), ("/admin/api/keys", "post"),
            ("/admin/api/keys/{id}", "delete"), ("/admin/api/settings", "get"), ("/admin/api/settings/{key}", "put"), ("/admin/api/audit", "get"),
        })
        {
            Assert.True(paths[path]?[method] is not null, $"{method.ToUpperInvariant()} {path} is missing from the document");
        }
        // Schemas carry the wire's snake_case names.
        var created = doc["components"]!["schemas"]!["CreateKeyRequest"]!["properties"]!.AsObject();
        Assert.Contains("expires_in_days", created.Select(p => p.Key));
    }
}

/// <summary>A fresh install with no admin: the one-time set-up code creates the first one, once.</summary>
public sealed class AdminSetupTests : AdminTestBase
{
    protected override bool BootstrapAdmin => false;

    [Fact]
    public async Task The_setup_code_creates_the_first_admin_once()
    {
        // The gateway printed a code at start; issuing a fresh one here gives the test a code it knows.
        var code = await Gateway.Services.GetRequiredService<SetupCode>().IssueAsync(CancellationToken.None);
        using var client = Anonymous();

        var wrong = await client.PostAsync("/admin/api/setup", new JsonObject { ["code"] = "AAAA-BBBB-CCCC", ["email"] = "root@example.com", ["password"] = Password });
        var weak = await client.PostAsync("/admin/api/setup", new JsonObject { ["code"] = code, ["email"] = "root@example.com", ["password"] = "weak" });
        var ok = await client.PostAsync("/admin/api/setup", new JsonObject { ["code"] = code.ToLowerInvariant(), ["email"] = "root@example.com", ["password"] = Password });
        var again = await client.PostAsync("/admin/api/setup", new JsonObject { ["code"] = code, ["email"] = "second@example.com", ["password"] = Password });

        Assert.Equal(HttpStatusCode.Forbidden, wrong.Status);
        Assert.Equal((HttpStatusCode.BadRequest, "password"), (weak.Status, weak.ErrorParam)); // checked before the code is spent
        Assert.Equal(HttpStatusCode.Created, ok.Status);
        Assert.Equal(("root@example.com", "admin"), (ok.Json!["email"]!.GetValue<string>(), ok.Json["role"]!.GetValue<string>()));
        Assert.Equal(HttpStatusCode.Conflict, again.Status);
        Assert.Single(await Store.Users.ListAsync());
        var signIn = await client.SignInAsync("root@example.com", Password);
        Assert.Equal(HttpStatusCode.OK, signIn.Status);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/admin/api/users")).Status);
        var audit = await AuditAsync();
        Assert.Contains(audit, e => e.Action == "setup" && e.Actor == "root@example.com" && e.RemoteAddr == "127.0.0.1");
        Assert.Contains(audit, e => e.Action == "setup.failed" && e.Actor == "anonymous");
    }
}

/// <summary>Keys on the instance that made or revoked them: at once, not at the next refresh (30 s here, to tell them apart).</summary>
public sealed class AdminKeySyncTests : AdminTestBase
{
    protected override IEnumerable<string> ExtraSettings => ["--Identity:RefreshSeconds=30"];

    [Fact]
    public async Task A_key_works_the_moment_it_is_created_and_stops_the_moment_it_is_revoked()
    {
        var bob = await CreateUserAsync("bob@example.com");
        using var admin = AdminByKey();
        var created = await admin.PostAsync("/admin/api/keys", new JsonObject { ["user_id"] = bob, ["name"] = "laptop" });
        Assert.Equal(HttpStatusCode.Created, created.Status);
        var key = (string)created.Json!["key"]!;
        var id = (long)created.Json["info"]!["id"]!;
        using var asBob = Gateway.Http(key);

        Assert.Equal(HttpStatusCode.OK, (await asBob.GetAsync("/v1/models")).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await admin.DeleteAsync($"/admin/api/keys/{id}")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await asBob.GetAsync("/v1/models")).StatusCode);
    }
}
