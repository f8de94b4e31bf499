using System.Globalization;

namespace Gapura.Budgets;

/// <summary>Whose spending a budget or rate limit counts: the whole gateway, one user, or one API key.</summary>
internal enum ScopeKind
{
    Gateway,
    User,
    Key,
}

/// <summary>
/// A scope as counters name it: <c>gateway</c>, <c>user:42</c>, <c>key:7</c>. The default budget for all users is a
/// definition, not a counter: each user's spending under it is counted in that user's own scope.
/// </summary>
internal readonly record struct BudgetScope(ScopeKind Kind, long Id)
{
    public static readonly BudgetScope Gateway = new(ScopeKind.Gateway, 0);

    public static BudgetScope User(long userId) => new(ScopeKind.User, userId);

    public static BudgetScope Key(long keyId) => new(ScopeKind.Key, keyId);

    /// <summary>The counters' name for it (and the <c>scope</c> column).</summary>
    public string Name => Kind switch
    {
        ScopeKind.Gateway => "gateway",
        ScopeKind.User => "user:" + Id.ToString(CultureInfo.InvariantCulture),
        _ => "key:" + Id.ToString(CultureInfo.InvariantCulture),
    };

    /// <summary>The word in headers and messages: <c>gateway</c>, <c>user</c>, <c>key</c>.</summary>
    public string KindName => Kind switch { ScopeKind.Gateway => "gateway", ScopeKind.User => "user", _ => "key" };

    public override string ToString() => Name;

    public static BudgetScope? TryParse(string name)
    {
        if (name == "gateway") return Gateway;
        var colon = name.IndexOf(':');
        if (colon < 0 || !long.TryParse(name.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var id)) return null;
        return name[..colon] switch { "user" => User(id), "key" => Key(id), _ => null };
    }
}

/// <summary>One quantity a budget window limits.</summary>
internal enum BudgetQuantity
{
    Input,
    Output,
    Cost,
}

internal static class BudgetQuantities
{
    public static readonly BudgetQuantity[] All = [BudgetQuantity.Input, BudgetQuantity.Output, BudgetQuantity.Cost];

    /// <summary>The word in <c>x-gapura-budget</c> and messages: <c>input</c>, <c>output</c>, <c>cost</c>.</summary>
    public static string Name(this BudgetQuantity q) => q switch { BudgetQuantity.Input => "input", BudgetQuantity.Output => "output", _ => "cost" };

    /// <summary>The bit of a meter's <c>alerted</c> column that says this quantity's alert was sent this window.</summary>
    public static int Bit(this BudgetQuantity q) => 1 << (int)q;
}

/// <summary>Token and dollar amounts: what a request reserves, what it used, what a window has used.</summary>
internal readonly record struct BudgetAmounts(long InputTokens, long OutputTokens, double CostUsd)
{
    public static readonly BudgetAmounts Zero = new(0, 0, 0);

    public double Of(BudgetQuantity q) => q switch { BudgetQuantity.Input => InputTokens, BudgetQuantity.Output => OutputTokens, _ => CostUsd };

    public static BudgetAmounts operator +(BudgetAmounts a, BudgetAmounts b) => new(a.InputTokens + b.InputTokens, a.OutputTokens + b.OutputTokens, a.CostUsd + b.CostUsd);

    public static BudgetAmounts operator -(BudgetAmounts a, BudgetAmounts b) => new(a.InputTokens - b.InputTokens, a.OutputTokens - b.OutputTokens, a.CostUsd - b.CostUsd);
}
