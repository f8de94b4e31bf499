using Gapura.Identity;
using Gapura.Secrets;

namespace Gapura.Storage;

internal interface IUserRepository
{
    /// <summary>Creates a user. Throws <see cref="DuplicateEmailException"/> or <see cref="InvalidEmailException"/>.</summary>
    Task<User> CreateAsync(NewUser user, CancellationToken ct = default);

    Task<User?> FindAsync(long id, CancellationToken ct = default);

    /// <summary>Throws <see cref="UserNotFoundException"/> when there is no such user.</summary>
    Task<User> GetAsync(long id, CancellationToken ct = default);

    /// <summary>Looks the email up without regard to case.</summary>
    Task<User?> FindByEmailAsync(string email, CancellationToken ct = default);

    Task<IReadOnlyList<User>> ListAsync(CancellationToken ct = default);

    Task<int> CountAsync(CancellationToken ct = default);

    Task<User> UpdateDisplayNameAsync(long id, string displayName, CancellationToken ct = default);

    /// <summary>Changes the user's email (the owner account getting its real one). Throws <see cref="DuplicateEmailException"/> or <see cref="InvalidEmailException"/>.</summary>
    Task<User> SetEmailAsync(long id, string email, CancellationToken ct = default);

    /// <summary>Throws <see cref="LastAdminException"/> when demoting the last enabled admin.</summary>
    Task<User> SetRoleAsync(long id, UserRole role, CancellationToken ct = default);

    /// <summary>Throws <see cref="LastAdminException"/> when disabling the last enabled admin.</summary>
    Task<User> SetDisabledAsync(long id, bool disabled, CancellationToken ct = default);

    /// <summary>Deletes the user with their keys, logins and recovery codes. Refuses the last enabled admin.</summary>
    Task DeleteAsync(long id, CancellationToken ct = default);

    /// <summary>Stores a new password hash.</summary>
    Task SetPasswordHashAsync(long id, string? passwordHash, CancellationToken ct = default);

    Task<string?> GetPasswordHashAsync(long id, CancellationToken ct = default);

    /// <summary>Stores (encrypted) or clears the TOTP seed. Clearing also drops the recovery codes.</summary>
    Task SetTotpSecretAsync(long id, string? base32Secret, CancellationToken ct = default);

    Task<string?> GetTotpSecretAsync(long id, CancellationToken ct = default);

    /// <summary>
    /// Claims a TOTP time step for this user: true only the first time a step newer than any used before is
    /// claimed, which makes a code single-use even when two instances see it at once.
    /// </summary>
    Task<bool> TryUseTotpStepAsync(long id, long step, CancellationToken ct = default);

    /// <summary>Replaces all recovery codes of the user with these hashes, in one transaction.</summary>
    Task ReplaceRecoveryCodesAsync(long id, IReadOnlyCollection<string> codeHashes, CancellationToken ct = default);

    /// <summary>Marks the code used; true only for an unused code of this user (single use, race-free).</summary>
    Task<bool> TryUseRecoveryCodeAsync(long id, string codeHash, CancellationToken ct = default);

    Task<int> CountUnusedRecoveryCodesAsync(long id, CancellationToken ct = default);
}

internal sealed class UserRepository(IDbScope scope, SecretBox secrets, TimeProvider time) : IUserRepository
{
    private const string Columns = """
        id, email, display_name, role, disabled, created_at, updated_at,
        CASE WHEN password_hash IS NULL THEN 0 ELSE 1 END AS has_password,
        CASE WHEN totp_secret_enc IS NULL THEN 0 ELSE 1 END AS totp_enabled
        """;

    public static string TotpPurpose(long id) => SecretColumns.UserTotp.PurposeFor(id);

    public Task<User> CreateAsync(NewUser user, CancellationToken ct = default)
    {
        var email = EmailAddress.Validate(user.Email);
        var displayName = (user.DisplayName ?? "").Trim();
        return scope.WriteAsync(async s =>
        {
            var now = time.NowMs();
            long id;
            try
            {
                id = await s.Sql("""
                        INSERT INTO users (email, display_name, role, disabled, password_hash, created_at, updated_at)
                        VALUES (@email, @name, @role, @disabled, @hash, @now, @now)
                        RETURNING id
                        """)
                    .Param("email", email).Param("name", displayName).Param("role", RoleText(user.Role))
                    .Param("disabled", false).Param("hash", user.PasswordHash).Param("now", now)
                    .ScalarAsync<long>(ct);
            }
            catch (System.Data.Common.DbException e) when (s.Database.IsUniqueViolation(e))
            {
                // The only unique index on users besides the key is lower(email).
                throw new DuplicateEmailException(email);
            }
            await ChangeFeed.RecordAsync(s, ChangeEntity.User, id, now, ct);
            return (await FindAsync(s, id, ct))!;
        }, ct);
    }

    public Task<User?> FindAsync(long id, CancellationToken ct = default) => scope.ReadAsync(s => FindAsync(s, id, ct), ct);

    public async Task<User> GetAsync(long id, CancellationToken ct = default)
        => await FindAsync(id, ct) ?? throw new UserNotFoundException(id);

    public Task<User?> FindByEmailAsync(string email, CancellationToken ct = default)
        => scope.ReadAsync(s => s.Sql($"SELECT {Columns} FROM users WHERE lower(email) = lower(@email)")
            .Param("email", (email ?? "").Trim()).FirstOrDefaultAsync(Map, ct), ct);

    public async Task<IReadOnlyList<User>> ListAsync(CancellationToken ct = default)
        => await scope.ReadAsync(s => s.Sql($"SELECT {Columns} FROM users ORDER BY id").ListAsync(Map, ct), ct);

    public Task<int> CountAsync(CancellationToken ct = default)
        => scope.ReadAsync(s => s.Sql("SELECT count(*) FROM users").ScalarAsync<int>(ct), ct);

    public Task<User> UpdateDisplayNameAsync(long id, string displayName, CancellationToken ct = default)
        => ChangeAsync(id, async (s, _, now) =>
        {
            await s.Sql("UPDATE users SET display_name = @name, updated_at = @now WHERE id = @id")
                .Param("name", (displayName ?? "").Trim()).Param("now", now).Param("id", id).ExecuteAsync(ct);
        }, ct);

    public Task<User> SetEmailAsync(long id, string email, CancellationToken ct = default)
    {
        var address = EmailAddress.Validate(email);
        return ChangeAsync(id, async (s, _, now) =>
        {
            try
            {
                await s.Sql("UPDATE users SET email = @email, updated_at = @now WHERE id = @id")
                    .Param("email", address).Param("now", now).Param("id", id).ExecuteAsync(ct);
            }
            catch (System.Data.Common.DbException e) when (s.Database.IsUniqueViolation(e))
            {
                throw new DuplicateEmailException(address);
            }
        }, ct);
    }

    public Task<User> SetRoleAsync(long id, UserRole role, CancellationToken ct = default)
        => ChangeAsync(id, async (s, user, now) =>
        {
            if (user.Role == role) return;
            if (user is { Role: UserRole.Admin, Disabled: false }) await EnsureAnotherAdminAsync(s, id, "demote", ct);
            await s.Sql("UPDATE users SET role = @role, updated_at = @now WHERE id = @id")
                .Param("role", RoleText(role)).Param("now", now).Param("id", id).ExecuteAsync(ct);
        }, ct);

    public Task<User> SetDisabledAsync(long id, bool disabled, CancellationToken ct = default)
        => ChangeAsync(id, async (s, user, now) =>
        {
            if (user.Disabled == disabled) return;
            if (disabled && user.IsAdmin) await EnsureAnotherAdminAsync(s, id, "disable", ct);
            await s.Sql("UPDATE users SET disabled = @disabled, updated_at = @now WHERE id = @id")
                .Param("disabled", disabled).Param("now", now).Param("id", id).ExecuteAsync(ct);
        }, ct);

    public Task DeleteAsync(long id, CancellationToken ct = default)
        => ChangeAsync(id, async (s, user, _) =>
        {
            if (user is { Role: UserRole.Admin, Disabled: false }) await EnsureAnotherAdminAsync(s, id, "delete", ct);
            // Keys, logins and recovery codes go with the user (ON DELETE CASCADE).
            await s.Sql("DELETE FROM users WHERE id = @id").Param("id", id).ExecuteAsync(ct);
        }, ct);

    public Task SetPasswordHashAsync(long id, string? passwordHash, CancellationToken ct = default)
        => ChangeAsync(id, async (s, _, now) =>
        {
            await s.Sql("UPDATE users SET password_hash = @hash, updated_at = @now WHERE id = @id")
                .Param("hash", passwordHash).Param("now", now).Param("id", id).ExecuteAsync(ct);
        }, ct);

    public async Task<string?> GetPasswordHashAsync(long id, CancellationToken ct = default)
    {
        var row = await scope.ReadAsync(s => s.Sql("SELECT password_hash FROM users WHERE id = @id").Param("id", id)
            .FirstOrDefaultAsync(r => new { Hash = r.StringOrNull("password_hash") }, ct), ct);
        return row is null ? throw new UserNotFoundException(id) : row.Hash;
    }

    public Task SetTotpSecretAsync(long id, string? base32Secret, CancellationToken ct = default)
        => ChangeAsync(id, async (s, _, now) =>
        {
            var sealedSecret = base32Secret is null ? null : secrets.Seal(base32Secret, TotpPurpose(id));
            await s.Sql("UPDATE users SET totp_secret_enc = @secret, totp_last_step = NULL, updated_at = @now WHERE id = @id")
                .Param("secret", sealedSecret).Param("now", now).Param("id", id).ExecuteAsync(ct);
            if (base32Secret is null)
                await s.Sql("DELETE FROM recovery_codes WHERE user_id = @id").Param("id", id).ExecuteAsync(ct);
        }, ct);

    public async Task<string?> GetTotpSecretAsync(long id, CancellationToken ct = default)
    {
        var row = await scope.ReadAsync(s => s.Sql("SELECT totp_secret_enc FROM users WHERE id = @id").Param("id", id)
            .FirstOrDefaultAsync(r => new { Sealed = r.StringOrNull("totp_secret_enc") }, ct), ct);
        if (row is null) throw new UserNotFoundException(id);
        return row.Sealed is null ? null : secrets.Open(row.Sealed, TotpPurpose(id));
    }

    public Task<bool> TryUseTotpStepAsync(long id, long step, CancellationToken ct = default)
        => scope.WriteAsync(async s => await s.Sql("""
                UPDATE users SET totp_last_step = @step
                WHERE id = @id AND (totp_last_step IS NULL OR totp_last_step < @step)
                """)
            .Param("step", step).Param("id", id).ExecuteAsync(ct) == 1, ct);

    public Task ReplaceRecoveryCodesAsync(long id, IReadOnlyCollection<string> codeHashes, CancellationToken ct = default)
        => scope.WriteAsync(async s =>
        {
            var now = time.NowMs();
            await RequireUserAsync(s, id, ct);
            await s.Sql("DELETE FROM recovery_codes WHERE user_id = @id").Param("id", id).ExecuteAsync(ct);
            foreach (var hash in codeHashes.Distinct(StringComparer.Ordinal))
            {
                await s.Sql("INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (@id, @hash, @now)")
                    .Param("id", id).Param("hash", hash).Param("now", now).ExecuteAsync(ct);
            }
            return 0;
        }, ct);

    public Task<bool> TryUseRecoveryCodeAsync(long id, string codeHash, CancellationToken ct = default)
        => scope.WriteAsync(async s => await s.Sql("""
                UPDATE recovery_codes SET used_at = @now
                WHERE user_id = @id AND code_hash = @hash AND used_at IS NULL
                """)
            .Param("now", time.NowMs()).Param("id", id).Param("hash", codeHash).ExecuteAsync(ct) == 1, ct);

    public Task<int> CountUnusedRecoveryCodesAsync(long id, CancellationToken ct = default)
        => scope.ReadAsync(s => s.Sql("SELECT count(*) FROM recovery_codes WHERE user_id = @id AND used_at IS NULL")
            .Param("id", id).ScalarAsync<int>(ct), ct);

    /// <summary>
    /// The shape of every change other instances must see: bump the change feed first (which also
    /// serialises concurrent user changes, see <see cref="ChangeFeed"/>), then read the user, then act.
    /// </summary>
    private Task<User> ChangeAsync(long id, Func<DbSession, User, DateTimeOffset, Task> change, CancellationToken ct)
        => scope.WriteAsync(async s =>
        {
            var now = time.NowMs();
            await ChangeFeed.RecordAsync(s, ChangeEntity.User, id, now, ct);
            var user = await FindAsync(s, id, ct) ?? throw new UserNotFoundException(id);
            await change(s, user, now);
            return await FindAsync(s, id, ct) ?? user;
        }, ct);

    private static async Task EnsureAnotherAdminAsync(DbSession s, long id, string action, CancellationToken ct)
    {
        var others = await s.Sql("SELECT count(*) FROM users WHERE role = 'admin' AND disabled = @no AND id <> @id")
            .Param("no", false).Param("id", id).ScalarAsync<long>(ct);
        if (others == 0) throw new LastAdminException(action);
    }

    internal static async Task RequireUserAsync(DbSession s, long id, CancellationToken ct)
    {
        var exists = await s.Sql("SELECT count(*) FROM users WHERE id = @id").Param("id", id).ScalarAsync<long>(ct);
        if (exists == 0) throw new UserNotFoundException(id);
    }

    private static Task<User?> FindAsync(DbSession s, long id, CancellationToken ct)
        => s.Sql($"SELECT {Columns} FROM users WHERE id = @id").Param("id", id).FirstOrDefaultAsync(Map, ct);

    internal static string RoleText(UserRole role) => role == UserRole.Admin ? "admin" : "user";

    internal static UserRole ParseRole(string text) => text == "admin" ? UserRole.Admin : UserRole.User;

    private static User Map(Row r) => new(
        r.Long("id"), r.String("email"), r.String("display_name"), ParseRole(r.String("role")), r.Bool("disabled"),
        r.Int("has_password") == 1, r.Int("totp_enabled") == 1,
        r.Time("created_at"), r.Time("updated_at"));
}
