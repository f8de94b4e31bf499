using Gapura.Identity;
using Gapura.Storage;

namespace Gapura.Tests.Storage;

public abstract class UserRepositoryTests : StoreTestBase
{
    [Fact]
    public async Task A_created_user_reads_back_as_written()
    {
        var created = await Store.Users.CreateAsync(new NewUser("  Ada@Example.com ", " Ada Lovelace ", UserRole.Admin, "pbkdf2-sha256$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA=="));

        var read = await Store.Users.GetAsync(created.Id);

        Assert.Equal(created, read);
        Assert.Equal("Ada@Example.com", read.Email);
        Assert.Equal("Ada Lovelace", read.DisplayName);
        Assert.Equal(UserRole.Admin, read.Role);
        Assert.False(read.Disabled);
        Assert.True(read.HasPassword);
        Assert.False(read.TotpEnabled);
        Assert.Equal(Time.Now, read.CreatedAt);
        Assert.Equal(read, await Store.Users.FindByEmailAsync("ADA@example.COM"));
    }

    [Fact]
    public async Task A_duplicate_email_in_another_case_is_refused_and_leaves_nothing_behind()
    {
        await Store.Users.CreateAsync(new NewUser("grace@example.com"));
        var version = await Store.Changes.GetVersionAsync();

        var error = await Assert.ThrowsAsync<DuplicateEmailException>(() => Store.Users.CreateAsync(new NewUser("GRACE@Example.COM", "Other")));

        Assert.Contains("GRACE@Example.COM", error.Message);
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM users"));
        Assert.Equal(version, await Store.Changes.GetVersionAsync());
    }

    [Theory]
    [InlineData("")]
    [InlineData("no-at-sign")]
    [InlineData("two@@example.com")]
    [InlineData("@example.com")]
    [InlineData("someone@localhost")]
    [InlineData("with space@example.com")]
    public async Task A_malformed_email_is_refused(string email)
    {
        await Assert.ThrowsAsync<InvalidEmailException>(() => Store.Users.CreateAsync(new NewUser(email)));
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM users"));
    }

    [Fact]
    public async Task Unknown_users_are_named_in_the_error()
    {
        var error = await Assert.ThrowsAsync<UserNotFoundException>(() => Store.Users.GetAsync(424242));
        Assert.Contains("424242", error.Message);
        await Assert.ThrowsAsync<UserNotFoundException>(() => Store.Users.SetRoleAsync(424242, UserRole.Admin));
        await Assert.ThrowsAsync<UserNotFoundException>(() => Store.Users.DeleteAsync(424242));
        await Assert.ThrowsAsync<UserNotFoundException>(() => Store.ApiKeys.CreateAsync(new NewApiKey(424242, "k", "sk-gp-abcdef", "hash")));
        Assert.Null(await Store.Users.FindByEmailAsync("nobody@example.com"));
        Assert.Equal(0, await Store.Changes.GetVersionAsync());
    }

    [Fact]
    public async Task The_last_enabled_admin_can_be_neither_demoted_nor_disabled_nor_deleted()
    {
        var admin = await NewUserAsync(role: UserRole.Admin);
        var user = await NewUserAsync();

        await Assert.ThrowsAsync<LastAdminException>(() => Store.Users.SetRoleAsync(admin.Id, UserRole.User));
        await Assert.ThrowsAsync<LastAdminException>(() => Store.Users.SetDisabledAsync(admin.Id, true));
        await Assert.ThrowsAsync<LastAdminException>(() => Store.Users.DeleteAsync(admin.Id));
        Assert.Equal(admin, await Store.Users.GetAsync(admin.Id));

        await Store.Users.SetRoleAsync(user.Id, UserRole.Admin);
        var demoted = await Store.Users.SetRoleAsync(admin.Id, UserRole.User);
        Assert.Equal(UserRole.User, demoted.Role);
        await Store.Users.DeleteAsync(admin.Id);
        Assert.Null(await Store.Users.FindAsync(admin.Id));
    }

    [Fact]
    public async Task Two_admins_demoting_each_other_at_once_leave_one_admin()
    {
        var a = await NewUserAsync(role: UserRole.Admin);
        var b = await NewUserAsync(role: UserRole.Admin);
        var other = new GapuraStore(Backend.OpenAgain(Db), Box, Time);
        var firstDemoted = new TaskCompletionSource();

        // Instance 1 demotes a and holds its transaction open while instance 2 demotes b: without
        // serialisation each would still see the other as admin and both would succeed.
        var first = Attempt(() => Store.InTransactionAsync(async tx =>
        {
            await tx.Users.SetRoleAsync(a.Id, UserRole.User);
            firstDemoted.SetResult();
            await Task.Delay(300);
        }));
        await firstDemoted.Task;
        var second = Attempt(() => other.Users.SetRoleAsync(b.Id, UserRole.User));

        var results = await Task.WhenAll(first, second);
        Assert.Equal(new[] { true, false }, results);
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM users WHERE role = 'admin'"));

        static async Task<bool> Attempt(Func<Task> demote)
        {
            try { await demote(); return true; }
            catch (LastAdminException) { return false; }
        }
    }

    [Fact]
    public async Task Deleting_a_user_removes_their_keys_logins_and_recovery_codes()
    {
        var user = await NewUserAsync();
        var key = ApiKeys.Generate();
        await Store.ApiKeys.CreateAsync(new NewApiKey(user.Id, "laptop", key.Prefix, key.Hash));
        await Store.UpstreamLogins.AddAsync(user.Id, "kiro", "work", "{\"refreshToken\":\"r\"}");
        await Store.Users.ReplaceRecoveryCodesAsync(user.Id, [RecoveryCodes.Hash("aaaa-bbbb-cccc")]);

        await Store.Users.DeleteAsync(user.Id);

        Assert.Null(await Store.Users.FindAsync(user.Id));
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM api_keys"));
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM upstream_logins"));
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM recovery_codes"));
        var changes = await Store.Changes.GetChangesSinceAsync(0);
        Assert.Equal(new Change(changes.Version, ChangeEntity.User, user.Id.ToString()), changes.Changes[^1]);
    }

    [Fact]
    public async Task Failed_sign_ins_count_per_email_and_address_and_are_forgotten_after_a_day_or_a_success()
    {
        var failures = new SignInFailures(Db);
        var forget = Time.Now - TimeSpan.FromDays(1);
        static TimeSpan? FromThe3rd(int n) => n >= 3 ? TimeSpan.FromSeconds(n) : null;

        for (var i = 1; i < 3; i++)
            Assert.Equal(new SignInFailureCount(i, null), await failures.RecordAsync("bob@example.com", "10.0.0.1", Time.Now, forget, FromThe3rd, default));
        var third = await failures.RecordAsync("bob@example.com", "10.0.0.1", Time.Now, forget, FromThe3rd, default);
        await failures.RecordAsync("bob@example.com", "10.0.0.2", Time.Now, forget, FromThe3rd, default);

        Assert.Equal(new SignInFailureCount(3, Time.Now + TimeSpan.FromSeconds(3)), third);
        Assert.Equal(third, await failures.FindAsync("bob@example.com", "10.0.0.1", forget, default));
        Assert.Equal(1, (await failures.FindAsync("bob@example.com", "10.0.0.2", forget, default))!.Failures); // each address counts apart
        Assert.Null(await failures.FindAsync("bob@example.com", "10.0.0.1", Time.Now + TimeSpan.FromSeconds(1), default)); // a day later: forgotten
        // A failure a day later starts again at 1: the forgotten rows are deleted on the way.
        Assert.Equal(1, (await failures.RecordAsync("bob@example.com", "10.0.0.1", Time.Now, Time.Now + TimeSpan.FromSeconds(1), FromThe3rd, default)).Failures);

        await failures.ForgetAsync("bob@example.com", "10.0.0.1", default);
        Assert.Null(await failures.FindAsync("bob@example.com", "10.0.0.1", forget, default));
        await failures.RecordAsync("bob@example.com", "10.0.0.3", Time.Now, forget, FromThe3rd, default);
        await failures.ForgetEverywhereAsync("bob@example.com", default);
        Assert.Null(await failures.FindAsync("bob@example.com", "10.0.0.3", forget, default));
    }

    [Fact]
    public async Task Failed_sign_ins_on_several_instances_all_count()
    {
        var instances = new[] { new SignInFailures(Db), new SignInFailures(Backend.OpenAgain(Db)) };
        var forget = Time.Now - TimeSpan.FromDays(1);

        await Task.WhenAll(Enumerable.Range(0, 10).Select(i => instances[i % 2].RecordAsync("eve@example.com", "10.0.0.9", Time.Now, forget, _ => null, default)));

        Assert.Equal(10, (await instances[0].FindAsync("eve@example.com", "10.0.0.9", forget, default))!.Failures);
    }

    [Fact]
    public async Task A_new_password_hash_is_stored()
    {
        var user = await NewUserAsync();

        await Store.Users.SetPasswordHashAsync(user.Id, "pbkdf2-sha256$1$x$y");

        var after = await Store.Users.GetAsync(user.Id);
        Assert.True(after.HasPassword);
        Assert.Equal("pbkdf2-sha256$1$x$y", await Store.Users.GetPasswordHashAsync(user.Id));
    }

    [Fact]
    public async Task The_totp_seed_is_stored_encrypted_and_each_step_is_accepted_once()
    {
        var user = await NewUserAsync();
        var seed = Totp.GenerateSecret();

        await Store.Users.SetTotpSecretAsync(user.Id, seed);

        var raw = await ScalarTextAsync("SELECT totp_secret_enc AS v FROM users WHERE id = @id", ("id", user.Id));
        Assert.StartsWith("gp1:" + Box.CurrentKeyId + ":", raw);
        Assert.DoesNotContain(seed, raw);
        Assert.Equal(seed, await Store.Users.GetTotpSecretAsync(user.Id));
        Assert.True((await Store.Users.GetAsync(user.Id)).TotpEnabled);

        var step = Totp.StepAt(Time.Now);
        Assert.True(await Store.Users.TryUseTotpStepAsync(user.Id, step));
        Assert.False(await Store.Users.TryUseTotpStepAsync(user.Id, step));
        Assert.False(await Store.Users.TryUseTotpStepAsync(user.Id, step - 1));
        Assert.True(await Store.Users.TryUseTotpStepAsync(user.Id, step + 1));
    }

    [Fact]
    public async Task Recovery_codes_work_once_each_and_go_when_totp_is_turned_off()
    {
        var user = await NewUserAsync();
        await Store.Users.SetTotpSecretAsync(user.Id, Totp.GenerateSecret());
        var codes = RecoveryCodes.Generate();
        await Store.Users.ReplaceRecoveryCodesAsync(user.Id, codes.Select(RecoveryCodes.Hash).ToList());
        var stranger = await NewUserAsync();

        Assert.False(await Store.Users.TryUseRecoveryCodeAsync(stranger.Id, RecoveryCodes.Hash(codes[0])));
        Assert.True(await Store.Users.TryUseRecoveryCodeAsync(user.Id, RecoveryCodes.Hash(codes[0].ToUpperInvariant())));
        Assert.False(await Store.Users.TryUseRecoveryCodeAsync(user.Id, RecoveryCodes.Hash(codes[0])));
        Assert.Equal(codes.Count - 1, await Store.Users.CountUnusedRecoveryCodesAsync(user.Id));
        Assert.Equal(0, await CountAsync("SELECT count(*) FROM recovery_codes WHERE code_hash = @h", ("h", codes[1])));

        var fresh = RecoveryCodes.Generate();
        await Store.Users.ReplaceRecoveryCodesAsync(user.Id, fresh.Select(RecoveryCodes.Hash).ToList());
        Assert.False(await Store.Users.TryUseRecoveryCodeAsync(user.Id, RecoveryCodes.Hash(codes[1])));
        Assert.Equal(fresh.Count, await Store.Users.CountUnusedRecoveryCodesAsync(user.Id));

        await Store.Users.SetTotpSecretAsync(user.Id, null);
        Assert.Equal(0, await Store.Users.CountUnusedRecoveryCodesAsync(user.Id));
        Assert.Null(await Store.Users.GetTotpSecretAsync(user.Id));
    }

    [Fact]
    public async Task A_recovery_code_used_on_two_instances_at_once_works_only_once()
    {
        var user = await NewUserAsync();
        var code = RecoveryCodes.Generate(1)[0];
        await Store.Users.ReplaceRecoveryCodesAsync(user.Id, [RecoveryCodes.Hash(code)]);
        var other = new GapuraStore(Backend.OpenAgain(Db), Box, Time);

        var results = await Task.WhenAll(
            Store.Users.TryUseRecoveryCodeAsync(user.Id, RecoveryCodes.Hash(code)),
            other.Users.TryUseRecoveryCodeAsync(user.Id, RecoveryCodes.Hash(code)));

        Assert.Single(results, ok => ok);
    }

    [Fact]
    public async Task A_transaction_that_fails_leaves_nothing()
    {
        var version = await Store.Changes.GetVersionAsync();

        await Assert.ThrowsAsync<InvalidOperationException>(() => Store.InTransactionAsync(async tx =>
        {
            var user = await tx.Users.CreateAsync(new NewUser("temp@example.com", Role: UserRole.Admin));
            var key = ApiKeys.Generate();
            await tx.ApiKeys.CreateAsync(new NewApiKey(user.Id, "k", key.Prefix, key.Hash));
            await tx.UpstreamLogins.AddAsync(user.Id, "kiro", "main", "token");
            await tx.Settings.SetAsync("shared-kiro", "true");
            await tx.Audit.WriteAsync(new NewAuditEntry("admin@example.com", "users.add", user.Email));
            throw new InvalidOperationException("something later failed");
        }));

        foreach (var table in new[] { "users", "api_keys", "upstream_logins", "settings", "audit_log", "change_log" })
            Assert.Equal(0, await CountAsync($"SELECT count(*) FROM {table}"));
        Assert.Equal(version, await Store.Changes.GetVersionAsync());
    }

    [Fact]
    public async Task A_refused_call_inside_a_transaction_undoes_only_itself()
    {
        await Store.InTransactionAsync(async tx =>
        {
            await tx.Users.CreateAsync(new NewUser("kept@example.com"));
            await Assert.ThrowsAsync<DuplicateEmailException>(() => tx.Users.CreateAsync(new NewUser("KEPT@example.com")));
            await tx.Audit.WriteAsync(new NewAuditEntry("cli", "users.add", "kept@example.com"));
        });

        Assert.Equal(1, await CountAsync("SELECT count(*) FROM users"));
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM audit_log"));
        Assert.Equal(1, await Store.Changes.GetVersionAsync());
    }

    [Fact]
    public async Task Every_user_change_moves_the_change_feed()
    {
        var user = await NewUserAsync();
        var v0 = await Store.Changes.GetVersionAsync();

        await Store.Users.UpdateDisplayNameAsync(user.Id, "New Name");
        await Store.Users.SetDisabledAsync(user.Id, true);
        await Store.Users.SetRoleAsync(user.Id, UserRole.Admin);

        var batch = await Store.Changes.GetChangesSinceAsync(v0);
        Assert.True(batch.Complete);
        Assert.Equal(v0 + 3, batch.Version);
        Assert.All(batch.Changes, c => Assert.Equal((ChangeEntity.User, user.Id.ToString()), (c.Entity, c.EntityId)));
        var after = await Store.Users.GetAsync(user.Id);
        Assert.Equal(("New Name", true, UserRole.Admin), (after.DisplayName, after.Disabled, after.Role));
    }
}

public sealed class SqliteUserRepositoryTests : UserRepositoryTests
{
    private protected override IBackend CreateBackend() => new SqliteBackend();
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresUserRepositoryTests(PostgresCluster cluster) : UserRepositoryTests
{
    private protected override IBackend CreateBackend() => new PostgresBackend(cluster, GetType().Name);
}
