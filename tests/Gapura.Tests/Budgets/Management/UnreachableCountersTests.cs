using Gapura.Budgets;
using Gapura.Budgets.Counters;
using Gapura.Identity;
using Gapura.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gapura.Tests.Budgets.Management;

/// <summary>
/// When the counters cannot be reached (Redis down, the database gone), reports and resets fail with one clear error
/// that says so — which the CLI turns into exit code 3, the admin API and <c>/v1/usage</c> into a 503.
/// </summary>
public sealed class UnreachableCountersTests
{
    /// <summary>Counters whose every call fails the way an unreachable Redis does.</summary>
    private sealed class DownCounters : IBudgetCounters
    {
        private static Exception Down() => new RedisUnavailableException(new IOException("It was not possible to connect to the redis server(s)."));

        public Task<ReserveResult> ReserveAsync(Reservation reservation, CancellationToken ct) => throw Down();
        public Task<IReadOnlyList<MeterState>> SettleAsync(IReadOnlyList<Settlement> settlements, CancellationToken ct) => throw Down();
        public Task<int> RenewAsync(string instance, DateTimeOffset expiresAt, CancellationToken ct) => throw Down();
        public Task<int> ExpireAsync(DateTimeOffset now, CancellationToken ct) => throw Down();
        public Task<IReadOnlyList<MeterState>> ReadAsync(IReadOnlyList<MeterKey> keys, CancellationToken ct) => throw Down();
        public Task<bool> TryMarkAlertedAsync(MeterKey key, BudgetQuantity quantity, CancellationToken ct) => throw Down();
        public Task<bool> PauseAsync(BudgetPause pause, CancellationToken ct) => throw Down();
        public Task<IReadOnlyList<BudgetPause>> PausesAsync(string? scope, CancellationToken ct) => throw Down();
        public Task ResetAsync(string scope, IReadOnlyList<MeterKey> current, CancellationToken ct) => throw Down();
    }

    // The configuration file's gateway budget, so no database is needed to have one.
    private static BudgetConfigSource Source() => new(null!, new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
    {
        ["Budgets:Gateway:daily:inputTokens"] = "500000",
    }).Build(), NullLogger<BudgetConfigSource>.Instance);

    [Fact]
    public async Task A_report_or_a_reset_says_the_counters_cannot_be_reached()
    {
        var windows = new BudgetWindows(TimeZoneInfo.Utc);
        var reports = new BudgetReports(null!, Source(), new DownCounters(), windows, TimeProvider.System);
        var report = await Assert.ThrowsAsync<BudgetCountersUnavailableException>(
            () => reports.ForCallerAsync(new Caller(1, "a@example.com", UserRole.User, null), default));
        Assert.StartsWith("The budget counters cannot be reached (Cannot reach Redis: It was not possible to connect", report.Message);
        Assert.EndsWith("try again when the Redis server is back.", report.Message);

        var changes = new BudgetChanges(null!, Source(), new DownCounters(), windows, TimeProvider.System, (a, t, d) => new NewAuditEntry("test", a, t, d));
        await Assert.ThrowsAsync<BudgetCountersUnavailableException>(() => changes.ResetAsync(BudgetTarget.Gateway, default));
    }
}
