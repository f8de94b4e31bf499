using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Gapura.Budgets;
using Gapura.Budgets.Counters;
using Gapura.Storage;
using Gapura.Tests.Integration;
using Gapura.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Gapura.Tests.Budgets;

/// <summary>
/// The overspend LiteLLM's budgets had, tried on Gapura: 200 concurrent requests through two instances sharing one
/// PostgreSQL, against a <c>pause</c> budget that admits about 50 of them. Clients behave as the SDKs do: a retryable
/// 429 (running requests hold the room) is retried, a final one (<c>x-should-retry: false</c>) is not.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class BudgetConcurrencyTests(PostgresCluster postgres, ITestOutputHelper output)
{
    private const int Requests = 200;
    private const int MaxTokens = 100;

    [Fact]
    public async Task Two_hundred_concurrent_requests_across_two_instances_never_overspend_and_are_refused_only_without_room()
    {
        var connection = await postgres.CreateIsolatedAsync(nameof(BudgetConcurrencyTests));
        var secretsKey = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        string[] shared = ["--Storage:Provider=postgres", $"--ConnectionStrings:Postgres={connection}", $"--Secrets:Key={secretsKey}"];
        var a = new GatewayFixture();
        var b = new GatewayFixture();
        a.Settings.AddRange(shared);
        b.Settings.AddRange(shared);
        await a.InitializeAsync();
        await b.InitializeAsync();
        try
        {
            // One request without a budget tells what an answer to this question costs (the simulator's answer is the same every time).
            using (var probe = await BudgetGatewayTests.MessagesAsync(a, BudgetGatewayTests.Question(MaxTokens)))
            {
                Assert.Equal(HttpStatusCode.OK, probe.StatusCode);
                var perAnswer = (await a.UsageRecordOfAsync(probe)).OutputTokens;
                Assert.InRange(perAnswer, 5, MaxTokens - 1); // not cut by max_tokens: every answer is the same size
                var limit = 50L * perAnswer;

                var store = a.Services.GetRequiredService<IGapuraStore>();
                await store.Settings.SetAsync(BudgetKeys.Gateway, $$$"""{"daily":{"outputTokens":{{{limit}}},"action":"pause"}}""");
                await a.Services.GetRequiredService<BudgetConfigSource>().ReloadAllAsync(default);
                await b.Services.GetRequiredService<BudgetConfigSource>().ReloadAllAsync(default);
                var upstreamBefore = a.Kiro.ChatCalls + b.Kiro.ChatCalls;

                var served = new ConcurrentBag<int>();
                var final = 0;
                var retried = 0;
                var clock = Stopwatch.StartNew();
                using var start = new SemaphoreSlim(0);
                var clients = Enumerable.Range(0, Requests).Select(async i =>
                {
                    var gateway = i % 2 == 0 ? a : b;
                    await start.WaitAsync();
                    for (var attempt = 0; attempt < 2000; attempt++)
                    {
                        using var response = await BudgetGatewayTests.MessagesAsync(gateway, BudgetGatewayTests.Question(MaxTokens));
                        if (response.StatusCode == HttpStatusCode.OK)
                        {
                            served.Add((await gateway.UsageRecordOfAsync(response)).OutputTokens);
                            return;
                        }
                        Assert.Equal((HttpStatusCode)429, response.StatusCode);
                        if (response.Headers.TryGetValues("x-should-retry", out var retry) && retry.Single() == "false")
                        {
                            Interlocked.Increment(ref final);
                            return;
                        }
                        Interlocked.Increment(ref retried);
                        await Task.Delay(Random.Shared.Next(10, 40));
                    }
                    throw new Xunit.Sdk.XunitException("A request was neither served nor finally refused after 2000 attempts.");
                }).ToList();
                start.Release(Requests);
                await Task.WhenAll(clients);
                Assert.True(await a.Services.GetRequiredService<BudgetSettlements>().WhenSettledAsync(TimeSpan.FromSeconds(20)));
                Assert.True(await b.Services.GetRequiredService<BudgetSettlements>().WhenSettledAsync(TimeSpan.FromSeconds(20)));

                var windows = a.Services.GetRequiredService<BudgetWindows>();
                var meter = (await a.Services.GetRequiredService<IBudgetCounters>().ReadAsync([windows.Meter(BudgetScope.Gateway, BudgetPeriod.Daily, windows.Now)], default)).Single();
                var settled = meter.Used.OutputTokens;
                output.WriteLine($"limit {limit} output tokens ({perAnswer} per answer, max_tokens {MaxTokens}); served {served.Count}, settled {settled}, " +
                                 $"overshoot {settled - limit}, final refusals {final}, retryable refusals {retried}, in {clock.Elapsed.TotalSeconds:F1} s");

                Assert.Equal(Requests, served.Count + final);
                Assert.Equal(served.Sum(), settled);                          // every served token is counted, none twice
                Assert.Equal(0, meter.Reserved.OutputTokens);                  // every reservation settled
                Assert.True(settled <= limit, $"settled {settled} > limit {limit}");  // within one reservation, in fact none
                Assert.True(settled > limit - MaxTokens, $"settled {settled}: refused while {limit - settled} tokens were left, room for a {MaxTokens}-token request");
                Assert.Equal(served.Count, a.Kiro.ChatCalls + b.Kiro.ChatCalls - upstreamBefore); // no refused request reached an upstream
                Assert.True(final > 0);
            }
        }
        finally
        {
            await a.DisposeAsync();
            await b.DisposeAsync();
        }
    }
}
