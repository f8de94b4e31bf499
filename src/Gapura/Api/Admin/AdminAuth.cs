using System.Security.Cryptography;
using System.Text;
using Gapura.Identity;
using Gapura.Secrets;
using Gapura.Storage;

namespace Gapura.Api.Admin;

internal enum AdminAuthKind
{
    ApiKey,
    Session,
}

/// <summary>
/// Who is calling the admin API, as of this request: the user is read from the database per request, so
/// a demotion, a disabling or a deletion applies to the very next call, on every instance.
/// </summary>
/// <param name="Actor">What the audit log calls them: the email for a browser session, <c>key:&lt;prefix&gt;</c> for a key.</param>
internal sealed record AdminPrincipal(User User, AdminAuthKind Kind, string Actor, AdminSession? Session, string? CsrfToken)
{
    public bool IsAdmin => User.IsAdmin && !User.Disabled;

    public long UserId => User.Id;
}

internal static class AdminHttpContextExtensions
{
    private static readonly object Key = typeof(AdminPrincipal);

    public static void SetAdminPrincipal(this HttpContext http, AdminPrincipal principal) => http.Items[Key] = principal;

    /// <summary>The signed-in caller; every endpoint behind <see cref="AdminAuthFilter"/> has one.</summary>
    public static AdminPrincipal GetAdminPrincipal(this HttpContext http)
        => http.FindAdminPrincipal() ?? throw new InvalidOperationException("No admin principal on this request.");

    public static AdminPrincipal? FindAdminPrincipal(this HttpContext http) => http.Items.TryGetValue(Key, out var p) ? p as AdminPrincipal : null;

    /// <summary>The peer's address as Kestrel saw it (a proxy's, behind one: forwarded headers are not trusted blindly).</summary>
    public static string? RemoteAddress(this HttpContext http) => http.Connection.RemoteIpAddress?.ToString();

    /// <summary>An audit entry by the signed-in caller, from this request's address.</summary>
    public static NewAuditEntry Audit(this HttpContext http, string action, string? target, string? detail = null)
        => new(http.GetAdminPrincipal().Actor, action, target, detail, http.RemoteAddress());

    public static AdminPrincipal RequireAdmin(this HttpContext http, string doing)
    {
        var me = http.GetAdminPrincipal();
        return me.IsAdmin ? me : throw AdminApiException.Forbidden($"Only admins may {doing}.");
    }

    public static AdminPrincipal RequireSelfOrAdmin(this HttpContext http, long userId, string doing)
    {
        var me = http.GetAdminPrincipal();
        return me.IsAdmin || me.UserId == userId ? me : throw AdminApiException.Forbidden($"Only admins may {doing} for another user.");
    }
}

/// <summary>
/// Browser sessions: a random token in an HttpOnly, SameSite=Strict cookie; the
/// database keeps its hash, the user, the expiry and the last request time. The CSRF token is derived
/// from the session token, so it needs no storage, differs per session, and cannot be computed by a page
/// that cannot read the (HttpOnly) cookie.
/// </summary>
internal sealed class AdminSessions(IGapuraStore store, AdminSettings settings, TimeProvider time)
{
    public const string CookieName = "gapura_session";
    /// <summary>The admin API and the console (<c>/ui</c>, with Blazor's <c>/_blazor</c> connection) share the session.</summary>
    public const string CookiePath = "/";
    public const string CsrfHeader = "X-CSRF-Token";

    /// <summary>Last-seen times are written at most this often per session: one write per minute, not per click.</summary>
    private static readonly TimeSpan TouchInterval = TimeSpan.FromMinutes(1);

    public static string HashToken(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes("gapura-session:" + token)));

    public static string CsrfFor(string token) => Base64Url.Encode(SHA256.HashData(Encoding.UTF8.GetBytes("gapura-csrf:" + token)));

    /// <summary>Creates the session row inside the caller's transaction; returns the row and the token for the cookie.</summary>
    public async Task<(AdminSession Session, string Token)> StartAsync(IGapuraStore s, User user, string? remoteAddr, CancellationToken ct)
    {
        var token = Base64Url.Encode(RandomNumberGenerator.GetBytes(32));
        var hours = await settings.GetNumberAsync(AdminSettings.SessionHours, ct);
        var now = time.GetUtcNow();
        await s.Sessions.PruneExpiredAsync(now, ct);
        var session = await s.Sessions.CreateAsync(new NewAdminSession(user.Id, HashToken(token), now.AddHours(hours), remoteAddr), ct);
        return (session, token);
    }

    public static void WriteCookie(HttpContext http, string token, DateTimeOffset expires)
        => http.Response.Cookies.Append(CookieName, token, CookieOptions(http, expires));

    public static void ClearCookie(HttpContext http)
        => http.Response.Cookies.Delete(CookieName, CookieOptions(http, null));

    private static CookieOptions CookieOptions(HttpContext http, DateTimeOffset? expires) => new()
    {
        HttpOnly = true,
        SameSite = SameSiteMode.Strict,
        // Secure whenever the browser came over HTTPS; plain http on loopback would never send a Secure cookie back.
        Secure = http.Request.IsHttps,
        Path = CookiePath,
        Expires = expires,
        IsEssential = true,
    };

    /// <summary>
    /// The live session and user behind the request's cookie, or null when there is none or it ended
    /// (expired, idle too long, user disabled or deleted). Ended sessions are deleted on the way.
    /// </summary>
    public async Task<(AdminSession Session, User User, string Token)?> ResolveAsync(HttpContext http, CancellationToken ct)
    {
        if (!http.Request.Cookies.TryGetValue(CookieName, out var token) || string.IsNullOrEmpty(token) || token.Length > 200) return null;
        var session = await store.Sessions.FindByTokenHashAsync(HashToken(token), ct);
        if (session is null) return null;
        var now = time.GetUtcNow();
        var idle = TimeSpan.FromMinutes(await settings.GetNumberAsync(AdminSettings.SessionIdleMinutes, ct));
        var user = await store.Users.FindAsync(session.UserId, ct);
        if (session.ExpiresAt <= now || session.LastSeenAt + idle <= now || user is null || user.Disabled)
        {
            await store.Sessions.DeleteAsync(session.Id, ct);
            return null;
        }
        if (now - session.LastSeenAt >= TouchInterval) await store.Sessions.TouchAsync(session.Id, now, ct);
        return (session, user, token);
    }
}

/// <summary>
/// Authenticates every admin endpoint but sign-in and set-up: an API key (<c>Authorization: Bearer</c> or
/// <c>x-api-key</c>, never the query string) or the session cookie, plus the CSRF header for
/// cookie-authenticated writes. Either way key and user are read from the database, so the key's state,
/// the role and the disabled flag are the current ones, not those of the last index reload.
/// </summary>
internal sealed class AdminAuthFilter(ApiKeyAuthenticator keys, LastUsedRecorder lastUsed, AdminSessions sessions, IGapuraStore store, TimeProvider time) : IEndpointFilter
{
    private const string BadKey = "Invalid, expired or revoked API key.";

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var ct = http.RequestAborted;
        AdminPrincipal principal;
        long? keyId = null;
        if (ApiKeyAuthenticator.ReadKey(http.Request) is { } presented)
        {
            User? user;
            var indexed = keys.Authenticate(http.Request);
            if (indexed is { KeyId: null })
            {
                // The configured bootstrap key lives only in configuration, so only the index knows it. Never
                // put part of it in the audit log: it may be any string.
                user = await store.Users.FindAsync(indexed.UserId, ct);
                principal = new AdminPrincipal(user ?? throw AdminApiException.NotSignedIn(BadKey), AdminAuthKind.ApiKey, "key:bootstrap", null, null);
            }
            else
            {
                // Stored keys are checked in the database here, not only in the index: the admin API is not the
                // hot path, and this way a key works the moment it is created and stops the moment it is revoked.
                var stored = presented.Length <= 512 ? await store.ApiKeys.FindByHashAsync(ApiKeys.Hash(presented), ct) : null;
                var now = time.GetUtcNow();
                if (stored is null || !stored.IsActiveAt(now)) throw AdminApiException.NotSignedIn(BadKey);
                user = await store.Users.FindAsync(stored.UserId, ct);
                keyId = stored.Id;
                lastUsed.Touch(stored.Id, now);
                principal = new AdminPrincipal(user ?? throw AdminApiException.NotSignedIn(BadKey), AdminAuthKind.ApiKey, "key:" + stored.Prefix, null, null);
            }
            if (user.Disabled) throw AdminApiException.NotSignedIn(BadKey);
        }
        else if (await sessions.ResolveAsync(http, ct) is { } live)
        {
            principal = new AdminPrincipal(live.User, AdminAuthKind.Session, live.User.Email, live.Session, AdminSessions.CsrfFor(live.Token));
        }
        else
        {
            if (http.Request.Cookies.ContainsKey(AdminSessions.CookieName)) AdminSessions.ClearCookie(http);
            throw AdminApiException.NotSignedIn(http.Request.Cookies.ContainsKey(AdminSessions.CookieName)
                ? "Your session has ended; sign in again (POST /admin/api/session)."
                : "Sign in (POST /admin/api/session) or send an API key as 'Authorization: Bearer <key>' or 'x-api-key: <key>'.");
        }
        http.SetAdminPrincipal(principal);
        http.SetCaller(new Caller(principal.User.Id, principal.User.Email, principal.User.Role, keyId));

        if (principal.Kind == AdminAuthKind.Session && !IsSafe(http.Request.Method))
        {
            // A cross-site page can make the browser send the cookie, but cannot read the token to put in the header.
            var sent = http.Request.Headers[AdminSessions.CsrfHeader].ToString();
            if (!FixedTimeEquals(sent, principal.CsrfToken!))
                throw AdminApiException.Forbidden($"Missing or wrong {AdminSessions.CsrfHeader} header: send the csrf_token from sign-in (or GET /admin/api/me) with every change.");
        }
        return await next(context);
    }

    private static bool IsSafe(string method) => HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method);

    private static bool FixedTimeEquals(string a, string b)
        => CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(a), Encoding.UTF8.GetBytes(b));
}
