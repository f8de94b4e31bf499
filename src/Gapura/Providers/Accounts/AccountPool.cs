using System.Collections.Frozen;
using System.Globalization;
using Gapura.Providers.Kiro.Logins;
using Gapura.Routing;
using Gapura.Storage;

namespace Gapura.Providers.Accounts;

/// <summary>
/// Every user's upstream accounts for the providers other than Kiro (whose logins <see cref="KiroLoginPool"/>
/// keeps), in memory: loaded once at start, then kept current from the change feed. The request path reads
/// only the immutable per-user arrays here; it never touches the database.
/// </summary>
internal sealed class AccountPool(IGapuraStore store, IEnumerable<IAccountRefresher> refreshers, TimeProvider time, ILogger<AccountPool> log) : IStoreChangeListener
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, IAccountRefresher> _refreshers = refreshers.ToDictionary(r => r.Provider, StringComparer.OrdinalIgnoreCase);
    private Dictionary<long, UserAccount> _byId = [];
    private volatile FrozenDictionary<(long, string), UserAccount[]> _byUser = FrozenDictionary<(long, string), UserAccount[]>.Empty;

    internal IGapuraStore Store { get; } = store;
    internal TimeProvider Time { get; } = time;
    internal ILogger Log { get; } = log;

    internal IAccountRefresher? RefresherFor(string provider) => _refreshers.GetValueOrDefault(provider);

    /// <summary>The user's accounts at <paramref name="provider"/> in the order they were connected; empty when none.</summary>
    public IReadOnlyList<UserAccount> ForUser(long userId, string provider) => _byUser.GetValueOrDefault((userId, provider), []);

    public UserAccount? Find(long loginId)
    {
        lock (_gate) return _byId.GetValueOrDefault(loginId);
    }

    /// <summary>Every account held, for the metrics' login states (read when scraped, not per request).</summary>
    public IReadOnlyList<UserAccount> All
    {
        get { lock (_gate) return [.. _byId.Values]; }
    }

    /// <summary>Any alive account of the provider: what reads a provider's model list when the gateway has no account of its own.</summary>
    public UserAccount? AnyAlive(string provider)
    {
        lock (_gate) return _byId.Values.Where(a => a.Provider == provider && !a.IsDead).MinBy(a => a.Id);
    }

    /// <summary>Whether anybody has an account at the provider (alive or not).</summary>
    public bool AnyFor(string provider)
    {
        foreach (var key in _byUser.Keys)
            if (key.Item2 == provider) return true;
        return false;
    }

    public async Task ReloadAllAsync(CancellationToken ct)
    {
        var rows = await Store.UpstreamLogins.ListAsync(ct: ct);
        var loaded = new List<(UpstreamLogin, AccountSecret)>(rows.Count);
        foreach (var row in rows)
            if (row.Provider != KiroLoginPool.Provider && await ReadAsync(row, ct) is { } account) loaded.Add(account);
        lock (_gate)
        {
            var next = new Dictionary<long, UserAccount>(loaded.Count);
            foreach (var (row, secret) in loaded)
            {
                if (_byId.TryGetValue(row.Id, out var existing))
                {
                    existing.Update(row, secret);
                    next[row.Id] = existing;
                }
                else next[row.Id] = new UserAccount(this, row, secret);
            }
            _byId = next;
            Publish();
        }
    }

    public async Task ApplyAsync(IReadOnlyList<Change> changes, CancellationToken ct)
    {
        foreach (var id in changes.Where(c => c.Entity == ChangeEntity.UpstreamLogin).Select(c => ParseId(c.EntityId)).OfType<long>().Distinct())
            await ReloadLoginAsync(id, ct);
        if (changes.Any(c => c.Entity == ChangeEntity.User))
        {
            // A deleted user's logins went with them (the database cascades); re-listing is cheap and rare.
            await ReloadAllAsync(ct);
        }
    }

    /// <summary>Re-reads one login; also what the admin API calls after a change, so this instance sees it at once.</summary>
    public async Task ReloadLoginAsync(long id, CancellationToken ct)
    {
        var row = await Store.UpstreamLogins.FindAsync(id, ct);
        var loaded = row is not null && row.Provider != KiroLoginPool.Provider ? await ReadAsync(row, ct) : null;
        lock (_gate)
        {
            if (loaded is not { } account) _byId.Remove(id);
            else if (_byId.TryGetValue(id, out var existing)) existing.Update(account.Row, account.Secret);
            else _byId[id] = new UserAccount(this, account.Row, account.Secret);
            Publish();
        }
    }

    private async Task<(UpstreamLogin Row, AccountSecret Secret)?> ReadAsync(UpstreamLogin row, CancellationToken ct)
    {
        try
        {
            return (row, AccountSecret.Parse(await Store.UpstreamLogins.ReadSecretAsync(row.Id, ct)));
        }
        catch (Exception e) when (e is InvalidDataException or Secrets.SecretDecryptionException or UpstreamLoginNotFoundException)
        {
            // One unreadable login must not stop everybody else's.
            Log.LogError("{Provider} login #{Id} of user {UserId} cannot be read and is skipped: {Error}", row.Provider, row.Id, row.UserId, e.Message);
            return null;
        }
    }

    private void Publish()
        => _byUser = _byId.Values.GroupBy(a => (a.UserId, a.Provider))
            .ToFrozenDictionary(g => g.Key, g => g.OrderBy(a => a.Id).ToArray());

    private static long? ParseId(string text) => long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : null;
}
