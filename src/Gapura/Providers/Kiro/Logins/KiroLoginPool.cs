using System.Collections.Frozen;
using System.Globalization;
using Gapura.Providers.Kiro.Auth;
using Gapura.Routing;
using Gapura.Storage;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Kiro.Logins;

/// <summary>
/// Every user's Kiro logins, in memory: loaded once at start (one list and one decrypt per login), then
/// kept current from the change feed — a changed login is re-read alone, a changed user (deleted, whose
/// logins the database removed with it) has their logins re-listed. The request path only reads the
/// immutable per-user arrays here; it never touches the database.
/// </summary>
internal sealed class KiroLoginPool : IStoreChangeListener
{
    public const string Provider = "kiro";

    private readonly Lock _gate = new();
    private Dictionary<long, KiroUserLogin> _byId = [];
    private volatile FrozenDictionary<long, KiroUserLogin[]> _byUser = FrozenDictionary<long, KiroUserLogin[]>.Empty;

    public KiroLoginPool(IGapuraStore store, KiroAuthClient auth, IOptions<KiroOptions> options, TimeProvider time, ILogger<KiroLoginPool> log)
    {
        Store = store;
        Auth = auth;
        Options = options.Value;
        Time = time;
        Log = log;
    }

    internal IGapuraStore Store { get; }
    internal KiroAuthClient Auth { get; }
    internal KiroOptions Options { get; }
    internal TimeProvider Time { get; }
    internal ILogger Log { get; }

    /// <summary>The user's Kiro logins in the order they were connected; empty when none.</summary>
    public IReadOnlyList<KiroUserLogin> ForUser(long userId) => _byUser.GetValueOrDefault(userId, []);

    public KiroUserLogin? Find(long loginId)
    {
        lock (_gate) return _byId.GetValueOrDefault(loginId);
    }

    public IReadOnlyList<KiroUserLogin> All
    {
        get { lock (_gate) return [.. _byId.Values]; }
    }

    public async Task ReloadAllAsync(CancellationToken ct)
    {
        var rows = await Store.UpstreamLogins.ListAsync(provider: Provider, ct: ct);
        var loaded = new List<(UpstreamLogin, KiroCredential, System.Text.Json.Nodes.JsonObject)>(rows.Count);
        foreach (var row in rows)
            if (await ReadAsync(row, ct) is { } login) loaded.Add(login);
        lock (_gate)
        {
            var next = new Dictionary<long, KiroUserLogin>(loaded.Count);
            foreach (var (row, credential, json) in loaded)
            {
                if (_byId.TryGetValue(row.Id, out var existing))
                {
                    existing.Update(row, credential, json);
                    next[row.Id] = existing;
                }
                else next[row.Id] = new KiroUserLogin(this, row, credential, json);
            }
            _byId = next;
            Publish();
        }
        Log.LogDebug("Loaded {Count} users' Kiro logins", loaded.Count);
    }

    public async Task ApplyAsync(IReadOnlyList<Change> changes, CancellationToken ct)
    {
        foreach (var id in changes.Where(c => c.Entity == ChangeEntity.UpstreamLogin).Select(c => ParseId(c.EntityId)).OfType<long>().Distinct())
            await ReloadLoginAsync(id, ct);
        foreach (var userId in changes.Where(c => c.Entity == ChangeEntity.User).Select(c => ParseId(c.EntityId)).OfType<long>().Distinct())
            await ReloadUserAsync(userId, ct);
    }

    /// <summary>Re-reads one login; also what the admin API calls after changing one, so this instance sees it at once.</summary>
    public async Task ReloadLoginAsync(long id, CancellationToken ct)
    {
        var row = await Store.UpstreamLogins.FindAsync(id, ct);
        var loaded = row is not null && row.Provider == Provider ? await ReadAsync(row, ct) : null;
        lock (_gate)
        {
            if (loaded is not { } login) _byId.Remove(id);
            else if (_byId.TryGetValue(id, out var existing)) existing.Update(login.Row, login.Credential, login.Json);
            else _byId[id] = new KiroUserLogin(this, login.Row, login.Credential, login.Json);
            Publish();
        }
    }

    private async Task ReloadUserAsync(long userId, CancellationToken ct)
    {
        var rows = await Store.UpstreamLogins.ListAsync(userId, Provider, ct);
        var keep = rows.Select(r => r.Id).ToHashSet();
        lock (_gate)
        {
            foreach (var gone in _byId.Values.Where(l => l.UserId == userId && !keep.Contains(l.Id)).Select(l => l.Id).ToList()) _byId.Remove(gone);
            Publish();
        }
        foreach (var row in rows) await ReloadLoginAsync(row.Id, ct);
    }

    private async Task<(UpstreamLogin Row, KiroCredential Credential, System.Text.Json.Nodes.JsonObject Json)?> ReadAsync(UpstreamLogin row, CancellationToken ct)
    {
        try
        {
            var (credential, json) = KiroLoginSecret.Parse(row.Id, await Store.UpstreamLogins.ReadSecretAsync(row.Id, ct));
            return (row, credential, json);
        }
        catch (Exception e) when (e is InvalidDataException or Secrets.SecretDecryptionException or UpstreamLoginNotFoundException)
        {
            // One unreadable login (tampered, or written by something else) must not stop everybody else's.
            Log.LogError("Kiro login #{Id} of user {UserId} cannot be read and is skipped: {Error}", row.Id, row.UserId, e.Message);
            return null;
        }
    }

    private void Publish()
        => _byUser = _byId.Values.GroupBy(l => l.UserId)
            .ToFrozenDictionary(g => g.Key, g => g.OrderBy(l => l.Id).ToArray());

    private static long? ParseId(string text) => long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : null;
}
