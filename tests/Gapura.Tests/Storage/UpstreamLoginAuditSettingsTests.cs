using Gapura.Secrets;
using Gapura.Storage;

namespace Gapura.Tests.Storage;

public abstract class UpstreamLoginAuditSettingsTests : StoreTestBase
{
    private const string Tokens = "{\"accessToken\":\"aoa-secret-access\",\"refreshToken\":\"aor-secret-refresh\"}";

    [Fact]
    public async Task A_login_secret_is_sealed_at_rest_and_opens_for_its_row()
    {
        var user = await NewUserAsync();

        var login = await Store.UpstreamLogins.AddAsync(user.Id, "Kiro", " work ", Tokens);

        Assert.Equal(("kiro", "work", UpstreamLoginStatus.Alive), (login.Provider, login.Label, login.Status));
        var raw = await ScalarTextAsync("SELECT secret_enc AS v FROM upstream_logins WHERE id = @id", ("id", login.Id));
        Assert.StartsWith($"gp1:{Box.CurrentKeyId}:", raw);
        Assert.DoesNotContain("secret", raw);
        Assert.Equal(Tokens, await Store.UpstreamLogins.ReadSecretAsync(login.Id));
        Assert.Equal([login], await Store.UpstreamLogins.ListAsync(user.Id, "kiro"));
        Assert.Empty(await Store.UpstreamLogins.ListAsync(provider: "copilot"));
    }

    [Fact]
    public async Task A_sealed_value_copied_to_another_row_does_not_open()
    {
        var user = await NewUserAsync();
        var mine = await Store.UpstreamLogins.AddAsync(user.Id, "kiro", "mine", "my tokens");
        var theirs = await Store.UpstreamLogins.AddAsync(user.Id, "kiro", "theirs", "their tokens");
        var raw = await ScalarTextAsync("SELECT secret_enc AS v FROM upstream_logins WHERE id = @id", ("id", theirs.Id));

        await ExecuteAsync("UPDATE upstream_logins SET secret_enc = @v WHERE id = @id", ("v", raw), ("id", mine.Id));

        var error = await Assert.ThrowsAsync<SecretDecryptionException>(() => Store.UpstreamLogins.ReadSecretAsync(mine.Id));
        Assert.Equal(SecretFailure.Tampered, error.Failure);
        Assert.DoesNotContain("their tokens", error.Message);
    }

    [Fact]
    public async Task A_duplicate_label_is_refused_without_a_row()
    {
        var user = await NewUserAsync();
        await Store.UpstreamLogins.AddAsync(user.Id, "kiro", "work", "a");

        await Assert.ThrowsAsync<DuplicateUpstreamLoginException>(() => Store.UpstreamLogins.AddAsync(user.Id, "KIRO", "work", "b"));
        await Assert.ThrowsAsync<UserNotFoundException>(() => Store.UpstreamLogins.AddAsync(31337, "kiro", "work", "b"));

        Assert.Equal(1, await CountAsync("SELECT count(*) FROM upstream_logins"));
        var other = await Store.UpstreamLogins.AddAsync(user.Id, "kiro", "home", "c");
        Assert.Equal("c", await Store.UpstreamLogins.ReadSecretAsync(other.Id));
    }

    [Fact]
    public async Task A_dead_login_is_marked_and_a_refresh_revives_it()
    {
        var user = await NewUserAsync();
        var login = await Store.UpstreamLogins.AddAsync(user.Id, "kiro", "work", "old");

        await Store.UpstreamLogins.MarkDeadAsync(login.Id, "invalid_grant: refresh token revoked");
        var dead = (await Store.UpstreamLogins.FindAsync(login.Id))!;
        Assert.Equal((UpstreamLoginStatus.Dead, "invalid_grant: refresh token revoked"), (dead.Status, dead.LastError));

        Time.Advance(TimeSpan.FromMinutes(1));
        await Store.UpstreamLogins.UpdateSecretAsync(login.Id, "new");
        var alive = (await Store.UpstreamLogins.FindAsync(login.Id))!;
        Assert.Equal((UpstreamLoginStatus.Alive, null, Time.Now), (alive.Status, alive.LastError, alive.UpdatedAt));
        Assert.Equal("new", await Store.UpstreamLogins.ReadSecretAsync(login.Id));

        await Store.UpstreamLogins.DeleteAsync(login.Id);
        await Assert.ThrowsAsync<UpstreamLoginNotFoundException>(() => Store.UpstreamLogins.ReadSecretAsync(login.Id));
        await Assert.ThrowsAsync<UpstreamLoginNotFoundException>(() => Store.UpstreamLogins.DeleteAsync(login.Id));
        Assert.Equal(4, (await Store.Changes.GetChangesSinceAsync(1)).Changes.Count(c => c.Entity == ChangeEntity.UpstreamLogin));
    }

    [Fact]
    public async Task The_audit_log_lists_newest_first_with_filters()
    {
        await Store.Audit.WriteAsync(new NewAuditEntry("admin@example.com", "users.add", "a@example.com", "role=user", "10.0.0.1"));
        Time.Advance(TimeSpan.FromMinutes(1));
        var second = await Store.Audit.WriteAsync(new NewAuditEntry("cli", "keys.revoke", "sk-gp-abcdef"));
        await Store.Audit.WriteAsync(new NewAuditEntry("admin@example.com", "users.disable", "a@example.com"));

        var all = await Store.Audit.ListAsync();
        Assert.Equal(["users.disable", "keys.revoke", "users.add"], all.Select(e => e.Action));
        Assert.Equal(new AuditEntry(all[2].Id, Time.Now.AddMinutes(-1), "admin@example.com", "users.add", "a@example.com", "role=user", "10.0.0.1"), all[2]);
        Assert.Equal(2, (await Store.Audit.ListAsync(new AuditQuery(Actor: "admin@example.com"))).Count);
        Assert.Equal(2, (await Store.Audit.ListAsync(new AuditQuery(Since: Time.Now))).Count);
        Assert.Single(await Store.Audit.ListAsync(new AuditQuery(BeforeId: second)));
        Assert.Single(await Store.Audit.ListAsync(new AuditQuery(Limit: 1)));
        Assert.Equal(2, (await Store.Audit.ListAsync(new AuditQuery(Target: "a@example.com"))).Count);
    }

    [Fact]
    public async Task Settings_upsert_and_secret_settings_are_sealed_and_hidden()
    {
        await Store.Settings.SetAsync("kiro.shared_login", "false");
        await Store.Settings.SetAsync("kiro.shared_login", "true");
        await Store.Settings.SetSecretAsync("oidc.client_secret", "s3cr3t-value");

        Assert.Equal("true", await Store.Settings.GetAsync("kiro.shared_login"));
        Assert.Null(await Store.Settings.GetAsync("oidc.client_secret"));
        Assert.Null(await Store.Settings.GetAsync("missing"));
        Assert.Equal("s3cr3t-value", await Store.Settings.GetSecretAsync("oidc.client_secret"));
        Assert.Null(await ScalarTextAsync("SELECT value AS v FROM settings WHERE key = 'oidc.client_secret'"));
        Assert.DoesNotContain("s3cr3t", await ScalarTextAsync("SELECT value_enc AS v FROM settings WHERE key = 'oidc.client_secret'"));
        var listed = await Store.Settings.ListAsync();
        Assert.Equal([("kiro.shared_login", "true", false), ("oidc.client_secret", null, true)],
            listed.Select(s => (s.Key, s.Value, s.IsSecret)));
        Assert.Equal(3, await Store.Changes.GetVersionAsync());

        Assert.True(await Store.Settings.DeleteAsync("kiro.shared_login"));
        Assert.False(await Store.Settings.DeleteAsync("kiro.shared_login"));
        Assert.Equal(4, await Store.Changes.GetVersionAsync());
    }
}

public sealed class SqliteUpstreamLoginAuditSettingsTests : UpstreamLoginAuditSettingsTests
{
    private protected override IBackend CreateBackend() => new SqliteBackend();
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresUpstreamLoginAuditSettingsTests(PostgresCluster cluster) : UpstreamLoginAuditSettingsTests
{
    private protected override IBackend CreateBackend() => new PostgresBackend(cluster, GetType().Name);
}
