using System.Runtime.CompilerServices;
using Gapura.Conversations;

namespace Gapura.Routing;

/// <summary>
/// Accounts that just failed a request because they are throttled or out of quota rest for
/// the upstream's <c>Retry-After</c> (30 s when it gave none): meanwhile the caller's other accounts are tried
/// first, and the resting one last rather than never. Held per account object, so an account that is
/// removed or reloaded takes its cooldown with it; nothing here is read from the database.
/// </summary>
internal sealed class LoginCooldowns(TimeProvider time)
{
    private static readonly TimeSpan DefaultRest = TimeSpan.FromSeconds(30);

    private readonly ConditionalWeakTable<object, StrongBox<DateTimeOffset>> _until = new();

    /// <summary>When the latest rest ends: past it nothing rests, and ordering costs one comparison.</summary>
    private long _latestTicks;

    public void CoolDown(object login, GatewayException error)
    {
        var until = time.GetUtcNow() + (error.RetryAfter ?? DefaultRest);
        _until.AddOrUpdate(login, new StrongBox<DateTimeOffset>(until));
        long seen;
        while ((seen = Interlocked.Read(ref _latestTicks)) < until.UtcTicks && Interlocked.CompareExchange(ref _latestTicks, until.UtcTicks, seen) != seen) { }
    }

    public bool IsResting(object login)
        => _until.TryGetValue(login, out var until) && until.Value > time.GetUtcNow();

    /// <summary>The candidates with resting accounts moved behind the others, each group in its own order.</summary>
    public IReadOnlyList<LoginCandidate<T>> Order<T>(IReadOnlyList<LoginCandidate<T>> candidates) where T : class
    {
        if (candidates.Count < 2 || Interlocked.Read(ref _latestTicks) <= time.GetUtcNow().UtcTicks) return candidates;
        var resting = 0;
        foreach (var c in candidates) if (IsResting(c.Login)) resting++;
        if (resting == 0 || resting == candidates.Count) return candidates;
        return [.. candidates.Where(c => !IsResting(c.Login)), .. candidates.Where(c => IsResting(c.Login))];
    }
}
