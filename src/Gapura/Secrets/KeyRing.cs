namespace Gapura.Secrets;

/// <summary>
/// The key that seals new values plus older keys that may still open stored ones. Rotation without
/// downtime: give every instance the new key as current and the old one as previous, re-encrypt
/// (<see cref="SecretRotation"/>), then drop the old key.
/// </summary>
internal sealed class KeyRing
{
    private readonly Dictionary<string, SecretKey> _byId = new(StringComparer.Ordinal);

    public KeyRing(SecretKey current, IEnumerable<SecretKey>? previous = null)
    {
        Current = current;
        _byId[current.Id] = current;
        var older = new List<SecretKey>();
        foreach (var key in previous ?? [])
        {
            if (_byId.TryAdd(key.Id, key)) older.Add(key);
        }
        Previous = older;
    }

    public SecretKey Current { get; }

    public IReadOnlyList<SecretKey> Previous { get; }

    public IEnumerable<string> Ids => _byId.Keys;

    public bool Contains(string keyId) => _byId.ContainsKey(keyId);

    public SecretKey? Find(string keyId) => _byId.GetValueOrDefault(keyId);

    public override string ToString()
        => Previous.Count == 0 ? $"current {Current.Id}" : $"current {Current.Id}, previous {string.Join(", ", Previous.Select(k => k.Id))}";
}
