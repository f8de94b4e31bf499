using System.Collections.Frozen;
using System.Globalization;
using Gapura.Identity;
using Gapura.Storage;

namespace Gapura.Budgets;

/// <summary>
/// Where admins' budgets and rate limits are stored: the <c>settings</c> table, one key per scope, each value the
/// seed-shaped JSON — so every instance sees a change through the change feed, and two admins changing different
/// users never overwrite each other.
/// </summary>
internal static class BudgetKeys
{
    public const string Root = "Budgets:";
    public const string Gateway = "Budgets:Gateway";
    public const string DefaultUser = "Budgets:User:Default";
    public const string UserPrefix = "Budgets:User:";
    public const string KeyPrefix = "Budgets:Key:";

    public const string RateRoot = "RateLimits:";
    public const string DefaultUserRate = "RateLimits:User:Default";
    public const string DefaultKeyRate = "RateLimits:Key:Default";
    public const string UserRatePrefix = "RateLimits:User:";
    public const string KeyRatePrefix = "RateLimits:Key:";

    public static string User(long userId) => UserPrefix + userId.ToString(CultureInfo.InvariantCulture);
    public static string Key(long keyId) => KeyPrefix + keyId.ToString(CultureInfo.InvariantCulture);
    public static string UserRate(long userId) => UserRatePrefix + userId.ToString(CultureInfo.InvariantCulture);
    public static string KeyRate(long keyId) => KeyRatePrefix + keyId.ToString(CultureInfo.InvariantCulture);

    /// <summary>The settings key of a scope's budget; <paramref name="defaultUser"/> for the default of all users.</summary>
    public static string For(BudgetScope scope) => scope.Kind switch
    {
        ScopeKind.Gateway => Gateway,
        ScopeKind.User => User(scope.Id),
        _ => Key(scope.Id),
    };

    public static string RateFor(BudgetScope scope) => scope.Kind switch
    {
        ScopeKind.User => UserRate(scope.Id),
        ScopeKind.Key => KeyRate(scope.Id),
        _ => throw new ArgumentException("Rate limits are per user or per key.", nameof(scope)),
    };
}

/// <summary>A budget that applies to a request, with the scope it is counted in and where it was defined.</summary>
/// <param name="Source"><c>gateway</c>, <c>user</c>, <c>user-default</c> or <c>key</c>.</param>
internal sealed record ApplicableBudget(BudgetScope Scope, Budget Budget, string Source);

/// <summary>A rate limit that applies to a request, with the scope it counts.</summary>
internal sealed record ApplicableRateLimit(BudgetScope Scope, RateLimit Limit, string Source);

/// <summary>
/// One immutable snapshot of every budget and rate limit: the configuration file's, overlaid with admins' (the
/// database). Rebuilt when the change feed moves; the request path reads it without touching the database.
/// </summary>
internal sealed class BudgetConfig
{
    public static readonly BudgetConfig Empty = new();

    public Budget? Gateway { get; init; }
    public Budget? DefaultUser { get; init; }
    public FrozenDictionary<long, Budget> Users { get; init; } = FrozenDictionary<long, Budget>.Empty;
    public FrozenDictionary<long, Budget> Keys { get; init; } = FrozenDictionary<long, Budget>.Empty;

    public RateLimit? DefaultUserRate { get; init; }
    public RateLimit? DefaultKeyRate { get; init; }
    public FrozenDictionary<long, RateLimit> UserRates { get; init; } = FrozenDictionary<long, RateLimit>.Empty;
    public FrozenDictionary<long, RateLimit> KeyRates { get; init; } = FrozenDictionary<long, RateLimit>.Empty;

    /// <summary>Where each definition came from: <c>config</c> or <c>admin</c>, by settings key.</summary>
    public FrozenDictionary<string, string> Sources { get; init; } = FrozenDictionary<string, string>.Empty;

    /// <summary>Whether any budget is defined at all: when not, requests skip the budget stage entirely.</summary>
    public bool HasBudgets => Gateway is not null || DefaultUser is not null || Users.Count > 0 || Keys.Count > 0;

    public bool HasRateLimits => DefaultUserRate is not null || DefaultKeyRate is not null || UserRates.Count > 0 || KeyRates.Count > 0;

    /// <summary>
    /// Every budget that counts this caller's requests: the gateway's, the user's own (else the default for all users),
    /// and the key's. All of them are charged and checked, so the tightest one decides.
    /// </summary>
    public IReadOnlyList<ApplicableBudget> BudgetsFor(Caller? caller)
    {
        if (!HasBudgets) return [];
        var list = new List<ApplicableBudget>(3);
        if (Gateway is not null) list.Add(new ApplicableBudget(BudgetScope.Gateway, Gateway, "gateway"));
        if (caller is not null)
        {
            if (Users.TryGetValue(caller.UserId, out var own)) list.Add(new ApplicableBudget(BudgetScope.User(caller.UserId), own, "user"));
            else if (DefaultUser is not null) list.Add(new ApplicableBudget(BudgetScope.User(caller.UserId), DefaultUser, "user-default"));
            if (caller.KeyId is { } keyId && Keys.TryGetValue(keyId, out var key)) list.Add(new ApplicableBudget(BudgetScope.Key(keyId), key, "key"));
        }
        return list;
    }

    /// <summary>The rate limits counting this caller's requests: the user's own (else the default), and the key's own (else the default).</summary>
    public IReadOnlyList<ApplicableRateLimit> RateLimitsFor(Caller? caller)
    {
        if (!HasRateLimits || caller is null) return [];
        var list = new List<ApplicableRateLimit>(2);
        if (UserRates.TryGetValue(caller.UserId, out var user)) list.Add(new ApplicableRateLimit(BudgetScope.User(caller.UserId), user, "user"));
        else if (DefaultUserRate is not null) list.Add(new ApplicableRateLimit(BudgetScope.User(caller.UserId), DefaultUserRate, "user-default"));
        if (caller.KeyId is { } keyId)
        {
            if (KeyRates.TryGetValue(keyId, out var key)) list.Add(new ApplicableRateLimit(BudgetScope.Key(keyId), key, "key"));
            else if (DefaultKeyRate is not null) list.Add(new ApplicableRateLimit(BudgetScope.Key(keyId), DefaultKeyRate, "key-default"));
        }
        return list;
    }

    /// <summary>The budget defined for one scope itself (for a user: their own, else the default), or null.</summary>
    public Budget? BudgetOf(BudgetScope scope) => scope.Kind switch
    {
        ScopeKind.Gateway => Gateway,
        ScopeKind.User => Users.GetValueOrDefault(scope.Id) ?? DefaultUser,
        _ => Keys.GetValueOrDefault(scope.Id),
    };
}
