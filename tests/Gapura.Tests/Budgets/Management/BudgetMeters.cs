using Gapura.Budgets;
using Gapura.Budgets.Counters;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Budgets.Management;

/// <summary>
/// Puts use on a scope's current meters the way a finished request does — a reservation, then its settlement — straight
/// through <see cref="IBudgetCounters"/> (the request path that charges them is not what these tests are about).
/// </summary>
internal static class BudgetMeters
{
    public static async Task ChargeAsync(IServiceProvider services, BudgetScope scope, long input, long output = 0, double cost = 0)
    {
        var counters = services.GetRequiredService<IBudgetCounters>();
        var windows = services.GetRequiredService<BudgetWindows>();
        var now = DateTimeOffset.UtcNow;
        IReadOnlyList<MeterKey> meters = [windows.Meter(scope, BudgetPeriod.Daily, now), windows.Meter(scope, BudgetPeriod.Monthly, now)];
        var reservation = new Reservation(Guid.NewGuid().ToString("N"), "budget-tests", new BudgetAmounts(input, output + 1000, cost + 1),
            [.. meters.Select(m => new MeterCharge(m, null, null, null))], now, now.AddMinutes(2));
        var reserved = await counters.ReserveAsync(reservation, default);
        Assert.True(reserved.Admitted);
        await counters.SettleAsync([new Settlement(reservation.Id, new BudgetAmounts(input, output, cost), meters)], default);
    }

    /// <summary>A standing pause of the scope's daily window, until a reset (as a <c>pause</c> budget at its limit leaves it).</summary>
    public static Task PauseDailyAsync(IServiceProvider services, BudgetScope scope)
        => services.GetRequiredService<IBudgetCounters>().PauseAsync(new BudgetPause(scope.Name, BudgetPeriod.Daily, DateTimeOffset.UtcNow, null, "test"), default);

    /// <summary>The end of today's window (midnight UTC, the default Budgets:TimeZone), as the reports print it.</summary>
    public static string TomorrowMidnight => DateTimeOffset.UtcNow.UtcDateTime.Date.AddDays(1).ToString("yyyy-MM-dd 00:00", System.Globalization.CultureInfo.InvariantCulture);
}
