namespace Gapura.Budgets;

/// <summary>
/// A budget or rate-limit setting that cannot be used: a negative or non-numeric limit, a threshold outside 0–1, an
/// unknown action or time zone. <see cref="Field"/> names it the way the caller wrote it (<c>budget.daily.inputTokens</c>,
/// <c>--threshold</c>, <c>Budgets:TimeZone</c>) so the admin API, the CLI and start-up can point at it.
/// </summary>
internal sealed class BudgetConfigException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}
