namespace Gapura.Budgets.RateLimits;

/// <summary>
/// An admitted request's hold on its rate limits. <see cref="Release"/> (once, when the request ends) closes its
/// concurrency leases and corrects its token count with the real total; it only queues the work, never waits.
/// </summary>
internal sealed class RateLease
{
    private readonly RateLimiter? _limiter;
    private int _released;

    /// <summary>Nothing to release: the limits that applied count requests only.</summary>
    internal static readonly RateLease Counted = new(null, "", [], [], 0, 0, correctsTokens: false);

    internal RateLease(RateLimiter? limiter, string id, string[] scopes, string[] leaseScopes, long acquiredMinute, long estimatedTokens, bool correctsTokens)
    {
        _limiter = limiter;
        Id = id;
        Scopes = scopes;
        LeaseScopes = leaseScopes;
        AcquiredMinute = acquiredMinute;
        EstimatedTokens = estimatedTokens;
        CorrectsTokens = correctsTokens;
    }

    public string Id { get; }

    /// <summary>Every scope the request was counted in (<c>user:42</c>, <c>key:7</c>).</summary>
    public IReadOnlyList<string> Scopes { get; }

    /// <summary>The scopes that limit concurrency, where the request holds a lease until released.</summary>
    public IReadOnlyList<string> LeaseScopes { get; }

    public long AcquiredMinute { get; }

    /// <summary>The input tokens charged at acquire.</summary>
    public long EstimatedTokens { get; }

    /// <summary>Whether a scope limits tokens per minute, so the real total must replace the estimate.</summary>
    public bool CorrectsTokens { get; }

    public bool IsReleased => Volatile.Read(ref _released) == 1;

    /// <summary>The request ended having used <paramref name="actualTokens"/> (input + output; 0 when it failed). Repeated calls do nothing.</summary>
    public void Release(long actualTokens)
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) _limiter?.Release(this, actualTokens);
    }
}
