using Gapura.Identity;
using Gapura.Storage;

namespace Gapura.Api.Admin;

/// <summary>Set-up of the first admin, browser sign-in and sign-out, and "who am I".</summary>
internal static class AdminSessionEndpoints
{
    /// <summary>Endpoints that work without being signed in.</summary>
    public static void MapAdminPublicEndpoints(this RouteGroupBuilder open)
    {
        open.MapPost("/setup", SetupAsync)
            .AcceptsJson<SetupRequest>().Produces<UserView>(StatusCodes.Status201Created).ProducesAdminErrors(400, 403, 409)
            .WithSummary("Give the owner account (the first admin, holder of the bootstrap key) its e-mail and password with the one-time set-up code; only while it has none.");
        open.MapPost("/session", SignInAsync)
            .AcceptsJson<SignInRequest>().Produces<SessionView>().ProducesAdminErrors(400, 401, 403, 429)
            .WithSummary("Sign in with email and password (+ TOTP or a recovery code when enabled); sets the session cookie.");
    }

    public static void MapAdminSessionEndpoints(this RouteGroupBuilder admin)
    {
        admin.MapDelete("/session", SignOutAsync).Produces(StatusCodes.Status204NoContent).ProducesAdminErrors(400, 401, 403)
            .WithSummary("Sign out: ends the browser session and clears the cookie.");
        admin.MapGet("/me", MeAsync).Produces<MeView>().ProducesAdminErrors(401)
            .WithSummary("The signed-in user, how they authenticated and (for a browser session) the CSRF token.");
    }

    private static async Task<IResult> SetupAsync(HttpContext http, IGapuraStore store, SetupCode setup, PasswordHasher passwords, CancellationToken ct)
    {
        var body = await AdminBody.ReadAsync(http.Request, AdminJsonContext.Default.SetupRequest, ct);
        var code = AdminBody.Required(body.Code, "code");
        var email = EmailAddress.Validate(AdminBody.Required(body.Email, "email"));
        var password = AdminBody.Required(body.Password, "password");
        // Everything that can be checked is checked before the code is spent: a typo must not burn it.
        PasswordPolicy.Enforce(password, email);
        if (!await OwnerAccount.IsSetupOpenAsync(store, ct)) throw SetupOver();
        if (!await setup.TryConsumeAsync(code, ct))
        {
            await store.Audit.WriteAsync(new NewAuditEntry("anonymous", "setup.failed", "user:" + email, "wrong, used or expired set-up code", http.RemoteAddress()), ct);
            throw AdminApiException.Forbidden("The set-up code is wrong, already used or expired. Restart the gateway for a new one, or use `gapura users claim <email>`.");
        }
        var hash = passwords.Hash(password);
        var user = await store.InTransactionAsync(async s =>
        {
            // The owner (created by the first start, holder of the bootstrap key) gets the e-mail and password.
            var claimed = await OwnerAccount.ClaimAsync(s, email, body.DisplayName, hash, ct) ?? throw SetupOver();
            await s.Audit.WriteAsync(new NewAuditEntry(email, "setup", "user:" + email, "owner account claimed with the set-up code", http.RemoteAddress()), ct);
            return claimed;
        }, ct);
        return Results.Json(UserView.From(user), AdminJsonContext.Default.UserView, statusCode: StatusCodes.Status201Created);
    }

    private static AdminApiException SetupOver() => AdminApiException.Conflict("Set-up is over: the owner account already has an e-mail; sign in instead.");

    private static async Task<IResult> SignInAsync(HttpContext http, SignIn signIn, CancellationToken ct)
    {
        var body = await AdminBody.ReadAsync(http.Request, AdminJsonContext.Default.SignInRequest, ct);
        var (user, session, token) = await signIn.RunAsync(body, http.RemoteAddress(), ct);
        AdminSessions.WriteCookie(http, token, session.ExpiresAt);
        return Results.Json(new SessionView(UserView.From(user), AdminSessions.CsrfFor(token), session.ExpiresAt), AdminJsonContext.Default.SessionView);
    }

    private static async Task<IResult> SignOutAsync(HttpContext http, IGapuraStore store, CancellationToken ct)
    {
        var me = http.GetAdminPrincipal();
        if (me.Session is null)
            throw AdminApiException.Invalid("session", "This request was authenticated with an API key; there is no session to end (revoke the key instead).");
        await store.InTransactionAsync(async s =>
        {
            await s.Sessions.DeleteAsync(me.Session.Id, ct);
            await s.Audit.WriteAsync(http.Audit("session.delete", "user:" + me.User.Email), ct);
        }, ct);
        AdminSessions.ClearCookie(http);
        return Results.NoContent();
    }

    private static async Task<IResult> MeAsync(HttpContext http, IGapuraStore store, CancellationToken ct)
    {
        var me = http.GetAdminPrincipal();
        var codes = me.User.TotpEnabled ? await store.Users.CountUnusedRecoveryCodesAsync(me.UserId, ct) : 0;
        return Results.Json(new MeView(UserView.From(me.User), me.Kind == AdminAuthKind.Session ? "session" : "api_key", me.Actor,
            me.CsrfToken, me.Session?.ExpiresAt, codes), AdminJsonContext.Default.MeView);
    }
}

/// <summary>
/// Password sign-in, enforced on the server: PBKDF2 in constant time (with the same work for unknown
/// emails), back-off per (e-mail, client address) after repeated failures (<see cref="SignInThrottle"/>, counted in
/// the database so all instances count together, the same for unknown e-mails as for accounts), and the second
/// factor — a TOTP code, single use per time step, or a single-use recovery code.
/// </summary>
internal sealed class SignIn(IGapuraStore store, PasswordHasher passwords, SignInThrottle throttle, AdminSessions sessions, TimeProvider time)
{
    private const string WrongCredentials = "Wrong email or password.";

    public async Task<(User User, AdminSession Session, string Token)> RunAsync(SignInRequest body, string? remoteAddr, CancellationToken ct)
    {
        var email = AdminBody.Required(body.Email, "email").Trim();
        // Unknown emails are audited as typed; a length cap keeps junk from filling the log.
        if (email.Length > EmailAddress.MaxLength) email = email[..EmailAddress.MaxLength];
        var password = AdminBody.Required(body.Password, "password");

        // Before the account is even looked up, so the refusal reads and takes the same for any e-mail.
        if (await throttle.WaitAsync(email, remoteAddr, ct) is { } wait)
        {
            await AuditAsync(email, "session.throttled", null, remoteAddr, "refused unchecked: backing off after failed sign-ins from this address", ct);
            throw SignInThrottle.TooMany(wait);
        }

        var user = await store.Users.FindByEmailAsync(email, ct);
        var hash = user is null ? null : await store.Users.GetPasswordHashAsync(user.Id, ct);
        var check = passwords.Verify(password, hash);
        if (user is null || check == PasswordCheck.Failed)
        {
            await FailAsync(user, email, remoteAddr, "wrong password", ct);
            throw AdminApiException.NotSignedIn(WrongCredentials);
        }

        if (user.TotpEnabled) await CheckSecondFactorAsync(user, body, remoteAddr, time.GetUtcNow(), ct);

        if (user.Disabled)
        {
            await AuditAsync(email, "session.create_failed", user, remoteAddr, "account disabled", ct);
            throw AdminApiException.Forbidden("This account is disabled; ask an admin to enable it.");
        }

        // An older, cheaper hash is replaced now that the password is at hand.
        if (check == PasswordCheck.SucceededNeedsRehash) await store.Users.SetPasswordHashAsync(user.Id, passwords.Hash(password), ct);
        await throttle.ForgetAsync(email, remoteAddr, ct);

        var (session, token) = await store.InTransactionAsync(async s =>
        {
            var started = await sessions.StartAsync(s, user, remoteAddr, ct);
            await s.Audit.WriteAsync(new NewAuditEntry(user.Email, "session.create", "user:" + user.Email,
                user.TotpEnabled ? "password and second factor" : "password", remoteAddr), ct);
            return started;
        }, ct);
        return (user, session, token);
    }

    private async Task CheckSecondFactorAsync(User user, SignInRequest body, string? remoteAddr, DateTimeOffset now, CancellationToken ct)
    {
        if (!string.IsNullOrWhiteSpace(body.Totp))
        {
            var secret = await store.Users.GetTotpSecretAsync(user.Id, ct);
            var step = secret is null ? null : Totp.Verify(secret, body.Totp, now);
            if (step is null)
            {
                await FailAsync(user, user.Email, remoteAddr, "wrong TOTP code", ct);
                throw AdminApiException.NotSignedIn("The TOTP code is wrong or expired.");
            }
            // Claimed in the database, so a code seen once is refused on every instance, even at the same moment.
            if (!await store.Users.TryUseTotpStepAsync(user.Id, step.Value, ct))
            {
                await FailAsync(user, user.Email, remoteAddr, "replayed TOTP code", ct);
                throw AdminApiException.NotSignedIn("That TOTP code was already used; wait for the next one.");
            }
            return;
        }
        if (!string.IsNullOrWhiteSpace(body.RecoveryCode))
        {
            if (!await store.Users.TryUseRecoveryCodeAsync(user.Id, RecoveryCodes.Hash(body.RecoveryCode), ct))
            {
                await FailAsync(user, user.Email, remoteAddr, "wrong or used recovery code", ct);
                throw AdminApiException.NotSignedIn("The recovery code is wrong or was already used.");
            }
            await AuditAsync(user.Email, "recovery_code.use", user, remoteAddr,
                $"{await store.Users.CountUnusedRecoveryCodesAsync(user.Id, ct)} recovery code(s) left", ct);
            return;
        }
        // The password was right; asking for the second factor is not a failure.
        throw new AdminApiException(StatusCodes.Status401Unauthorized, ErrorTypes.SecondFactorRequired,
            "This account uses two-factor sign-in: send 'totp' (the authenticator's code) or 'recovery_code' with the password.", "totp");
    }

    /// <summary>Counts the failure for (e-mail, address) whether or not the account exists, audits it, and refuses with a 429 once the pair must wait.</summary>
    private async Task FailAsync(User? user, string email, string? remoteAddr, string why, CancellationToken ct)
    {
        var outcome = await throttle.RecordFailureAsync(email, remoteAddr, ct);
        await AuditAsync(email, "session.create_failed", user, remoteAddr, outcome.Describe(user is null ? why + " (no such user)" : why), ct);
        if (outcome.Wait is { } wait) throw SignInThrottle.TooMany(wait);
    }

    private Task AuditAsync(string email, string action, User? user, string? remoteAddr, string detail, CancellationToken ct)
        => store.Audit.WriteAsync(new NewAuditEntry(user?.Email ?? email, action, "user:" + (user?.Email ?? email), detail, remoteAddr), ct);
}
