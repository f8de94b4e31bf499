using Gapura.Budgets.Alerts;
using System.Globalization;
using Gapura.Budgets.Counters;
using Gapura.Conversations;
using Gapura.Identity;
using Gapura.Ledger;
using Gapura.Routing;
using Gapura.Storage;
using Microsoft.Extensions.Options;

namespace Gapura.Budgets;

/// <summary>
/// A request admitted under budgets: its reservation, the budget lines as the admission saw them, and what they ask of
/// the request — the <c>fast</c> profile (<c>restrict</c>), a note at the end of the answer (<c>notify</c>).
/// </summary>
internal sealed class BudgetAdmission
{
    public required string ReservationId { get; init; }
    public required IReadOnlyList<MeterKey> Meters { get; init; }
    public required IReadOnlyList<BudgetLine> Lines { get; init; }

    /// <summary><c>x-gapura-budget</c>, e.g. <c>daily-input=81%; monthly-output=40%</c>.</summary>
    public string? Header { get; init; }

    /// <summary>The <c>restrict</c> line past its threshold, when one is: the request goes to the <c>fast</c> profile.</summary>
    public BudgetLine? RestrictedBy { get; init; }

    /// <summary>The text added at the end of an answer that ends the turn, when a <c>notify</c> budget is past its threshold.</summary>
    public string? Note { get; init; }

    /// <summary>Set when the budget refused the request (429): it is not sent, and the reservation was never made.</summary>
    public GatewayException? Refusal { get; init; }

    /// <summary>Settled once, whatever path the request's end takes.</summary>
    internal int Settled;
}

/// <summary>What the budgets would do to a request (<see cref="BudgetGate.PreviewAsync"/>), with the lines they read.</summary>
internal sealed record BudgetPreview(string Outcome, string? Header, BudgetAmounts WorstCase, IReadOnlyList<BudgetLine> Lines);

/// <summary>
/// The budget stage of a request (between routing and the upstream): reserves the request's worst case against every
/// budget that counts it — estimated input tokens plus its output cap, and their price when a budget limits cost —
/// atomically in the shared counters, so concurrent requests on any number of instances cannot overspend a
/// <c>pause</c> budget. Its answer says whether to restrict, to add a note, or to refuse. When no budget applies (no
/// budgets defined, the common case) it does nothing at all: no allocation, no database.
/// </summary>
internal sealed class BudgetGate(
    BudgetConfigSource source,
    BudgetWindows windows,
    IBudgetCounters counters,
    BudgetSettlements settlements,
    BudgetAnnouncer announcer,
    PriceTable prices,
    IOptions<BudgetOptions> options,
    ILogger<BudgetGate> log)
{
    public const string Header = "x-gapura-budget";

    private readonly BudgetOptions _options = options.Value;

    /// <summary>
    /// Reserves for one routed request, or returns null when no budget applies. A refusal comes back as
    /// <see cref="BudgetAdmission.Refusal"/> (with the lines, for the header), never as a reservation.
    /// </summary>
    /// <exception cref="GatewayException">503 when the counters cannot be reached and <c>Budgets:FailOpen</c> is off.</exception>
    public async ValueTask<BudgetAdmission?> AdmitAsync(Caller? caller, RouteDecision route, int estimatedInputTokens, CancellationToken ct)
    {
        var budgets = source.Current.BudgetsFor(caller);
        if (budgets.Count == 0) return null;

        var now = windows.Now;
        var amount = WorstCase(budgets, route, estimatedInputTokens);
        var charges = BudgetStatus.Charges(budgets, windows, now);
        var reservation = new Reservation(Guid.CreateVersion7(now).ToString("N"), settlements.Instance, amount, charges, now,
            now.AddSeconds(_options.ReservationSeconds));

        // Only a pause window can refuse, so only then is the reservation needed: notify and restrict decide from the
        // counts this instance last saw, and the request touches no database on its way in.
        var hard = false;
        foreach (var c in charges) hard |= c.IsHard;
        ReserveResult result;
        try
        {
            result = hard
                ? await counters.ReserveAsync(reservation, ct)
                : new ReserveResult(true, await settlements.Meters.GetAsync([.. charges.Select(c => c.Key)], ct), null);
        }
        catch (Exception e) when (IsUnreachable(e))
        {
            if (_options.FailOpen || !hard)
            {
                log.LogWarning("Budgets cannot be checked ({Error}); the request goes on unchecked because {Why}", e.Message,
                    hard ? "Budgets:FailOpen is on" : "no pause budget applies to it");
                return null;
            }
            log.LogError("Budgets cannot be checked ({Error}); the request is refused because Budgets:FailOpen is off", e.Message);
            throw new GatewayException(ErrorKind.UpstreamUnavailable,
                "The gateway cannot check your budget right now (its database is unreachable), so the request was not sent; try again shortly.", 503);
        }
        if (hard && result.Admitted) settlements.Meters.Update(result.Meters);

        var pauses = result.Refusal?.Pause is { } standing ? [standing] : Array.Empty<BudgetPause>();
        var lines = BudgetStatus.Lines(budgets, result.Meters, pauses, windows, now);
        var header = BudgetStatus.Header(lines);
        if (!result.Admitted)
        {
            var refusal = result.Refusal!;
            var pause = refusal.Pause ?? await PauseWhenSpentAsync(refusal, result.Meters, budgets, now, caller);
            return new BudgetAdmission
            {
                ReservationId = reservation.Id, Meters = [], Lines = pause is null ? lines : BudgetStatus.Lines(budgets, result.Meters, [pause], windows, now),
                Header = header, Refusal = Refuse(caller, refusal, pause, lines, amount, budgets, now),
            };
        }

        BudgetLine? restrict = null;
        BudgetLine? notify = null;
        foreach (var line in lines)
        {
            if (!line.PastThreshold) continue;
            if (line.Window.Action == BudgetActions.Restrict) { if (restrict is null || line.Share > restrict.Share) restrict = line; }
            else if (line.Window.Action == BudgetActions.Notify && (notify is null || line.Share > notify.Share)) notify = line;
        }
        return new BudgetAdmission
        {
            ReservationId = hard ? reservation.Id : "",
            Meters = [.. charges.Select(c => c.Key)],
            Lines = lines,
            Header = header,
            RestrictedBy = restrict,
            Note = notify is not null && _options.NotifyInChat ? NoteFor(notify) : null,
        };
    }

    /// <summary>
    /// What <see cref="AdmitAsync"/> would decide for this request, without reserving anything: for <c>POST /v1/route</c>.
    /// <c>refused</c> (paused, or no room for its worst case now), <c>restricted</c>, <c>notified</c> or <c>ok</c>; null
    /// when no budget applies.
    /// </summary>
    public async ValueTask<BudgetPreview?> PreviewAsync(Caller? caller, RouteDecision route, int estimatedInputTokens, CancellationToken ct)
    {
        var budgets = source.Current.BudgetsFor(caller);
        if (budgets.Count == 0) return null;
        var now = windows.Now;
        var amount = WorstCase(budgets, route, estimatedInputTokens);
        var charges = BudgetStatus.Charges(budgets, windows, now);
        var meters = await counters.ReadAsync([.. charges.Select(c => c.Key)], ct);
        var pauses = new List<BudgetPause>();
        foreach (var b in budgets) pauses.AddRange(await counters.PausesAsync(b.Scope.Name, ct));
        var lines = BudgetStatus.Lines(budgets, meters, pauses, windows, now);
        var refused = lines.Any(l => l.Pause is not null)
                      || charges.Any(c => c.IsHard && meters.First(m => m.Key == c.Key) is var m
                                          && BudgetQuantities.All.Any(q => c.MaxOf(q) is { } max && m.Used.Of(q) + m.Reserved.Of(q) + amount.Of(q) > max));
        var outcome = refused ? "refused"
            : lines.Any(l => l.PastThreshold && l.Window.Action == BudgetActions.Restrict) ? "restricted"
            : lines.Any(l => l.PastThreshold && l.Window.Action == BudgetActions.Notify) ? "notified"
            : "ok";
        return new BudgetPreview(outcome, BudgetStatus.Header(lines), amount, lines);
    }

    /// <summary>Hands a finished request's real use to the background settlement: never blocks the request.</summary>
    public void Settle(BudgetAdmission admission, Usage? usage, double? costUsd)
    {
        if (admission.Refusal is not null || Interlocked.Exchange(ref admission.Settled, 1) == 1) return;
        var u = usage ?? Usage.Zero;
        // Every input token the model read counts, cached or not: the estimate reserved was the whole prompt too.
        var actual = new BudgetAmounts(u.InputTokens + u.CacheReadTokens + u.CacheWriteTokens, u.OutputTokens, costUsd ?? 0);
        settlements.Enqueue(new Settlement(admission.ReservationId, actual, admission.Meters));
    }

    /// <summary>
    /// What a request may spend at most: its estimated input, its output cap (<c>max_tokens</c>, else the model's maximum
    /// output), and their price when a budget limits cost.
    /// </summary>
    private BudgetAmounts WorstCase(IReadOnlyList<ApplicableBudget> budgets, RouteDecision route, int estimatedInputTokens)
    {
        var served = route.Candidates[0].Model;
        long output = route.Request.MaxTokens ?? served.MaxOutputTokens;
        var cost = LimitsCost(budgets) ? prices.CostOf(served.Provider, served.Id, new Usage(estimatedInputTokens, (int)Math.Min(output, int.MaxValue))) ?? 0 : 0;
        return new BudgetAmounts(estimatedInputTokens, output, cost);
    }

    private static bool LimitsCost(IReadOnlyList<ApplicableBudget> budgets)
    {
        foreach (var b in budgets)
            foreach (var w in b.Budget.Windows)
                if (w.CostUsd is not null) return true;
        return false;
    }

    internal static bool IsUnreachable(Exception e) => e is DatabaseUnavailableException or RedisUnavailableException or System.Data.Common.DbException
        or StackExchange.Redis.RedisException or TimeoutException;

    /// <summary>
    /// The 429 in the caller's format: which budget, what was used, and how it is lifted. A standing pause or a budget
    /// used up is final until a reset (or the next window), so clients are told not to retry (<c>x-should-retry</c>).
    /// </summary>
    /// <summary>
    /// A <c>pause</c> window that cannot admit this request while nothing else is running against it has reached its
    /// limit (for the requests this caller sends): it pauses — until a reset, or the window's end with
    /// <c>resumeAtPeriodEnd</c> — rather than refusing request by request and quietly resuming at midnight. While other
    /// requests hold reservations it does not: they may finish under their worst case and leave room.
    /// </summary>
    private async Task<BudgetPause?> PauseWhenSpentAsync(MeterRefusal refusal, IReadOnlyList<MeterState> meters, IReadOnlyList<ApplicableBudget> budgets, DateTimeOffset now, Caller? caller)
    {
        var state = meters.First(m => m.Key == refusal.Key);
        if (state.Reserved.Of(refusal.Quantity) > 0) return null;
        var budget = budgets.First(b => b.Scope.Name == refusal.Key.Scope);
        var window = budget.Budget.Of(refusal.Key.Period)!;
        var q = refusal.Quantity;
        var end = windows.Of(window.Period, now).End;
        var pause = new BudgetPause(refusal.Key.Scope, window.Period, now, window.ResumeAtPeriodEnd ? end : null,
            $"{window.PeriodName} {q.Name()} limit reached: {BudgetStatus.Amount(q, state.Used.Of(q))} of {BudgetStatus.Amount(q, window.LimitOf(q) ?? 0)}");
        try
        {
            if (await counters.PauseAsync(pause, CancellationToken.None))
                announcer.Announce(BudgetAlertKinds.Paused, budget.Scope, window, q, state.Used.Of(q), window.LimitOf(q) ?? 0, end, now,
                    budget.Scope.Kind != ScopeKind.Gateway ? caller?.Email : null, budget.Scope.Kind == ScopeKind.Key ? caller?.KeyPrefix : null);
        }
        catch (Exception e) when (IsUnreachable(e))
        {
            log.LogWarning("Budget {Scope} {Window}: the pause could not be recorded ({Error}); requests are still refused while it has no room", budget.Scope.Name, window.PeriodName, e.Message);
        }
        return pause;
    }

    /// <summary>
    /// The 429 in the caller's format: which budget, what was used, and how it is lifted. A pause is final until a reset
    /// (or the next window), so clients are told not to retry (<c>x-should-retry: false</c>); a refusal while running
    /// requests hold the room is worth a retry in a moment.
    /// </summary>
    private GatewayException Refuse(Caller? caller, MeterRefusal refusal, BudgetPause? pause, IReadOnlyList<BudgetLine> lines, BudgetAmounts amount,
        IReadOnlyList<ApplicableBudget> budgets, DateTimeOffset now)
    {
        var budget = budgets.First(b => b.Scope.Name == refusal.Key.Scope);
        var window = budget.Budget.Of(refusal.Key.Period)!;
        var q = refusal.Quantity;
        var line = lines.FirstOrDefault(l => l.Meter == refusal.Key && l.Quantity == q) ?? lines.First(l => l.Meter == refusal.Key);
        var who = Who(budget.Scope, caller);
        var lift = $"An admin lifts it with `gapura budgets reset {ResetFlag(budget.Scope, caller)}`";
        var end = window.ResumeAtPeriodEnd ? $", or it lifts by itself when the window ends ({WhenText(line.WindowEnd)})" : "";
        var need = q == BudgetQuantity.Output ? $"{BudgetStatus.Amount(q, amount.Of(q))} (its max_tokens)" : BudgetStatus.Amount(q, amount.Of(q));
        if (pause is not null)
        {
            var what = refusal.Pause is not null
                ? $"the {window.PeriodName} budget of {who} is paused since {WhenText(pause.Since)} ({pause.Reason})"
                : $"the {window.PeriodName} {q.Name()} budget of {who} has reached its limit: used {BudgetStatus.Amount(q, line.Used)} of {BudgetStatus.Amount(q, line.Limit)}, and this request may use up to {need}";
            return new GatewayException(ErrorKind.QuotaExceeded, $"Budget paused: {what}. {lift}{end}.", 429, pause.Until is { } until ? until - now : null) { IsFinal = true };
        }
        var left = Math.Max(0, line.Limit - line.Used - line.Reserved);
        return new GatewayException(ErrorKind.QuotaExceeded,
            $"Budget limit: this request may use up to {need}, but the {window.PeriodName} {q.Name()} budget of {who} has {BudgetStatus.Amount(q, left)} left " +
            $"(used {BudgetStatus.Amount(q, line.Used)}, held by running requests {BudgetStatus.Amount(q, line.Reserved)}, limit {BudgetStatus.Amount(q, line.Limit)}). " +
            "Try again when running requests finish, or send a smaller max_tokens.", 429, TimeSpan.FromSeconds(2));
    }

    private string NoteFor(BudgetLine line)
        => $"\n\n---\nGapura: {(line.Scope.Kind == ScopeKind.Gateway ? "this gateway has" : line.Scope.Kind == ScopeKind.Key ? "this API key has" : "you have")} used {line.Percent} of the {line.Window.PeriodName} {line.Quantity.Name()} budget ({BudgetStatus.Amount(line.Quantity, line.Used)} of {BudgetStatus.Amount(line.Quantity, line.Limit)}); it resets {WhenText(line.WindowEnd)}.";

    private static string Who(BudgetScope scope, Caller? caller) => scope.Kind switch
    {
        ScopeKind.Gateway => "the gateway",
        ScopeKind.User => caller is not null && caller.UserId == scope.Id ? $"user {caller.Email}" : $"user {scope.Id}",
        _ => caller is { KeyPrefix: { } prefix } && caller.KeyId == scope.Id ? $"key {prefix}" : $"key {scope.Id}",
    };

    private static string ResetFlag(BudgetScope scope, Caller? caller) => scope.Kind switch
    {
        ScopeKind.Gateway => "--gateway",
        ScopeKind.User => caller is not null && caller.UserId == scope.Id ? $"--user {caller.Email}" : $"--user <email>",
        _ => caller is { KeyPrefix: { } prefix } && caller.KeyId == scope.Id ? $"--key {prefix}" : "--key <prefix>",
    };

    private string WhenText(DateTimeOffset at)
    {
        var local = TimeZoneInfo.ConvertTime(at, windows.Zone);
        return local.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) + " " + (windows.Zone == TimeZoneInfo.Utc ? "UTC" : windows.Zone.Id);
    }
}
