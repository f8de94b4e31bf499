namespace Gapura.Budgets.Counters;

/// <summary>
/// One meter a request is charged to, with the limits that refuse it: set only for a <c>pause</c> window (the other
/// actions never refuse), null for a quantity that window does not limit.
/// </summary>
internal sealed record MeterCharge(MeterKey Key, long? MaxInput, long? MaxOutput, double? MaxCost)
{
    public double? MaxOf(BudgetQuantity q) => q switch { BudgetQuantity.Input => MaxInput, BudgetQuantity.Output => MaxOutput, _ => MaxCost };

    public bool IsHard => MaxInput is not null || MaxOutput is not null || MaxCost is not null;
}

/// <summary>
/// A request's reservation: its worst case (<paramref name="Amount"/>: estimated input tokens, its output cap, their
/// price), charged to every meter in <paramref name="Meters"/> at once. <paramref name="Instance"/> renews it while
/// it runs; once <paramref name="ExpiresAt"/> passes without renewal (the instance died) it is released.
/// </summary>
internal sealed record Reservation(string Id, string Instance, BudgetAmounts Amount, IReadOnlyList<MeterCharge> Meters, DateTimeOffset Now, DateTimeOffset ExpiresAt);

/// <summary>A meter's counts: settled use and the reservations still open against it.</summary>
internal sealed record MeterState(MeterKey Key, BudgetAmounts Used, BudgetAmounts Reserved, int AlertedBits)
{
    public bool Alerted(BudgetQuantity q) => (AlertedBits & q.Bit()) != 0;
}

/// <summary>A standing pause of one scope's window (<c>daily</c>/<c>monthly</c>): until a reset, or until <see cref="Until"/>.</summary>
internal sealed record BudgetPause(string Scope, BudgetPeriod Period, DateTimeOffset Since, DateTimeOffset? Until, string Reason);

/// <summary>Why a reservation was refused: the meter and quantity, and whether a standing pause (rather than a lack of room) did it.</summary>
internal sealed record MeterRefusal(MeterKey Key, BudgetQuantity Quantity, BudgetPause? Pause);

/// <summary>
/// The outcome of <see cref="IBudgetCounters.ReserveAsync"/>: admitted (and reserved on every meter) or refused (and
/// reserved on none). <see cref="Meters"/> holds every meter's counts as the decision saw them, this reservation
/// included when admitted.
/// </summary>
internal sealed record ReserveResult(bool Admitted, IReadOnlyList<MeterState> Meters, MeterRefusal? Refusal);

/// <summary>A finished request's real use, moving its reservation (if still open) into the meters' used counts.</summary>
internal sealed record Settlement(string ReservationId, BudgetAmounts Actual, IReadOnlyList<MeterKey> Meters);

/// <summary>
/// Budget counters shared by every instance: in the database (SQLite, PostgreSQL) or in Redis when
/// <c>ConnectionStrings:Redis</c> is set. Every method is atomic across instances: two instances can never both spend
/// the last tokens of a <c>pause</c> window.
/// </summary>
internal interface IBudgetCounters
{
    /// <summary>
    /// Atomically: refuses when any meter's scope and period has a standing pause (<see cref="BudgetPause.Until"/> null or
    /// after <see cref="Reservation.Now"/>), or when for any meter with a limit, used + reserved + the amount would exceed
    /// it; otherwise adds the amount to every meter's reserved counts and records the reservation. Meters that do not
    /// exist yet start at zero.
    /// </summary>
    Task<ReserveResult> ReserveAsync(Reservation reservation, CancellationToken ct);

    /// <summary>
    /// Settles finished requests (a batch, in one round trip where the store can): each open reservation leaves its
    /// meters' reserved counts and its real use joins their used counts; a reservation already released (expired) adds
    /// only the use. Returns the meters' counts afterwards.
    /// </summary>
    Task<IReadOnlyList<MeterState>> SettleAsync(IReadOnlyList<Settlement> settlements, CancellationToken ct);

    /// <summary>Keeps the open reservations of <paramref name="instance"/> alive until <paramref name="expiresAt"/>.</summary>
    Task<int> RenewAsync(string instance, DateTimeOffset expiresAt, CancellationToken ct);

    /// <summary>Releases the reservations whose expiry passed (their instance died): their reserved counts are returned.</summary>
    Task<int> ExpireAsync(DateTimeOffset now, CancellationToken ct);

    /// <summary>The counts of the given meters (zero for a meter never charged).</summary>
    Task<IReadOnlyList<MeterState>> ReadAsync(IReadOnlyList<MeterKey> keys, CancellationToken ct);

    /// <summary>
    /// Marks a quantity of a meter as alerted; true only for the one call (across every instance) that marked it first,
    /// so each window alerts once.
    /// </summary>
    Task<bool> TryMarkAlertedAsync(MeterKey key, BudgetQuantity quantity, CancellationToken ct);

    /// <summary>Starts a pause of one scope's window, unless one stands already; true when this call started it.</summary>
    Task<bool> PauseAsync(BudgetPause pause, CancellationToken ct);

    /// <summary>The standing pauses of a scope (all scopes when null), including those whose <see cref="BudgetPause.Until"/> passed.</summary>
    Task<IReadOnlyList<BudgetPause>> PausesAsync(string? scope, CancellationToken ct);

    /// <summary>
    /// A manual reset of one scope: lifts its pauses and starts the given (current) windows' counts again from zero —
    /// used and alerts; open reservations stay, as those requests are still running. The usage ledger keeps the history.
    /// </summary>
    Task ResetAsync(string scope, IReadOnlyList<MeterKey> current, CancellationToken ct);
}
