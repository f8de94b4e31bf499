using Gapura.Budgets.Counters;
using Gapura.Identity;
using Gapura.Storage;

namespace Gapura.Budgets;

/// <summary>
/// One target's definitions and where it stands: its budget and rate limits (its own, or the default it falls back to)
/// and a <see cref="BudgetLine"/> per limited quantity of its current windows. <paramref name="Label"/> is the user's
/// email or the key's prefix; the sources are <c>admin</c>, <c>config</c> or <c>default</c> (inherited).
/// </summary>
internal sealed record TargetStatus(
    BudgetTarget Target, string? Label, Budget? Budget, string? BudgetSource, RateLimit? RateLimit, string? RateLimitSource, IReadOnlyList<BudgetLine> Lines);

/// <summary>What applies to one caller: every budget line (gateway, user, key) and every rate limit.</summary>
internal sealed record CallerBudgets(IReadOnlyList<BudgetLine> Lines, IReadOnlyList<ApplicableRateLimit> RateLimits)
{
    public bool IsEmpty => Lines.Count == 0 && RateLimits.Count == 0;
}

/// <summary>
/// Where budgets stand, for <c>gapura budgets show</c>, the admin API and <c>GET /v1/usage</c>: the definitions in force
/// (<see cref="BudgetConfigSource.Current"/>) with the counters of their current windows and any standing pause, through
/// <see cref="BudgetStatus.Lines"/>. Counters that cannot be reached are a <see cref="BudgetCountersUnavailableException"/>.
/// </summary>
internal sealed class BudgetReports(IGapuraStore store, BudgetConfigSource source, IBudgetCounters counters, BudgetWindows windows, TimeProvider time)
{
    public BudgetWindows Windows => windows;

    /// <summary>Every budget and rate limit that counts this caller's requests, with their counts.</summary>
    public async Task<CallerBudgets> ForCallerAsync(Caller caller, CancellationToken ct)
    {
        var config = source.Current;
        var budgets = config.BudgetsFor(caller);
        var rates = config.RateLimitsFor(caller);
        if (budgets.Count == 0) return new CallerBudgets([], rates);
        var now = time.GetUtcNow();
        var lines = await LinesAsync(budgets, [.. budgets.Select(b => b.Scope.Name).Distinct()], now, ct);
        return new CallerBudgets(lines, rates);
    }

    /// <summary>One target: its own budget and rate limits or the defaults it falls back to, with its counts (none for a default).</summary>
    public async Task<TargetStatus> ForTargetAsync(BudgetTarget target, CancellationToken ct)
    {
        var label = await LabelAsync(target, ct);
        var config = source.Current;
        var (budget, budgetSource, applicable) = BudgetOf(config, target);
        var (rate, rateSource) = target.HasRateLimit ? RateLimitOf(config, target) : (null, null);
        IReadOnlyList<BudgetLine> lines = applicable is null ? [] : await LinesAsync([applicable], [applicable.Scope.Name], time.GetUtcNow(), ct);
        return new TargetStatus(target, label, budget, budgetSource, rate, rateSource, lines);
    }

    /// <summary>
    /// Everything defined: the gateway, the defaults, every user and key with a budget or rate limits of their own, and
    /// every user counted under the default budget who has used some of it (or is paused) in the current windows.
    /// </summary>
    public async Task<IReadOnlyList<TargetStatus>> AllAsync(CancellationToken ct)
    {
        var config = source.Current;
        var now = time.GetUtcNow();
        var users = await store.Users.ListAsync(ct);
        var emails = users.ToDictionary(u => u.Id, u => u.Email);
        var prefixes = config.Keys.Count + config.KeyRates.Count > 0 ? (await store.ApiKeys.ListAsync(ct: ct)).ToDictionary(k => k.Id, k => k.Prefix) : [];

        var targets = new List<BudgetTarget>();
        if (config.Gateway is not null) targets.Add(BudgetTarget.Gateway);
        if (config.DefaultUser is not null || config.DefaultUserRate is not null) targets.Add(BudgetTarget.DefaultUser);
        if (config.DefaultKeyRate is not null) targets.Add(BudgetTarget.DefaultKey);
        targets.AddRange(config.Users.Keys.Union(config.UserRates.Keys).Order().Select(BudgetTarget.User));
        // Users under the default budget with no definition of their own: listed when they used some of it.
        var underDefault = config.DefaultUser is null ? [] : users.Where(u => !config.Users.ContainsKey(u.Id) && !config.UserRates.ContainsKey(u.Id)).Select(u => BudgetTarget.User(u.Id)).ToList();
        targets.AddRange(config.Keys.Keys.Union(config.KeyRates.Keys).Order().Select(BudgetTarget.Key));

        var entries = new List<(BudgetTarget Target, Budget? Budget, string? Source, ApplicableBudget? Applicable, RateLimit? Rate, string? RateSource)>();
        foreach (var t in targets.Concat(underDefault))
        {
            var (budget, budgetSource, applicable) = BudgetOf(config, t);
            var (rate, rateSource) = t.HasRateLimit ? RateLimitOf(config, t) : (null, null);
            entries.Add((t, budget, budgetSource, applicable, rate, rateSource));
        }
        var applicables = entries.Where(e => e.Applicable is not null).Select(e => e.Applicable!).ToList();
        var lines = applicables.Count == 0 ? [] : await LinesAsync(applicables, null, now, ct);

        var result = new List<TargetStatus>(entries.Count);
        foreach (var e in entries)
        {
            var own = e.Target.Scope is { } scope ? lines.Where(l => l.Scope == scope).ToList() : [];
            var isUnderDefault = underDefault.Contains(e.Target);
            if (isUnderDefault && !own.Any(l => l.Used > 0 || l.Reserved > 0 || l.Pause is not null)) continue;
            var label = e.Target.Kind switch
            {
                BudgetTargetKind.User => emails.GetValueOrDefault(e.Target.Id),
                BudgetTargetKind.Key => prefixes.GetValueOrDefault(e.Target.Id),
                _ => null,
            };
            result.Add(new TargetStatus(e.Target, label, e.Budget, e.Source, e.Rate, e.RateSource, own));
        }
        return result;
    }

    /// <summary>The lines of these budgets now: one read of their current meters, one of the scopes' pauses (all scopes when null).</summary>
    private async Task<IReadOnlyList<BudgetLine>> LinesAsync(IReadOnlyList<ApplicableBudget> budgets, IReadOnlyList<string>? scopes, DateTimeOffset now, CancellationToken ct)
    {
        var keys = budgets.SelectMany(b => b.Budget.Windows.Select(w => windows.Meter(b.Scope, w.Period, now))).Distinct().ToList();
        var meters = await BudgetCountersUnavailableException.Guard(() => counters.ReadAsync(keys, ct));
        var pauses = await BudgetCountersUnavailableException.Guard(async () =>
        {
            if (scopes is null) return await counters.PausesAsync(null, ct);
            var all = new List<BudgetPause>();
            foreach (var scope in scopes) all.AddRange(await counters.PausesAsync(scope, ct));
            return (IReadOnlyList<BudgetPause>)all;
        });
        return BudgetStatus.Lines(budgets, meters, pauses, windows, now);
    }

    /// <summary>The target's budget in force and where it comes from, and (for a counted scope) the budget its requests are charged under.</summary>
    private static (Budget? Budget, string? Source, ApplicableBudget? Applicable) BudgetOf(BudgetConfig config, BudgetTarget target)
    {
        if (!target.HasBudget) return (null, null, null);
        var own = BudgetChanges.DefinedBudget(config, target);
        if (own is not null)
        {
            var source = config.Sources.GetValueOrDefault(target.BudgetKey, "admin");
            var applicable = target.Scope is { } scope
                ? new ApplicableBudget(scope, own, target.Kind switch { BudgetTargetKind.Gateway => "gateway", BudgetTargetKind.User => "user", _ => "key" })
                : null;
            return (own, source, applicable);
        }
        if (target.Kind == BudgetTargetKind.User && config.DefaultUser is { } fallback)
            return (fallback, "default", new ApplicableBudget(BudgetScope.User(target.Id), fallback, "user-default"));
        return (null, null, null);
    }

    private static (RateLimit? Limit, string? Source) RateLimitOf(BudgetConfig config, BudgetTarget target)
    {
        if (BudgetChanges.DefinedRateLimit(config, target) is { } own) return (own, config.Sources.GetValueOrDefault(target.RateKey, "admin"));
        var fallback = target.Kind switch
        {
            BudgetTargetKind.User => config.DefaultUserRate,
            BudgetTargetKind.Key => config.DefaultKeyRate,
            _ => null,
        };
        return fallback is null ? (null, null) : (fallback, "default");
    }

    /// <summary>The user's email or the key's prefix; an unknown user or key is an <see cref="EntityNotFoundException"/>.</summary>
    private async Task<string?> LabelAsync(BudgetTarget target, CancellationToken ct) => target.Kind switch
    {
        BudgetTargetKind.User => (await store.Users.FindAsync(target.Id, ct) ?? throw new UserNotFoundException(target.Id)).Email,
        BudgetTargetKind.Key => (await store.ApiKeys.FindAsync(target.Id, ct) ?? throw new ApiKeyNotFoundException(target.Id)).Prefix,
        _ => null,
    };
}
