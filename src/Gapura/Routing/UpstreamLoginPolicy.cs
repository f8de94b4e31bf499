using Gapura.Conversations;

namespace Gapura.Routing;

/// <summary>One upstream account a request may use: a user's own login, or the process-wide one.</summary>
/// <param name="Label">Shown in <c>x-gapura-login</c> and logs; never a secret.</param>
internal sealed record LoginCandidate<T>(string Label, T Login, bool Shared);

/// <summary>
/// Which upstream logins a request may use, in which order, and when to move on to the next one. One
/// place for the rule so every provider applies it alike (issue 4 extends it across providers).
/// <list type="bullet">
/// <item>The caller's own alive logins first, oldest first (the first one connected is the main account).</item>
/// <item>Dead logins are skipped: they wait for a fresh sign-in, they are not retried per request.</item>
/// <item>The process-wide login serves only a caller with no alive login of their own, and only when the
/// admin allows sharing. It is not a spill-over for a user whose own accounts ran out of quota: that would
/// spend the shared account without the admin knowing.</item>
/// </list>
/// </summary>
internal static class UpstreamLoginPolicy
{
    /// <param name="own">The caller's logins of this provider in the order they were connected.</param>
    /// <param name="shared">The process-wide login, when the provider has one.</param>
    /// <exception cref="GatewayException">UpstreamLogin (503) when nothing may serve the caller, saying why.</exception>
    public static IReadOnlyList<LoginCandidate<T>> Order<T>(
        string provider,
        IReadOnlyList<(string Label, T Login, bool Alive)> own,
        T? shared,
        bool shareAllowed) where T : class
    {
        var alive = new List<LoginCandidate<T>>(own.Count);
        foreach (var (label, login, isAlive) in own)
            if (isAlive) alive.Add(new LoginCandidate<T>(label, login, false));
        if (alive.Count > 0) return alive;

        var dead = own.Count > 0
            ? $" Your {provider} login(s) {string.Join(", ", own.Select(o => $"'{o.Label}'"))} are dead and need a fresh sign-in."
            : "";
        if (shared is null || !shareAllowed)
        {
            var why = shared is null ? $"the gateway has no {provider} login of its own" : $"this gateway does not share its own {provider} login (setting {SharedLoginSetting(provider)})";
            throw new GatewayException(ErrorKind.UpstreamLogin,
                $"No {provider} login can serve you: you have not connected one and {why}.{dead} " +
                $"Connect yours with `gapura login {provider} --user <your email>` or the admin API (POST /admin/api/users/<id>/logins/{provider}{(provider == "kiro" ? "/device" : "")}).");
        }
        return [new LoginCandidate<T>("process", shared, true)];
    }

    /// <summary>
    /// Whether a failure before the first byte is the account's rather than the request's: out of quota,
    /// throttled after the client's own retries, or a login that is dead or refused. Then the next
    /// account may well succeed; a bad request or an upstream outage would fail there too.
    /// </summary>
    public static bool MovesToNextLogin(GatewayException error)
        => error.Kind is ErrorKind.QuotaExceeded or ErrorKind.RateLimited or ErrorKind.UpstreamLogin;

    /// <summary>The setting that lets users without a login of their own use the process-wide one.</summary>
    public static string SharedLoginSetting(string provider) => provider switch
    {
        "kiro" => "Kiro:ShareProcessLogin",
        _ => $"{provider}:ShareProcessLogin",
    };
}
