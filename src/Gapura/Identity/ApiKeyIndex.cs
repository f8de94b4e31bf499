using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text;
using Gapura.Storage;

namespace Gapura.Identity;

/// <summary>
/// Every usable API key, by hash, in memory: authentication on the request path is a hash and a lookup,
/// never a database round trip. The whole index is replaced atomically by <see cref="IdentitySync"/>
/// whenever the database's change counter moves.
/// </summary>
internal sealed class ApiKeyIndex
{
    /// <summary>An indexed key; the <see cref="Caller"/> is built once here, not per request.</summary>
    internal sealed record Entry(Caller Caller, DateTimeOffset? ExpiresAt);

    private volatile Snapshot _snapshot = new(FrozenDictionary<string, Entry>.Empty, -1);

    public long Version => _snapshot.Version;

    public int Count => _snapshot.ByHash.Count;

    /// <param name="bootstrapHash">Hash of the configured <c>Gateway:ApiKey</c>; it belongs to the first enabled admin.</param>
    public void Replace(IReadOnlyList<ActiveApiKey> keys, string? bootstrapHash, User? bootstrapOwner, long version)
    {
        var map = new Dictionary<string, Entry>(keys.Count + 1, StringComparer.Ordinal);
        foreach (var k in keys)
            map[k.Key.Hash] = new Entry(new Caller(k.Key.UserId, k.OwnerEmail, k.OwnerRole, k.Key.Id, k.Key.Prefix), k.Key.ExpiresAt);
        if (bootstrapHash is not null && bootstrapOwner is not null)
            map[bootstrapHash] = new Entry(new Caller(bootstrapOwner.Id, bootstrapOwner.Email, bootstrapOwner.Role, null, "bootstrap"), null);
        _snapshot = new Snapshot(map.ToFrozenDictionary(StringComparer.Ordinal), version,
            bootstrapOwner is null ? bootstrapHash : null);
    }

    /// <summary>
    /// Finds a presented key without allocating: SHA-256 into a stack buffer, hex into another, and a
    /// span lookup. Looking up by hash leaks nothing useful through timing: an attacker cannot choose the
    /// hash of what they send.
    /// </summary>
    public Entry? Find(ReadOnlySpan<char> presentedKey)
    {
        if (presentedKey.IsEmpty || presentedKey.Length > 512) return null;
        Span<byte> utf8 = stackalloc byte[Encoding.UTF8.GetMaxByteCount(presentedKey.Length)];
        var length = Encoding.UTF8.GetBytes(presentedKey, utf8);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(utf8[..length], hash);
        Span<char> hex = stackalloc char[SHA256.HashSizeInBytes * 2];
        Convert.TryToHexStringLower(hash, hex, out _);
        return _snapshot.Lookup.TryGetValue(hex, out var entry) ? entry : null;
    }

    /// <summary>
    /// True for the bootstrap key while no enabled admin exists to own it (a fresh install): the caller then
    /// deserves "finish set-up", not a bare "invalid key".
    /// </summary>
    public bool IsOwnerlessBootstrapKey(string presentedKey)
        => _snapshot.OwnerlessBootstrapHash is { } hash && ApiKeys.Hash(presentedKey) == hash;

    private sealed class Snapshot(FrozenDictionary<string, Entry> byHash, long version, string? ownerlessBootstrapHash = null)
    {
        public string? OwnerlessBootstrapHash { get; } = ownerlessBootstrapHash;
        public FrozenDictionary<string, Entry> ByHash { get; } = byHash;
        public FrozenDictionary<string, Entry>.AlternateLookup<ReadOnlySpan<char>> Lookup { get; } = byHash.GetAlternateLookup<ReadOnlySpan<char>>();
        public long Version { get; } = version;
    }
}
