using Gapura.Conversations;
using Gapura.Routing;

namespace Gapura.Providers.Accounts;

/// <summary>
/// Calling an upstream with a caller's accounts in turn: a failure that belongs to the account (spent quota,
/// throttled, refused sign-in — <see cref="UpstreamLoginPolicy.MovesToNextLogin"/>) moves on to the next
/// account before anything reached the client, and the failed account rests (<see cref="LoginCooldowns"/>, on every instance);
/// any other failure is the request's and goes up at once. The account that answered is named in
/// <c>x-gapura-login</c>. Every provider with several accounts (Kiro's logins included) goes through here.
/// </summary>
internal static class AccountFallback
{
    public static async Task<TResult> FirstAsync<TLogin, TResult>(
        string provider,
        IReadOnlyList<LoginCandidate<TLogin>> candidates,
        Func<TLogin, CancellationToken, Task<TResult>> send,
        ChatContext context,
        ILogger log,
        CancellationToken ct,
        LoginCooldowns? cooldowns = null) where TLogin : class
    {
        if (cooldowns is not null) candidates = cooldowns.Order(provider, candidates);
        for (var i = 0; ; i++)
        {
            var candidate = candidates[i];
            try
            {
                var result = await send(candidate.Login, ct);
                context.ResponseHeaders[ProviderChain.LoginHeader] = candidate.Label;
                return result;
            }
            catch (GatewayException e) when (UpstreamLoginPolicy.MovesToNextLogin(e) && !ct.IsCancellationRequested)
            {
                // Throttled or out of quota: rest for the Retry-After. A refused sign-in is not rested but marked dead
                // by its account, so a fresh sign-in under the same label is used at once.
                if (e.Kind is ErrorKind.RateLimited or ErrorKind.QuotaExceeded) cooldowns?.CoolDown(provider, candidate, e);
                if (i + 1 >= candidates.Count) throw;
                log.LogWarning("{Provider} login '{Label}' could not serve the request ({Kind}: {Message}); trying login '{Next}'",
                    provider, candidate.Label, e.Kind, e.Message, candidates[i + 1].Label);
            }
        }
    }

    /// <summary>
    /// One call with an account's current secret. An OAuth token the upstream refused (401) is renewed once and
    /// the call made again — it may have been revoked early or renewed elsewhere. A refusal is reported as the
    /// account's, naming it, so the caller knows whose sign-in to fix.
    /// </summary>
    public static async Task<TResult> WithSecretAsync<TResult>(
        string provider,
        IUpstreamAccount account,
        Func<AccountSecret, CancellationToken, Task<TResult>> send,
        CancellationToken ct)
    {
        var secret = await account.GetSecretAsync(forceRefresh: false, ct);
        try
        {
            try
            {
                return await send(secret, ct);
            }
            catch (GatewayException e) when (e.Kind == ErrorKind.UpstreamLogin && secret.Kind == AccountSecret.OAuthKind && !string.IsNullOrEmpty(secret.RefreshToken))
            {
                secret = await account.GetSecretAsync(forceRefresh: true, ct);
                return await send(secret, ct);
            }
        }
        catch (GatewayException e) when (e.Kind == ErrorKind.UpstreamLogin && account is UserAccount user)
        {
            // A key the upstream refuses (or a sign-in refused even fresh) will not work on the next request
            // either: the login is marked dead, shown so by the admin API, and skipped until connected anew.
            if (!user.IsDead) await user.MarkRefusedAsync(e.Message);
            throw new GatewayException(ErrorKind.UpstreamLogin,
                $"Your {provider} login '{account.Label}' was refused; connect it again (`gapura login {provider} --user <your email>`). {e.Message}", e.Status, inner: e);
        }
    }
}
