namespace Gapura.Budgets;

/// <summary>Says a budget crossed its threshold or was paused: a log line now; the audit event and the webhook follow.</summary>
internal sealed class BudgetAnnouncer(ILogger<BudgetAnnouncer> log)
{
    public const string Threshold = "threshold";
    public const string Paused = "paused";

    public void Announce(string kind, BudgetScope scope, BudgetLimit window, BudgetQuantity quantity, double used, double limit, DateTimeOffset windowEnd)
        => log.LogWarning("Budget {Kind}: {Scope} {Window} {Quantity} at {Used} of {Limit} (threshold {Threshold:P0}, action {Action})",
            kind, scope.Name, window.PeriodName, quantity.Name(), BudgetStatus.Amount(quantity, used), BudgetStatus.Amount(quantity, limit), window.AlertThreshold, window.Action);
}
