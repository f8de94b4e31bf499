using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Gapura.Simulators.Redis;

namespace Gapura.Tests.Budgets;

/// <summary>
/// The counters go away (Redis is stopped mid-run): with <c>Budgets:FailOpen</c> off (the default) a budgeted request is
/// refused with a 503 before it reaches the upstream — a <c>pause</c> budget is never bypassed silently — and with it on
/// the request is served unchecked, with a warning in the log.
/// </summary>
public sealed class BudgetOutageTests
{
    private static readonly string[] Budget =
        ["--Budgets:User:Default:daily:outputTokens=1000000", "--Budgets:User:Default:daily:action=pause"];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task When_Redis_is_down_budgeted_requests_are_refused_unless_fail_open_is_set(bool failOpen)
    {
        var redis = await PrivateRedis.StartAsync();
        await using var gateway = await BudgetGatewayTests.StartAsync(null,
            [.. Budget, $"--ConnectionStrings:Redis={redis.ConnectionString()}", $"--Budgets:FailOpen={failOpen}"]);
        using (var before = await BudgetGatewayTests.MessagesAsync(gateway, BudgetGatewayTests.Question(100)))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
            Assert.Equal("daily-output=0%", BudgetGatewayTests.BudgetHeader(before));
        }
        await BudgetGatewayTests.SettledAsync(gateway);

        await redis.DisposeAsync();
        var calls = gateway.Kiro.ChatCalls;
        var clock = Stopwatch.StartNew();
        using var during = await BudgetGatewayTests.MessagesAsync(gateway, BudgetGatewayTests.Question(100));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed.TotalSeconds:F1} s to decide");
        if (failOpen)
        {
            Assert.Equal(HttpStatusCode.OK, during.StatusCode);
            Assert.Null(BudgetGatewayTests.BudgetHeader(during));
            Assert.Equal(calls + 1, gateway.Kiro.ChatCalls);
            Assert.Contains(gateway.Logs.Lines, l => l.Contains("Budgets cannot be checked") && l.Contains("Budgets:FailOpen is on"));
        }
        else
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, during.StatusCode);
            var error = JsonNode.Parse(await during.Content.ReadAsStringAsync())!["error"]!;
            Assert.Contains("cannot check your budget", (string)error["message"]!);
            Assert.Equal(calls, gateway.Kiro.ChatCalls); // nothing went upstream unchecked
        }
    }
}
