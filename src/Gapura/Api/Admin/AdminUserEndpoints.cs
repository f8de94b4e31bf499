using System.Globalization;
using Gapura.Identity;
using Gapura.Storage;

namespace Gapura.Api.Admin;

/// <summary>
/// Users: admins manage everyone; a user may read themselves, rename themselves, change their own
/// password and manage their own second factor. Every change and its audit row commit together.
/// </summary>
internal static class AdminUserEndpoints
{
    /// <summary>A TOTP enrollment not confirmed within this time is forgotten.</summary>
    private static readonly TimeSpan EnrollmentLifetime = TimeSpan.FromMinutes(10);

    public static void MapAdminUserEndpoints(this RouteGroupBuilder admin)
    {
        var users = admin.MapGroup("/users");
        users.MapGet("", ListAsync).Produces<UserList>().ProducesAdminErrors(401, 403).WithSummary("List users (admins).");
        users.MapPost("", CreateAsync).AcceptsJson<CreateUserRequest>().Produces<UserView>(StatusCodes.Status201Created)
            .ProducesAdminErrors(400, 401, 403, 409).WithSummary("Create a user (admins). Without a password the user has no password sign-in until one is set.");
        users.MapGet("/{id:long}", GetAsync).Produces<UserView>().ProducesAdminErrors(401, 403, 404).WithSummary("One user (admins, or yourself).");
        users.MapPatch("/{id:long}", UpdateAsync).AcceptsJson<UpdateUserRequest>().Produces<UserView>()
            .ProducesAdminErrors(400, 401, 403, 404, 409).WithSummary("Change display name (yourself or admins), role or disabled (admins). The last admin cannot be demoted or disabled.");
        users.MapDelete("/{id:long}", DeleteAsync).Produces(StatusCodes.Status204NoContent).ProducesAdminErrors(401, 403, 404, 409)
            .WithSummary("Delete a user with their keys, logins and sessions (admins). The last admin cannot be deleted.");
        users.MapPut("/{id:long}/password", SetPasswordAsync).AcceptsJson<SetPasswordRequest>().Produces(StatusCodes.Status204NoContent)
            .ProducesAdminErrors(400, 401, 403, 404, 429).WithSummary("Set a password: your own with current_password, anyone's as admin. Ends the user's other sessions.");
        users.MapPost("/{id:long}/totp", EnrollTotpAsync).Produces<TotpEnrollment>().ProducesAdminErrors(401, 403, 404, 409)
            .WithSummary("Start TOTP enrollment (yourself): returns the secret and otpauth URI once.");
        users.MapPost("/{id:long}/totp/verify", VerifyTotpAsync).AcceptsJson<TotpCodeRequest>().Produces<RecoveryCodeList>()
            .ProducesAdminErrors(400, 401, 403, 404, 409).WithSummary("Confirm enrollment with a code: TOTP is on; returns recovery codes once.");
        users.MapDelete("/{id:long}/totp", DisableTotpAsync).Produces(StatusCodes.Status204NoContent)
            .ProducesAdminErrors(400, 401, 403, 404, 429).WithSummary("Turn TOTP off (yourself with your password as {\"password\": …}, or an admin for anyone); drops recovery codes.");
        users.MapPost("/{id:long}/recovery-codes", RegenerateRecoveryCodesAsync).Produces<RecoveryCodeList>().ProducesAdminErrors(401, 403, 404, 409)
            .WithSummary("Replace your recovery codes; the new ones are shown once.");
    }

    private static async Task<IResult> ListAsync(HttpContext http, IGapuraStore store, CancellationToken ct)
    {
        http.RequireAdmin("list users");
        var users = await store.Users.ListAsync(ct);
        return Results.Json(new UserList([.. users.Select(UserView.From)]), AdminJsonContext.Default.UserList);
    }

    private static async Task<IResult> GetAsync(long id, HttpContext http, IGapuraStore store, CancellationToken ct)
    {
        http.RequireSelfOrAdmin(id, "read a user");
        return Results.Json(UserView.From(await store.Users.GetAsync(id, ct)), AdminJsonContext.Default.UserView);
    }

    private static async Task<IResult> CreateAsync(HttpContext http, IGapuraStore store, PasswordHasher passwords, CancellationToken ct)
    {
        http.RequireAdmin("create users");
        var body = await AdminBody.ReadAsync(http.Request, AdminJsonContext.Default.CreateUserRequest, ct);
        var email = EmailAddress.Validate(AdminBody.Required(body.Email, "email"));
        var role = body.Role is null ? UserRole.User : AdminBody.ParseRole(body.Role);
        string? hash = null;
        if (body.Password is not null)
        {
            PasswordPolicy.Enforce(body.Password, email);
            hash = passwords.Hash(body.Password);
        }
        var user = await store.InTransactionAsync(async s =>
        {
            var created = await s.Users.CreateAsync(new NewUser(email, body.DisplayName ?? "", role, hash), ct);
            await s.Audit.WriteAsync(http.Audit("user.create", "user:" + created.Email,
                $"role={UserRepository.RoleText(role)}{(hash is null ? "" : ", with password")}"), ct);
            return created;
        }, ct);
        return Results.Json(UserView.From(user), AdminJsonContext.Default.UserView, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> UpdateAsync(long id, HttpContext http, IGapuraStore store, CancellationToken ct)
    {
        var me = http.RequireSelfOrAdmin(id, "change a user");
        var body = await AdminBody.ReadAsync(http.Request, AdminJsonContext.Default.UpdateUserRequest, ct);
        UserRole? role = body.Role is null ? null : AdminBody.ParseRole(body.Role);
        if ((role is not null || body.Disabled is not null) && !me.IsAdmin)
            throw AdminApiException.Forbidden("Only admins may change a role or disable an account.");
        if (body.DisplayName is { Length: > 200 }) throw AdminApiException.Invalid("display_name", "'display_name' is at most 200 characters.");
        var user = await store.InTransactionAsync(async s =>
        {
            var current = await s.Users.GetAsync(id, ct);
            var changes = new List<string>();
            if (body.DisplayName is not null && body.DisplayName.Trim() != current.DisplayName)
            {
                current = await s.Users.UpdateDisplayNameAsync(id, body.DisplayName, ct);
                changes.Add("display_name");
            }
            if (role is not null && role != current.Role)
            {
                current = await s.Users.SetRoleAsync(id, role.Value, ct);
                changes.Add("role=" + UserRepository.RoleText(role.Value));
            }
            if (body.Disabled is { } disabled && disabled != current.Disabled)
            {
                current = await s.Users.SetDisabledAsync(id, disabled, ct);
                // A disabled account's sessions end now, and do not come back if it is enabled again.
                if (disabled) await s.Sessions.DeleteForUserAsync(id, ct: ct);
                changes.Add(disabled ? "disabled" : "enabled");
            }
            if (changes.Count > 0) await s.Audit.WriteAsync(http.Audit("user.update", "user:" + current.Email, string.Join(", ", changes)), ct);
            return current;
        }, ct);
        return Results.Json(UserView.From(user), AdminJsonContext.Default.UserView);
    }

    private static async Task<IResult> DeleteAsync(long id, HttpContext http, IGapuraStore store, CancellationToken ct)
    {
        http.RequireAdmin("delete users");
        await store.InTransactionAsync(async s =>
        {
            var user = await s.Users.GetAsync(id, ct);
            await s.Users.DeleteAsync(id, ct);
            await s.Audit.WriteAsync(http.Audit("user.delete", "user:" + user.Email), ct);
        }, ct);
        return Results.NoContent();
    }

    private static async Task<IResult> SetPasswordAsync(long id, HttpContext http, IGapuraStore store, PasswordHasher passwords, SignInThrottle throttle, CancellationToken ct)
    {
        var me = http.RequireSelfOrAdmin(id, "set the password");
        var body = await AdminBody.ReadAsync(http.Request, AdminJsonContext.Default.SetPasswordRequest, ct);
        var password = AdminBody.Required(body.Password, "password");
        var user = await store.Users.GetAsync(id, ct);
        PasswordPolicy.Enforce(password, user.Email);
        var self = me.UserId == id;
        if (self && user.HasPassword)
        {
            // Whoever holds a session or key must still know the password to change it.
            await RequireOwnPasswordAsync(http, store, passwords, throttle, user, AdminBody.Required(body.CurrentPassword, "current_password"), "current_password", ct);
        }
        var hash = passwords.Hash(password);
        await store.InTransactionAsync(async s =>
        {
            await s.Users.SetPasswordHashAsync(id, hash, ct);
            // Everyone else signed in as this user is signed out; the caller keeps their own session.
            await s.Sessions.DeleteForUserAsync(id, self ? me.Session?.Id : null, ct);
            await s.Audit.WriteAsync(http.Audit("user.password", "user:" + user.Email, self ? "own password changed" : "set by admin"), ct);
        }, ct);
        // A new password is a fresh start: nobody at any address need wait out failures with the old one.
        await throttle.ForgetEverywhereAsync(user.Email, ct);
        return Results.NoContent();
    }

    /// <summary>
    /// A signed-in user re-typing their own password (to change it, or to turn two-factor off) is held to the same
    /// back-off as sign-in, from the same address: a stolen session must not become a way to guess the password.
    /// </summary>
    private static async Task RequireOwnPasswordAsync(HttpContext http, IGapuraStore store, PasswordHasher passwords, SignInThrottle throttle,
        User user, string password, string param, CancellationToken ct)
    {
        if (await throttle.WaitAsync(user.Email, http.RemoteAddress(), ct) is { } wait) throw SignInThrottle.TooMany(wait);
        if (passwords.Verify(password, await store.Users.GetPasswordHashAsync(user.Id, ct)) != PasswordCheck.Failed) return;
        if ((await throttle.RecordFailureAsync(user.Email, http.RemoteAddress(), ct)).Wait is { } now) throw SignInThrottle.TooMany(now);
        throw AdminApiException.Forbidden($"'{param}' is wrong.");
    }

    private static string PendingKey(long id) => "totp.pending." + id.ToString(CultureInfo.InvariantCulture);

    private static async Task<IResult> EnrollTotpAsync(long id, HttpContext http, IGapuraStore store, TimeProvider time, CancellationToken ct)
    {
        var me = http.GetAdminPrincipal();
        // Nobody but the user may see their seed, admins included.
        if (me.UserId != id) throw AdminApiException.Forbidden("Only the user themselves can enroll a TOTP device.");
        var user = await store.Users.GetAsync(id, ct);
        if (user.TotpEnabled) throw AdminApiException.Conflict("TOTP is already on for this account; turn it off first to enroll a new device.");
        var secret = Totp.GenerateSecret();
        var expires = time.GetUtcNow() + EnrollmentLifetime;
        await store.InTransactionAsync(async s =>
        {
            // Kept encrypted like every other secret until confirmed; a settings row needs no schema change.
            await s.Settings.SetSecretAsync(PendingKey(id), expires.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture) + ":" + secret, ct);
            await s.Audit.WriteAsync(http.Audit("user.totp.enroll", "user:" + user.Email), ct);
        }, ct);
        return Results.Json(new TotpEnrollment(secret, Totp.OtpAuthUri(secret, user.Email), expires), AdminJsonContext.Default.TotpEnrollment);
    }

    private static async Task<IResult> VerifyTotpAsync(long id, HttpContext http, IGapuraStore store, TimeProvider time, CancellationToken ct)
    {
        var me = http.GetAdminPrincipal();
        if (me.UserId != id) throw AdminApiException.Forbidden("Only the user themselves can confirm their TOTP device.");
        var body = await AdminBody.ReadAsync(http.Request, AdminJsonContext.Default.TotpCodeRequest, ct);
        var code = AdminBody.Required(body.Code, "code");
        var user = await store.Users.GetAsync(id, ct);
        if (user.TotpEnabled) throw AdminApiException.Conflict("TOTP is already on for this account.");
        var pending = await store.Settings.GetSecretAsync(PendingKey(id), ct);
        var now = time.GetUtcNow();
        var parts = pending?.Split(':', 2);
        if (parts is not { Length: 2 } || !long.TryParse(parts[0], CultureInfo.InvariantCulture, out var until) || now.ToUnixTimeSeconds() > until)
            throw AdminApiException.Conflict("No TOTP enrollment is waiting (or it expired); start again with POST /admin/api/users/{id}/totp.");
        var secret = parts[1];
        var step = Totp.Verify(secret, code, now) ?? throw AdminApiException.Invalid("code", "The code does not match; check the device's clock and try the next code.");
        var codes = RecoveryCodes.Generate();
        await store.InTransactionAsync(async s =>
        {
            await s.Users.SetTotpSecretAsync(id, secret, ct);
            await s.Users.TryUseTotpStepAsync(id, step, ct);
            await s.Users.ReplaceRecoveryCodesAsync(id, [.. codes.Select(RecoveryCodes.Hash)], ct);
            await s.Settings.DeleteAsync(PendingKey(id), ct);
            await s.Audit.WriteAsync(http.Audit("user.totp.enable", "user:" + user.Email, $"{codes.Count} recovery codes issued"), ct);
        }, ct);
        return Results.Json(new RecoveryCodeList(codes), AdminJsonContext.Default.RecoveryCodeList);
    }

    private static async Task<IResult> DisableTotpAsync(long id, HttpContext http, IGapuraStore store, PasswordHasher passwords, SignInThrottle throttle, CancellationToken ct)
    {
        var me = http.RequireSelfOrAdmin(id, "turn off two-factor sign-in");
        var user = await store.Users.GetAsync(id, ct);
        if (me.UserId == id && user.HasPassword)
        {
            var body = http.Request.ContentLength is > 0 || http.Request.Headers.TransferEncoding.Count > 0
                ? await AdminBody.ReadAsync(http.Request, AdminJsonContext.Default.DisableTotpRequest, ct)
                : new DisableTotpRequest();
            await RequireOwnPasswordAsync(http, store, passwords, throttle, user, AdminBody.Required(body.Password, "password"), "password", ct);
        }
        await store.InTransactionAsync(async s =>
        {
            await s.Users.SetTotpSecretAsync(id, null, ct);
            await s.Settings.DeleteAsync(PendingKey(id), ct);
            await s.Audit.WriteAsync(http.Audit("user.totp.disable", "user:" + user.Email, me.UserId == id ? "by the user" : "by admin"), ct);
        }, ct);
        return Results.NoContent();
    }

    private static async Task<IResult> RegenerateRecoveryCodesAsync(long id, HttpContext http, IGapuraStore store, CancellationToken ct)
    {
        var me = http.GetAdminPrincipal();
        if (me.UserId != id) throw AdminApiException.Forbidden("Only the user themselves can get new recovery codes.");
        var user = await store.Users.GetAsync(id, ct);
        if (!user.TotpEnabled) throw AdminApiException.Conflict("Recovery codes stand in for the TOTP device; turn TOTP on first.");
        var codes = RecoveryCodes.Generate();
        await store.InTransactionAsync(async s =>
        {
            await s.Users.ReplaceRecoveryCodesAsync(id, [.. codes.Select(RecoveryCodes.Hash)], ct);
            await s.Audit.WriteAsync(http.Audit("user.recovery_codes", "user:" + user.Email, $"{codes.Count} new codes; the old ones no longer work"), ct);
        }, ct);
        return Results.Json(new RecoveryCodeList(codes), AdminJsonContext.Default.RecoveryCodeList);
    }
}
