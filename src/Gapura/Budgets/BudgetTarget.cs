using System.Globalization;

namespace Gapura.Budgets;

internal enum BudgetTargetKind
{
    Gateway,
    DefaultUser,
    DefaultKey,
    User,
    Key,
}

/// <summary>
/// What an admin sets a budget or rate limit on: the gateway, the default for all users (or, for rate limits, all
/// keys), one user, one key. Unlike a <see cref="BudgetScope"/> (what counters count) it includes the defaults, which
/// are definitions only: each user's spending under the default is counted in that user's own scope.
/// </summary>
internal readonly record struct BudgetTarget(BudgetTargetKind Kind, long Id)
{
    public static readonly BudgetTarget Gateway = new(BudgetTargetKind.Gateway, 0);
    public static readonly BudgetTarget DefaultUser = new(BudgetTargetKind.DefaultUser, 0);
    public static readonly BudgetTarget DefaultKey = new(BudgetTargetKind.DefaultKey, 0);

    public static BudgetTarget User(long userId) => new(BudgetTargetKind.User, userId);

    public static BudgetTarget Key(long keyId) => new(BudgetTargetKind.Key, keyId);

    /// <summary>How audit entries and the admin API name it: <c>gateway</c>, <c>user:default</c>, <c>key:default</c>, <c>user:42</c>, <c>key:7</c>.</summary>
    public string Name => Kind switch
    {
        BudgetTargetKind.Gateway => "gateway",
        BudgetTargetKind.DefaultUser => "user:default",
        BudgetTargetKind.DefaultKey => "key:default",
        BudgetTargetKind.User => "user:" + Id.ToString(CultureInfo.InvariantCulture),
        _ => "key:" + Id.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary><c>gateway</c>, <c>user</c> or <c>key</c>.</summary>
    public string KindName => Kind switch
    {
        BudgetTargetKind.Gateway => "gateway",
        BudgetTargetKind.DefaultUser or BudgetTargetKind.User => "user",
        _ => "key",
    };

    public bool IsDefault => Kind is BudgetTargetKind.DefaultUser or BudgetTargetKind.DefaultKey;

    /// <summary>Whether a budget can be set on it (every target but the default key: keys have no default budget).</summary>
    public bool HasBudget => Kind != BudgetTargetKind.DefaultKey;

    /// <summary>Whether rate limits can be set on it (every target but the gateway: rate limits are per user or per key).</summary>
    public bool HasRateLimit => Kind != BudgetTargetKind.Gateway;

    /// <summary>The counters' scope, or null for a default (which has none of its own).</summary>
    public BudgetScope? Scope => Kind switch
    {
        BudgetTargetKind.Gateway => BudgetScope.Gateway,
        BudgetTargetKind.User => BudgetScope.User(Id),
        BudgetTargetKind.Key => BudgetScope.Key(Id),
        _ => null,
    };

    /// <summary>The settings key of its budget.</summary>
    public string BudgetKey => Kind switch
    {
        BudgetTargetKind.Gateway => BudgetKeys.Gateway,
        BudgetTargetKind.DefaultUser => BudgetKeys.DefaultUser,
        BudgetTargetKind.User => BudgetKeys.User(Id),
        BudgetTargetKind.Key => BudgetKeys.Key(Id),
        _ => throw new BudgetConfigException("scope", "Keys have no default budget: set one on the gateway, the users (default or each), or each key."),
    };

    /// <summary>The settings key of its rate limits.</summary>
    public string RateKey => Kind switch
    {
        BudgetTargetKind.DefaultUser => BudgetKeys.DefaultUserRate,
        BudgetTargetKind.DefaultKey => BudgetKeys.DefaultKeyRate,
        BudgetTargetKind.User => BudgetKeys.UserRate(Id),
        BudgetTargetKind.Key => BudgetKeys.KeyRate(Id),
        _ => throw new BudgetConfigException("scope", "The gateway has no rate limits: they are per user or per key (default or each)."),
    };

    public override string ToString() => Name;
}
