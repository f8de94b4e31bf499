using System.ComponentModel.DataAnnotations;

namespace Gapura.Budgets.RateLimits;

/// <summary>
/// The <c>RateLimits</c> section's own setting (the limits themselves, <c>RateLimits:User:Default</c> and
/// <c>RateLimits:Key:Default</c>, are read by <see cref="BudgetConfigSource"/>).
/// </summary>
internal sealed class RateLimitOptions
{
    public const string Section = "RateLimits";

    /// <summary>
    /// How long a running request's concurrency lease outlives its instance: the instance renews its open leases every
    /// quarter of this, and the leases of an instance that died stop counting this long after its last renewal.
    /// </summary>
    [Range(MinLeaseSeconds, MaxLeaseSeconds)]
    public int LeaseSeconds { get; set; } = 120;

    public const int MinLeaseSeconds = 10;
    public const int MaxLeaseSeconds = 3600;
}
