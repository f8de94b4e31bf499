using System.ComponentModel.DataAnnotations;

namespace Gapura.Budgets;

/// <summary>The <c>Budgets</c> section: how budgets are counted and announced (the budgets themselves are <see cref="BudgetConfig"/>).</summary>
internal sealed class BudgetOptions
{
    /// <summary>IANA name of the zone whose midnight and 1st of the month start the windows. Default UTC.</summary>
    public string TimeZone { get; set; } = "UTC";

    /// <summary>Where each alert is POSTed as JSON (retried, never blocking a request); none when empty.</summary>
    public string? WebhookUrl { get; set; }

    /// <summary>Whether a <c>notify</c> budget past its threshold adds a short note at the end of answers that end the turn.</summary>
    public bool NotifyInChat { get; set; } = true;

    /// <summary>
    /// What happens when a budget cannot be checked (the database or Redis is unreachable): false (the default) refuses
    /// the request with a 503, so a <c>pause</c> budget is never bypassed; true lets it through unchecked, logged.
    /// </summary>
    public bool FailOpen { get; set; }

    /// <summary>
    /// How long a request's reservation outlives its instance: open reservations are renewed while the instance runs,
    /// and those of an instance that died are released this long after its last renewal.
    /// </summary>
    [Range(1, 3600)]
    public int ReservationSeconds { get; set; } = 120;
}
