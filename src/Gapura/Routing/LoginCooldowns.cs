using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.Channels;
using Gapura.Conversations;
using Gapura.Storage.Shared;

namespace Gapura.Routing;

/// <summary>A stored upstream login (a user's account): its database id names it on every instance.</summary>
internal interface IStoredUpstreamLogin
{
    long Id { get; }
}

/// <summary>
/// What rests, by a name every instance shares: one login of a provider (<see cref="Login"/> its database id, or
/// <see cref="ProcessLogin"/> for the gateway's own login of that provider), or the provider as a whole
/// (<see cref="WholeProvider"/>). A struct, so looking one up on the request path allocates nothing.
/// </summary>
internal readonly record struct RestKey(string Provider, long Login)
{
    public const long ProcessLogin = 0;
    public const long WholeProvider = -1;

    public static readonly IEqualityComparer<RestKey> Comparer = new IgnoreCase();

    public static RestKey ForProvider(string provider) => new(provider, WholeProvider);

    /// <summary>A user's stored login by its id; the gateway's own login (the shared candidate) as the provider's process login.</summary>
    public static RestKey For<T>(string provider, LoginCandidate<T> candidate)
        => new(provider, candidate.Login is IStoredUpstreamLogin stored && !candidate.Shared ? stored.Id : ProcessLogin);

    /// <summary>The name in the shared store: <c>provider:kiro</c>, <c>login:kiro:process</c>, <c>login:anthropic:42</c>.</summary>
    public override string ToString() => Login switch
    {
        WholeProvider => "provider:" + Provider.ToLowerInvariant(),
        ProcessLogin => "login:" + Provider.ToLowerInvariant() + ":process",
        _ => "login:" + Provider.ToLowerInvariant() + ":" + Login.ToString(CultureInfo.InvariantCulture),
    };

    public static RestKey? Parse(string name)
    {
        if (name.StartsWith("provider:", StringComparison.Ordinal)) return ForProvider(name["provider:".Length..]);
        if (!name.StartsWith("login:", StringComparison.Ordinal)) return null;
        var last = name.LastIndexOf(':');
        if (last <= "login:".Length) return null;
        var provider = name["login:".Length..last];
        var login = name[(last + 1)..];
        if (login == "process") return new RestKey(provider, ProcessLogin);
        return long.TryParse(login, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0 ? new RestKey(provider, id) : null;
    }

    private sealed class IgnoreCase : IEqualityComparer<RestKey>
    {
        public bool Equals(RestKey x, RestKey y) => x.Login == y.Login && string.Equals(x.Provider, y.Provider, StringComparison.OrdinalIgnoreCase);

        public int GetHashCode(RestKey key) => HashCode.Combine(StringComparer.OrdinalIgnoreCase.GetHashCode(key.Provider), key.Login);
    }
}

/// <summary>
/// Accounts that just failed a request because they are throttled or out of quota rest for the upstream's
/// <c>Retry-After</c> (30 s when it gave none): meanwhile the caller's other accounts are tried first, and the resting one
/// last rather than never. Providers rest the same way in <see cref="Providers.ProviderChain"/>. Rests are keyed by a name
/// every instance shares (<see cref="RestKey"/>): a rest starts here at once, is written to the shared store in the
/// background, and the rests of other instances are merged in by <see cref="CooldownSync"/> — so every instance rests
/// a throttled account within <c>Routing:SyncSeconds</c>. The request path only reads memory: when nothing rests anywhere
/// ordering costs one comparison.
/// </summary>
internal sealed class LoginCooldowns(TimeProvider time)
{
    private static readonly TimeSpan DefaultRest = TimeSpan.FromSeconds(30);

    /// <summary>Rests not yet written to the shared store; bounded, as a store that is down must not grow memory.</summary>
    private readonly Channel<SharedRest> _unshared = Channel.CreateBounded<SharedRest>(
        new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

    private readonly ConcurrentDictionary<RestKey, long> _untilTicks = new(RestKey.Comparer);

    /// <summary>When the latest rest ends: past it nothing rests, and ordering costs one comparison.</summary>
    private long _latestTicks;

    /// <summary>Rests started on this instance, waiting for <see cref="CooldownSync"/> to share them.</summary>
    internal ChannelReader<SharedRest> Unshared => _unshared.Reader;

    public void CoolDown<T>(string provider, LoginCandidate<T> candidate, GatewayException error) => Rest(RestKey.For(provider, candidate), error);

    public void CoolDownProvider(string provider, GatewayException error) => Rest(RestKey.ForProvider(provider), error);

    private void Rest(RestKey key, GatewayException error)
    {
        var until = time.GetUtcNow() + (error.RetryAfter ?? DefaultRest);
        Extend(key, until.UtcTicks);
        _unshared.Writer.TryWrite(new SharedRest(key.ToString(), until));
    }

    /// <summary>Takes in rests seen by the shared store (other instances' among them); a longer local rest stands.</summary>
    internal void Merge(IEnumerable<SharedRest> rests)
    {
        var now = time.GetUtcNow().UtcTicks;
        foreach (var rest in rests)
            if (RestKey.Parse(rest.Key) is { } key && rest.Until.UtcTicks > now) Extend(key, rest.Until.UtcTicks);
        // Rests that ended are dropped, so the table holds only what rests now.
        foreach (var (key, until) in _untilTicks)
            if (until <= now) _untilTicks.TryRemove(new KeyValuePair<RestKey, long>(key, until));
    }

    private void Extend(RestKey key, long untilTicks)
    {
        _untilTicks.AddOrUpdate(key, untilTicks, (_, current) => Math.Max(current, untilTicks));
        long seen;
        while ((seen = Interlocked.Read(ref _latestTicks)) < untilTicks && Interlocked.CompareExchange(ref _latestTicks, untilTicks, seen) != seen) { }
    }

    public bool IsResting(string provider, long loginId) => IsResting(new RestKey(provider, loginId));

    public bool IsProviderResting(string provider) => IsResting(RestKey.ForProvider(provider));

    private bool IsResting(RestKey key)
    {
        var now = time.GetUtcNow().UtcTicks;
        return Interlocked.Read(ref _latestTicks) > now && _untilTicks.TryGetValue(key, out var until) && until > now;
    }

    /// <summary>Whether anything rests at all: the request path's one comparison before it looks closer.</summary>
    public bool AnyResting => Interlocked.Read(ref _latestTicks) > time.GetUtcNow().UtcTicks;

    /// <summary>The candidates with resting accounts moved behind the others, each group in its own order.</summary>
    public IReadOnlyList<LoginCandidate<T>> Order<T>(string provider, IReadOnlyList<LoginCandidate<T>> candidates) where T : class
    {
        if (candidates.Count < 2 || !AnyResting) return candidates;
        var resting = 0;
        foreach (var c in candidates) if (IsResting(RestKey.For(provider, c))) resting++;
        if (resting == 0 || resting == candidates.Count) return candidates;
        return [.. candidates.Where(c => !IsResting(RestKey.For(provider, c))), .. candidates.Where(c => IsResting(RestKey.For(provider, c)))];
    }
}
