using System.Data.Common;
using System.Text.Json;
using Gapura.Budgets.Counters;
using Gapura.Storage;
using StackExchange.Redis;

namespace Gapura.Budgets;

/// <summary>A new limit for one quantity of a window: a value, or none (that quantity is no longer limited).</summary>
internal readonly record struct LimitChange<T>(T? Value) where T : struct
{
    public static readonly LimitChange<T> Remove = new(null);
}

/// <summary>
/// What a partial change does to one window: each quantity left alone (null), given a new limit, or no longer limited.
/// A window left with no limit at all is removed.
/// </summary>
internal sealed record WindowChange(BudgetPeriod Period, LimitChange<long>? Input = null, LimitChange<long>? Output = null, LimitChange<double>? Cost = null);

/// <summary>
/// A partial change of a budget (the CLI's <c>set</c>): the windows it names are merged into the budget already there,
/// the others are kept. <see cref="AlertThreshold"/>, <see cref="Action"/> and <see cref="ResumeAtPeriodEnd"/> apply to
/// the windows named, or — when none is — to every window the budget has; a new window without them gets the seed's
/// defaults (0.8, notify, false).
/// </summary>
internal sealed record BudgetChange(IReadOnlyList<WindowChange> Windows, double? AlertThreshold = null, string? Action = null, bool? ResumeAtPeriodEnd = null)
{
    public bool IsEmpty => Windows.Count == 0 && AlertThreshold is null && Action is null && ResumeAtPeriodEnd is null;

    /// <summary>The budget after the change, or null when no window is left.</summary>
    public Budget? ApplyTo(Budget? existing)
    {
        var daily = existing?.Daily;
        var monthly = existing?.Monthly;
        if (Windows.Count == 0)
        {
            if (daily is null && monthly is null)
                throw new BudgetConfigException("budget", "budget: there is no budget here yet; give a window's limits (inputTokens, outputTokens or costUsd) with the alert threshold, action or resumeAtPeriodEnd.");
            daily = daily is null ? null : Rules(daily);
            monthly = monthly is null ? null : Rules(monthly);
        }
        foreach (var w in Windows)
        {
            var changed = Apply(w, w.Period == BudgetPeriod.Daily ? daily : monthly);
            if (w.Period == BudgetPeriod.Daily) daily = changed;
            else monthly = changed;
        }
        return daily is null && monthly is null ? null : new Budget(daily, monthly);
    }

    private BudgetLimit Rules(BudgetLimit w)
        => BudgetLimit.Create(w.Period, w.InputTokens, w.OutputTokens, w.CostUsd, AlertThreshold ?? w.AlertThreshold, Action ?? w.Action,
            ResumeAtPeriodEnd ?? w.ResumeAtPeriodEnd, "budget." + w.PeriodName);

    private BudgetLimit? Apply(WindowChange change, BudgetLimit? current)
    {
        var input = change.Input is { } i ? i.Value : current?.InputTokens;
        var output = change.Output is { } o ? o.Value : current?.OutputTokens;
        var cost = change.Cost is { } c ? c.Value : current?.CostUsd;
        if (input is null && output is null && cost is null) return null;
        return BudgetLimit.Create(change.Period, input, output, cost,
            AlertThreshold ?? current?.AlertThreshold ?? BudgetLimit.DefaultAlertThreshold,
            Action ?? current?.Action ?? BudgetActions.Notify,
            ResumeAtPeriodEnd ?? current?.ResumeAtPeriodEnd ?? false,
            "budget." + (change.Period == BudgetPeriod.Daily ? "daily" : "monthly"));
    }
}

/// <summary>The budget counters did not answer (the database or Redis is unreachable): nothing can be read or reset.</summary>
internal sealed class BudgetCountersUnavailableException(Exception inner)
    : Exception($"The budget counters cannot be reached ({inner.Message}); try again when the {(inner is RedisUnavailableException or RedisException or RedisTimeoutException ? "Redis server" : "database")} is back.", inner)
{
    /// <summary>Runs a counters call, turning "cannot reach the store" into this exception, whatever the store.</summary>
    public static async Task<T> Guard<T>(Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (Exception e) when (e is StorageException or DbException or RedisException or TimeoutException)
        {
            throw new BudgetCountersUnavailableException(e);
        }
    }
}

/// <summary>
/// Every change to budgets and rate limits that admins make — through the admin API or the CLI — validated, written to
/// the settings table with its audit entry in one transaction, and then seen by every instance through the change feed.
/// A reset acts on the counters (which may live in Redis) and is audited right after.
/// </summary>
internal sealed class BudgetChanges(
    IGapuraStore store, BudgetConfigSource source, IBudgetCounters counters, BudgetWindows windows, TimeProvider time,
    Func<string, string?, string?, NewAuditEntry> audit)
{
    public BudgetConfig Current => source.Current;

    /// <summary>Replaces the target's budget (the admin API's PUT, an import).</summary>
    public async Task<Budget> SetBudgetAsync(BudgetTarget target, Budget budget, CancellationToken ct, string action = "budget.set")
    {
        var key = target.BudgetKey;
        await EnsureExistsAsync(target, ct);
        var json = budget.ToJson();
        await store.InTransactionAsync(async s =>
        {
            await s.Settings.SetAsync(key, json, ct);
            await s.Audit.WriteAsync(audit(action, target.Name, json), ct);
        }, ct);
        // This instance applies it at once; the others within Routing:SyncSeconds, from the change feed.
        await source.ReloadAllAsync(ct);
        return budget;
    }

    /// <summary>
    /// Merges a partial change into the target's budget (the configuration file's, for the gateway and the default,
    /// when no admin has set one). Returns the budget in force afterwards, or null when none is left.
    /// </summary>
    public async Task<Budget?> ChangeBudgetAsync(BudgetTarget target, BudgetChange change, CancellationToken ct)
    {
        var key = target.BudgetKey;
        await EnsureExistsAsync(target, ct);
        var result = await store.InTransactionAsync(async s =>
        {
            var next = change.ApplyTo(await StoredBudgetAsync(s, target, ct));
            if (next is null)
            {
                if (await s.Settings.DeleteAsync(key, ct)) await s.Audit.WriteAsync(audit("budget.clear", target.Name, null), ct);
                return null;
            }
            var json = next.ToJson();
            await s.Settings.SetAsync(key, json, ct);
            await s.Audit.WriteAsync(audit("budget.set", target.Name, json), ct);
            return next;
        }, ct);
        await source.ReloadAllAsync(ct);
        return result is null ? DefinedBudget(source.Current, target) : result;
    }

    /// <summary>
    /// Removes one window (<paramref name="window"/>) or the whole admin-set budget of the target. False when there was
    /// nothing to remove (a budget from the configuration file is changed there).
    /// </summary>
    public async Task<bool> ClearBudgetAsync(BudgetTarget target, BudgetPeriod? window, CancellationToken ct)
    {
        var key = target.BudgetKey;
        await EnsureExistsAsync(target, ct);
        var changed = await store.InTransactionAsync(async s =>
        {
            if (window is not { } period)
            {
                var deleted = await s.Settings.DeleteAsync(key, ct);
                if (deleted) await s.Audit.WriteAsync(audit("budget.clear", target.Name, null), ct);
                return deleted;
            }
            var existing = await StoredBudgetAsync(s, target, ct);
            if (existing?.Of(period) is null) return false;
            var rest = period == BudgetPeriod.Daily ? existing with { Daily = null } : existing with { Monthly = null };
            var name = period == BudgetPeriod.Daily ? "daily" : "monthly";
            if (rest.Daily is null && rest.Monthly is null)
            {
                if (!await s.Settings.DeleteAsync(key, ct)) return false;
            }
            else await s.Settings.SetAsync(key, rest.ToJson(), ct);
            await s.Audit.WriteAsync(audit("budget.clear", target.Name, name), ct);
            return true;
        }, ct);
        if (changed) await source.ReloadAllAsync(ct);
        return changed;
    }

    /// <summary>
    /// Stores the budget of a seed-shaped file as the target's: <c>{"budget": {"daily": {…}}}</c> — the seed's
    /// <c>.kiro/settings.json</c> as it is (comments allowed; its other sections are reported, not imported) — or a bare budget.
    /// </summary>
    public async Task<(Budget Budget, IReadOnlyList<string> Skipped)> ImportAsync(BudgetTarget target, string json, CancellationToken ct)
    {
        var key = target.BudgetKey; // a target without budgets is refused before the file is read
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new BudgetConfigException("file", $"The file is not JSON (comments allowed): {e.Message}");
        }
        using var owned = doc;
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw new BudgetConfigException("budget", "budget: the file needs a \"budget\" object, as in .kiro/settings.json: {\"budget\": {\"daily\": {…}, \"monthly\": {…}}}.");
        Budget budget;
        List<string> skipped = [];
        if (root.TryGetProperty("budget", out var section))
        {
            budget = Budget.Parse(section, "budget");
            skipped.AddRange(root.EnumerateObject().Select(p => p.Name).Where(n => n != "budget"));
        }
        else if (root.TryGetProperty("daily", out _) || root.TryGetProperty("monthly", out _)) budget = Budget.Parse(root, "budget");
        else throw new BudgetConfigException("budget", "budget: the file has no \"budget\" section; the seed's shape is {\"budget\": {\"daily\": {\"inputTokens\": 500000, …}}}.");
        await SetBudgetAsync(target, budget, ct, "budget.import");
        return (budget, skipped);
    }

    public async Task<RateLimit> SetRateLimitAsync(BudgetTarget target, RateLimit limit, CancellationToken ct)
    {
        var key = target.RateKey;
        if (limit.IsEmpty) throw new BudgetConfigException("rate_limit", "rate_limit: set at least one of requests_per_minute, tokens_per_minute and concurrent_requests.");
        await EnsureExistsAsync(target, ct);
        var json = limit.ToJson();
        await store.InTransactionAsync(async s =>
        {
            await s.Settings.SetAsync(key, json, ct);
            await s.Audit.WriteAsync(audit("ratelimit.set", target.Name, json), ct);
        }, ct);
        await source.ReloadAllAsync(ct);
        return limit;
    }

    /// <summary>Sets the limits given (non-null) and keeps the target's others.</summary>
    public async Task<RateLimit> ChangeRateLimitAsync(BudgetTarget target, RateLimit change, CancellationToken ct)
    {
        var key = target.RateKey;
        await EnsureExistsAsync(target, ct);
        var result = await store.InTransactionAsync(async s =>
        {
            var existing = await s.Settings.GetAsync(key, ct) is { } stored ? RateLimit.Parse(stored, key)
                : source.Current.Sources.GetValueOrDefault(key) == "config" ? DefinedRateLimit(source.Current, target) : null;
            var next = new RateLimit(change.RequestsPerMinute ?? existing?.RequestsPerMinute, change.TokensPerMinute ?? existing?.TokensPerMinute,
                change.ConcurrentRequests ?? existing?.ConcurrentRequests);
            if (next.IsEmpty) throw new BudgetConfigException("rate_limit", "rate_limit: set at least one of requests_per_minute, tokens_per_minute and concurrent_requests.");
            var json = next.ToJson();
            await s.Settings.SetAsync(key, json, ct);
            await s.Audit.WriteAsync(audit("ratelimit.set", target.Name, json), ct);
            return next;
        }, ct);
        await source.ReloadAllAsync(ct);
        return result;
    }

    /// <summary>False when no admin had set rate limits on the target.</summary>
    public async Task<bool> ClearRateLimitAsync(BudgetTarget target, CancellationToken ct)
    {
        var key = target.RateKey;
        await EnsureExistsAsync(target, ct);
        var gone = await store.InTransactionAsync(async s =>
        {
            var deleted = await s.Settings.DeleteAsync(key, ct);
            if (deleted) await s.Audit.WriteAsync(audit("ratelimit.clear", target.Name, null), ct);
            return deleted;
        }, ct);
        if (gone) await source.ReloadAllAsync(ct);
        return gone;
    }

    /// <summary>
    /// Lifts the target's pauses and starts its current daily and monthly windows' counts again from zero (requests
    /// still running keep their reservations). The usage ledger keeps the history. Returns the windows reset.
    /// </summary>
    public async Task<IReadOnlyList<MeterKey>> ResetAsync(BudgetTarget target, CancellationToken ct)
    {
        var scope = target.Scope
            ?? throw new BudgetConfigException("scope", target.Kind == BudgetTargetKind.DefaultUser
                ? "The default budget for all users is counted per user: reset one user (or the gateway)."
                : "Keys have no default budget: reset one key.");
        await EnsureExistsAsync(target, ct);
        var now = time.GetUtcNow();
        IReadOnlyList<MeterKey> meters = [windows.Meter(scope, BudgetPeriod.Daily, now), windows.Meter(scope, BudgetPeriod.Monthly, now)];
        await BudgetCountersUnavailableException.Guard(async () =>
        {
            await counters.ResetAsync(scope.Name, meters, ct);
            return 0;
        });
        await store.Audit.WriteAsync(audit("budget.reset", target.Name, string.Join(", ", meters.Select(m => $"{m.PeriodName} {m.Window}"))), ct);
        return meters;
    }

    /// <summary>The budget set on the target itself (not the default a user falls back to), or null.</summary>
    public static Budget? DefinedBudget(BudgetConfig c, BudgetTarget target) => target.Kind switch
    {
        BudgetTargetKind.Gateway => c.Gateway,
        BudgetTargetKind.DefaultUser => c.DefaultUser,
        BudgetTargetKind.User => c.Users.GetValueOrDefault(target.Id),
        BudgetTargetKind.Key => c.Keys.GetValueOrDefault(target.Id),
        _ => null,
    };

    /// <summary>The rate limits set on the target itself, or null.</summary>
    public static RateLimit? DefinedRateLimit(BudgetConfig c, BudgetTarget target) => target.Kind switch
    {
        BudgetTargetKind.DefaultUser => c.DefaultUserRate,
        BudgetTargetKind.DefaultKey => c.DefaultKeyRate,
        BudgetTargetKind.User => c.UserRates.GetValueOrDefault(target.Id),
        BudgetTargetKind.Key => c.KeyRates.GetValueOrDefault(target.Id),
        _ => null,
    };

    /// <summary>The admin-set budget as stored now (inside the write's transaction), else the configuration file's.</summary>
    private async Task<Budget?> StoredBudgetAsync(IGapuraStore s, BudgetTarget target, CancellationToken ct)
    {
        var key = target.BudgetKey;
        if (await s.Settings.GetAsync(key, ct) is { } stored) return Budget.Parse(stored, key);
        // No admin value: the snapshot's value for this key, if any, is the configuration file's.
        return source.Current.Sources.GetValueOrDefault(key) == "config" ? DefinedBudget(source.Current, target) : null;
    }

    private async Task EnsureExistsAsync(BudgetTarget target, CancellationToken ct)
    {
        if (target.Kind == BudgetTargetKind.User && await store.Users.FindAsync(target.Id, ct) is null) throw new UserNotFoundException(target.Id);
        if (target.Kind == BudgetTargetKind.Key && await store.ApiKeys.FindAsync(target.Id, ct) is null) throw new ApiKeyNotFoundException(target.Id);
    }
}
