using Gapura.Budgets.Alerts;
using Gapura.Storage;

namespace Gapura.Budgets;

/// <summary>
/// Turns "this window crossed its threshold" or "this window paused" into a <see cref="BudgetAlert"/> (log line now,
/// audit event and webhook in the background), naming the user by email and the key by prefix — looked up off the
/// request path when the caller is not at hand.
/// </summary>
internal sealed class BudgetAnnouncer(BudgetAlerts alerts, IGapuraStore store, ILogger<BudgetAnnouncer> log)
{
    public void Announce(string kind, BudgetScope scope, BudgetLimit window, BudgetQuantity quantity, double used, double limit, DateTimeOffset windowEnd,
        DateTimeOffset at, string? userEmail = null, string? keyPrefix = null)
    {
        var line = new BudgetLine(scope, scope.KindName, window, quantity, default, used, 0, limit, windowEnd,
            kind == BudgetAlertKinds.Paused ? BudgetStates.Paused : window.Action == BudgetActions.Restrict ? BudgetStates.Restricted : BudgetStates.Alerted, null);
        if (scope.Kind == ScopeKind.Gateway || (scope.Kind == ScopeKind.User && userEmail is not null) || (scope.Kind == ScopeKind.Key && keyPrefix is not null))
        {
            Raise(kind, line, at, userEmail, keyPrefix);
            return;
        }
        _ = Task.Run(async () =>
        {
            try
            {
                if (scope.Kind == ScopeKind.User) userEmail = (await store.Users.FindAsync(scope.Id))?.Email;
                else if (await store.ApiKeys.FindAsync(scope.Id) is { } key)
                {
                    keyPrefix = key.Prefix;
                    userEmail = (await store.Users.FindAsync(key.UserId))?.Email;
                }
            }
            catch (Exception e) when (BudgetGate.IsUnreachable(e))
            {
                log.LogDebug("Budget alert for {Scope}: the user or key could not be looked up ({Error})", scope.Name, e.Message);
            }
            Raise(kind, line, at, userEmail, keyPrefix);
        });
    }

    private void Raise(string kind, BudgetLine line, DateTimeOffset at, string? userEmail, string? keyPrefix)
        => alerts.Raise(kind == BudgetAlertKinds.Paused ? BudgetAlert.Paused(line, at, userEmail, keyPrefix) : BudgetAlert.ThresholdCrossed(line, at, userEmail, keyPrefix));
}
