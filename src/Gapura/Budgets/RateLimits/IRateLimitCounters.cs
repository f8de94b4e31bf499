namespace Gapura.Budgets.RateLimits;

/// <summary>One scope a request is counted in, with that scope's limits (null: not limited in that dimension).</summary>
/// <param name="Scope">The counter's name, <see cref="BudgetScope.Name"/>: <c>user:42</c>, <c>key:7</c>.</param>
internal sealed record RateScopeCharge(string Scope, int? RequestsPerMinute, long? TokensPerMinute, int? ConcurrentRequests)
{
    public static RateScopeCharge Of(ApplicableRateLimit limit)
        => new(limit.Scope.Name, limit.Limit.RequestsPerMinute, limit.Limit.TokensPerMinute, limit.Limit.ConcurrentRequests);
}

/// <summary>
/// One request asking to start: it counts as one request and <paramref name="Tokens"/> (its estimated input) in every
/// scope of <paramref name="Scopes"/>, and holds a lease (id <paramref name="LeaseId"/>) in each scope that limits
/// concurrent requests, until it is released or <paramref name="ExpiresAt"/> passes without a renewal.
/// </summary>
internal sealed record RateAcquire(string LeaseId, string Instance, long Tokens, IReadOnlyList<RateScopeCharge> Scopes, DateTimeOffset Now, DateTimeOffset ExpiresAt);

/// <summary>Which of a rate limit's three numbers refused a request.</summary>
internal enum RateDimension
{
    Requests,
    Tokens,
    Concurrent,
}

/// <summary>Why a request was refused: the scope and limit, and how long until that limit would admit it.</summary>
internal sealed record RateRefusal(string Scope, RateDimension Dimension, long Limit, TimeSpan RetryAfter);

/// <summary>A scope's counts as a decision saw them: the two-minute window (rolled to the decision's minute) and the open leases.</summary>
internal sealed record RateScopeState(string Scope, RateWindow Window, long OpenLeases);

/// <summary>
/// The outcome of <see cref="IRateLimitCounters.AcquireAsync"/>: admitted (counted in every scope) or refused (counted
/// in none). <see cref="States"/> are the scopes' counts before this request, in the order of the request's scopes.
/// </summary>
internal sealed record RateAcquireResult(bool Admitted, RateRefusal? Refusal, IReadOnlyList<RateScopeState> States);

/// <summary>
/// A finished request: its lease leaves <paramref name="LeaseScopes"/>, and its token count in every scope of
/// <paramref name="Scopes"/> is corrected by <paramref name="TokenDelta"/> (real total minus the estimate charged at
/// acquire): a refund comes off the minute it was charged in (<paramref name="AcquiredMinute"/>, while still in the
/// window), extra use joins the current minute.
/// </summary>
internal sealed record RateRelease(string LeaseId, IReadOnlyList<string> Scopes, IReadOnlyList<string> LeaseScopes, long AcquiredMinute, long TokenDelta);

/// <summary>An open lease as its instance renews it.</summary>
internal sealed record RateLeaseRef(string LeaseId, IReadOnlyList<string> Scopes);

/// <summary>
/// Rate-limit counters shared by every instance: in the database (SQLite, PostgreSQL) or in Redis when
/// <c>ConnectionStrings:Redis</c> is set. Requests and tokens per minute are counted over a sliding minute
/// approximated with two one-minute buckets (<see cref="RateWindow"/>); concurrent requests are open leases.
/// Times are the caller's clock (<see cref="RateAcquire.Now"/>), never the store's, so tests can move them.
/// </summary>
internal interface IRateLimitCounters
{
    /// <summary>
    /// Atomically, across instances: checks every limit of every scope — refused when a scope's sliding-minute requests
    /// plus this one exceed its requests per minute, when its sliding-minute tokens have already reached its tokens per
    /// minute, or when its unexpired leases plus this one exceed its concurrent requests — and, only when none refuses,
    /// counts the request and its tokens in every scope and opens its lease in the scopes that limit concurrency.
    /// When several limits refuse, the refusal is the one that lifts last.
    /// </summary>
    Task<RateAcquireResult> AcquireAsync(RateAcquire request, CancellationToken ct);

    /// <summary>Releases finished requests (a batch): their leases close and their token counts are corrected.</summary>
    Task ReleaseAsync(IReadOnlyList<RateRelease> releases, DateTimeOffset now, CancellationToken ct);

    /// <summary>
    /// Keeps the given open leases alive until <paramref name="expiresAt"/>; a lease already closed stays closed.
    /// Returns how many lease entries (one per scope of a lease) were renewed.
    /// </summary>
    Task<int> RenewAsync(IReadOnlyList<RateLeaseRef> leases, DateTimeOffset now, DateTimeOffset expiresAt, CancellationToken ct);

    /// <summary>
    /// Removes the leases whose expiry passed (their instance died or lost them). Expired leases never count against a
    /// limit even before this runs; this only tidies up. Returns how many were removed (where the store can tell).
    /// </summary>
    Task<int> ExpireAsync(DateTimeOffset now, CancellationToken ct);

    /// <summary>A scope's counts at <paramref name="now"/> (zero for a scope never counted).</summary>
    Task<RateScopeState> ReadAsync(string scope, DateTimeOffset now, CancellationToken ct);
}
