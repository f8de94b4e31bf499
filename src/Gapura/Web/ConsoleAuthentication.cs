using System.Security.Claims;
using System.Text.Encodings.Web;
using Gapura.Api.Admin;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Gapura.Web;

/// <summary>
/// Signs console requests in from the admin API's own session cookie (<see cref="AdminSessions"/>): the same
/// sessions, expiry, idle time and sign-out as the admin API, one sign-in for both. The principal lives only in
/// server memory; it carries the session token so the console can act as its user through the admin API.
/// </summary>
internal sealed class ConsoleAuthentication(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, AdminSessions sessions)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "GapuraSession";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (await sessions.ResolveAsync(Context, Context.RequestAborted) is not { } live) return AuthenticateResult.NoResult();
        var identity = new ClaimsIdentity(
        [
            new Claim(ClaimTypes.NameIdentifier, live.User.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            new Claim(ClaimTypes.Name, live.User.Email),
            new Claim(ClaimTypes.GivenName, live.User.DisplayName),
            new Claim(ClaimTypes.Role, live.User.IsAdmin ? "admin" : "user"),
            new Claim(ConsoleClaims.SessionToken, live.Token),
            new Claim(ConsoleClaims.RemoteAddress, Context.Connection.RemoteIpAddress?.ToString() ?? ""),
        ], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Redirect(ConsolePaths.SignIn + "?returnUrl=" + Uri.EscapeDataString(Request.Path + Request.QueryString));
        return Task.CompletedTask;
    }
}

/// <summary>Claims only the console's own principal carries.</summary>
internal static class ConsoleClaims
{
    public const string SessionToken = "gapura:session";
    public const string RemoteAddress = "gapura:remote";
}
