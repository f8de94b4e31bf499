using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.Accounts;

/// <summary>
/// A provider's OAuth sign-in (Claude, ChatGPT): its PKCE client, and what the provider reads from the token
/// response beyond the tokens (ChatGPT's account id). Registered once per provider; also renews its sign-ins.
/// </summary>
internal sealed class OAuthSignIn(string provider, OAuthPkceClient client, Func<AccountSecret, JsonElement, AccountSecret>? finish = null) : IAccountRefresher
{
    public string Provider => provider;

    public OAuthPkceClient Client => client;

    public OAuthSignInStart Start() => client.Start();

    public async Task<AccountSecret> CompleteAsync(OAuthSignInStart started, string pasted, CancellationToken ct)
    {
        var (secret, response) = await client.ExchangeAsync(started, pasted, ct);
        return finish is null ? secret : finish(secret, response);
    }

    public Task<AccountSecret> RefreshAsync(AccountSecret current, CancellationToken ct) => client.RefreshAsync(current, ct);
}

/// <summary>
/// Sign-ins started from the admin API and waiting for the user to bring the code back, held in memory for
/// ten minutes: the PKCE verifier never leaves the gateway. A flow belongs to the user it was started for.
/// </summary>
internal sealed class SignInFlows(IEnumerable<OAuthSignIn> signIns, TimeProvider time)
{
    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);

    private readonly Dictionary<string, OAuthSignIn> _byProvider = signIns.ToDictionary(s => s.Provider, StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, Flow> _flows = new(StringComparer.Ordinal);

    internal sealed record Flow(string Id, long UserId, string Provider, string? Label, OAuthSignInStart Started, DateTimeOffset ExpiresAt);

    public IReadOnlyCollection<string> Providers => _byProvider.Keys;

    public OAuthSignIn? For(string provider) => _byProvider.GetValueOrDefault(provider);

    public Flow Start(long userId, string provider, string? label)
    {
        var signIn = For(provider) ?? throw GatewayException.BadRequest($"{provider} has no sign-in; connect it with a key instead.");
        Sweep();
        var flow = new Flow(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)), userId, provider, label, signIn.Start(), time.GetUtcNow() + Lifetime);
        _flows[flow.Id] = flow;
        return flow;
    }

    public Flow? Find(long userId, string provider, string flowId)
        => _flows.TryGetValue(flowId, out var flow) && flow.UserId == userId && flow.Provider == provider && flow.ExpiresAt > time.GetUtcNow() ? flow : null;

    /// <summary>Exchanges the code; the flow is spent whatever the outcome (a code works once).</summary>
    public async Task<AccountSecret> CompleteAsync(Flow flow, string pasted, CancellationToken ct)
    {
        _flows.TryRemove(flow.Id, out _);
        return await For(flow.Provider)!.CompleteAsync(flow.Started, pasted, ct);
    }

    private void Sweep()
    {
        var now = time.GetUtcNow();
        foreach (var (id, flow) in _flows)
            if (flow.ExpiresAt <= now) _flows.TryRemove(id, out _);
    }
}
