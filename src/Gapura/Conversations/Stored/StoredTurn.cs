namespace Gapura.Conversations.Stored;

/// <summary>
/// One kept answer: whose it is, until when, and its payload (the front door's own JSON, opaque to the store).
/// An answer just served builds its payload lazily, on the background writer or on the first follow-up that
/// needs it, so the request that produced it pays for nothing but handing it over.
/// </summary>
internal abstract class StoredTurn(string id, long userId, DateTimeOffset createdAt, DateTimeOffset expiresAt)
{
    private byte[]? _payload;
    private readonly Lock _building = new();

    public string Id { get; } = id;
    public long UserId { get; } = userId;
    public DateTimeOffset CreatedAt { get; } = createdAt;
    public DateTimeOffset ExpiresAt { get; } = expiresAt;

    /// <summary>Set by a delete while the turn may still wait in the write queue: the writer skips it.</summary>
    public volatile bool Deleted;

    /// <summary>The payload as UTF-8 JSON, built once (item ids are assigned when it is built, so it must not change).</summary>
    public byte[] Payload
    {
        get
        {
            if (_payload is { } built) return built;
            lock (_building) return _payload ??= Build();
        }
    }

    /// <summary>Roughly what the turn holds in memory, for the cache's bound.</summary>
    public abstract long Size { get; }

    protected abstract byte[] Build();
}

/// <summary>A turn read back from the database: its payload is already built.</summary>
internal sealed class LoadedTurn(string id, long userId, DateTimeOffset createdAt, DateTimeOffset expiresAt, byte[] payload)
    : StoredTurn(id, userId, createdAt, expiresAt)
{
    public override long Size => payload.Length;

    protected override byte[] Build() => payload;
}
