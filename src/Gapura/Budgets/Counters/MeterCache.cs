using System.Collections.Concurrent;

namespace Gapura.Budgets.Counters;

/// <summary>
/// The last counts this instance saw of each meter: from its own settlements (which return the shared counts, every
/// instance's use included), its reservations, and a fresh read once an entry is older than <see cref="MaxAge"/>.
/// Budgets that never refuse (<c>notify</c>, <c>restrict</c>) decide from here, so their requests almost never touch the
/// database on the way in; they see another instance's use (or an admin's reset) at most a few seconds late. A
/// <c>pause</c> budget never does: its reservation reads the counts under lock.
/// </summary>
internal sealed class MeterCache(IBudgetCounters counters)
{
    private const int MaxMeters = 100_000;

    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<MeterKey, (MeterState State, long At)> _states = new();

    /// <summary>The meters' counts: as last seen when recent enough, else read now (one query for all that are not).</summary>
    public async ValueTask<IReadOnlyList<MeterState>> GetAsync(IReadOnlyList<MeterKey> keys, CancellationToken ct)
    {
        var now = Environment.TickCount64;
        var found = new MeterState[keys.Count];
        List<MeterKey>? stale = null;
        for (var i = 0; i < keys.Count; i++)
            if (_states.TryGetValue(keys[i], out var entry) && now - entry.At < (long)MaxAge.TotalMilliseconds) found[i] = entry.State;
            else (stale ??= []).Add(keys[i]);
        if (stale is null) return found;
        var read = await counters.ReadAsync(stale, ct);
        Update(read);
        foreach (var state in read) found[IndexOf(keys, state.Key)] = state;
        return found;
    }

    public void Update(IReadOnlyList<MeterState> states)
    {
        // Old windows' meters are never asked for again: past the bound, start over rather than track their age.
        if (_states.Count > MaxMeters) _states.Clear();
        var now = Environment.TickCount64;
        foreach (var s in states) _states[s.Key] = (s, now);
    }

    private static int IndexOf(IReadOnlyList<MeterKey> keys, MeterKey key)
    {
        for (var i = 0; i < keys.Count; i++) if (keys[i] == key) return i;
        throw new InvalidOperationException($"The counters answered for meter {key}, which was not asked for.");
    }
}
