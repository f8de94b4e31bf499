using Gapura.Budgets.Alerts;

// In the parent namespace, beside AddGapuraBudgets, which calls it.
namespace Gapura.Budgets;

internal static class BudgetAlertServiceCollectionExtensions
{
    /// <summary><see cref="BudgetAlerts"/> (what the budget stage raises alerts on) and its background delivery. Needs storage.</summary>
    public static IServiceCollection AddGapuraBudgetAlerts(this IServiceCollection services)
    {
        services.AddSingleton<BudgetAlerts>();
        services.AddSingleton(sp => new BudgetAlertDelivery(
            sp.GetRequiredService<BudgetAlerts>(), sp.GetRequiredService<Storage.IGapuraStore>(),
            sp.GetService<TimeProvider>() ?? TimeProvider.System, sp.GetRequiredService<ILogger<BudgetAlertDelivery>>()));
        services.AddHostedService(sp => sp.GetRequiredService<BudgetAlertDelivery>());
        return services;
    }
}
