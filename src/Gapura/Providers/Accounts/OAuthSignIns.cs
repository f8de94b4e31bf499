using System.Text.Json;
using System.Text.Json.Serialization;
using Gapura.Conversations;
using Gapura.Storage.Shared;

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
/// Sign-ins started from the admin API and waiting for the user to bring the code back, for ten minutes. They are kept in
/// the shared store (<see cref="SignInFlowStore"/>), the PKCE verifier sealed, so the code may be brought to any instance;
/// the verifier never leaves the gateway. A flow belongs to the user it was started for, and is spent by its first completion.
/// </summary>
internal sealed class SignInFlows(IEnumerable<OAuthSignIn> signIns, SignInFlowStore flows)
{
    public const int MaxFlowsPerUser = 5;

    private static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);

    private readonly Dictionary<string, OAuthSignIn> _byProvider = signIns.ToDictionary(s => s.Provider, StringComparer.OrdinalIgnoreCase);

    internal sealed record Flow(string Id, long UserId, string Provider, string? Label, OAuthSignInStart Started, DateTimeOffset ExpiresAt);

    public IReadOnlyCollection<string> Providers => _byProvider.Keys;

    public OAuthSignIn? For(string provider) => _byProvider.GetValueOrDefault(provider);

    /// <exception cref="GatewayException">RateLimited when the user already has <see cref="MaxFlowsPerUser"/> sign-ins of this provider waiting.</exception>
    public async Task<Flow> StartAsync(long userId, string provider, string? label, CancellationToken ct)
    {
        var signIn = For(provider) ?? throw GatewayException.BadRequest($"{provider} has no sign-in; connect it with a key instead.");
        var now = flows.Time.GetUtcNow();
        var flow = new Flow(SignInFlowStore.NewId(), userId, provider, label, signIn.Start(), now + Lifetime);
        if (!await flows.AddAsync(flow.Id, Kind(provider), userId, label, flow.Started, OAuthSignInJson.Default.OAuthSignInStart, flow.ExpiresAt, now, TimeSpan.Zero,
                MaxFlowsPerUser, ct))
            throw new GatewayException(ErrorKind.RateLimited, $"There are already {MaxFlowsPerUser} {provider} sign-ins waiting for this user; finish or let them expire first.");
        return flow;
    }

    /// <summary>The user's waiting sign-in, whichever instance started it; null when it is another user's, finished or expired.</summary>
    public async Task<Flow?> FindAsync(long userId, string provider, string flowId, CancellationToken ct)
        => For(provider) is not null && await flows.FindAsync(flowId, Kind(provider), userId, OAuthSignInJson.Default.OAuthSignInStart, ct) is var (row, started)
            ? new Flow(row.Id, row.UserId, provider, row.Label, started, row.ExpiresAt)
            : null;

    /// <summary>Exchanges the code; the flow is spent whatever the outcome (a code works once).</summary>
    /// <exception cref="GatewayException">InvalidRequest when another completion already spent the flow.</exception>
    public async Task<AccountSecret> CompleteAsync(Flow flow, string pasted, CancellationToken ct)
    {
        // Taken from the store first: of two completions racing on two instances, one exchanges and the other is told.
        if (!await flows.RemoveAsync(flow.Id, ct))
            throw GatewayException.BadRequest("This sign-in was already completed or has expired; start again.");
        return await For(flow.Provider)!.CompleteAsync(flow.Started, pasted, ct);
    }

    private static string Kind(string provider) => "oauth:" + provider.ToLowerInvariant();
}

/// <summary>How a waiting OAuth sign-in (its PKCE verifier and state) is kept, sealed, in the shared store.</summary>
[JsonSerializable(typeof(OAuthSignInStart))]
internal sealed partial class OAuthSignInJson : JsonSerializerContext;
