using Gapura.Budgets;
using Gapura.Storage;
using Gapura.Tests.Integration;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Budgets;

/// <summary>
/// A real Claude Code session under budgets: once past a <c>restrict</c> threshold its requests are served by the fast
/// profile; at a <c>pause</c> limit it is refused with a message it shows the user, without retrying and without any
/// request reaching the upstream.
/// </summary>
public sealed class ClaudeCodeBudgetTests : IAsyncLifetime
{
    private readonly GatewayFixture _gateway = new()
    {
        Settings =
        {
            "--Budgets:User:Default:daily:outputTokens=1000000", "--Budgets:User:Default:daily:alertThreshold=0.00001",
            "--Budgets:User:Default:daily:action=restrict",
        },
    };

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => _gateway.DisposeAsync();

    [Fact]
    public async Task A_Claude_Code_session_is_restricted_past_the_threshold_then_paused_at_the_limit()
    {
        var marker = "gapura-budget-" + Guid.NewGuid().ToString("N")[..12];
        var home = Directory.CreateTempSubdirectory("gapura-claude-home-").FullName;
        var work = Directory.CreateTempSubdirectory("gapura-claude-work-").FullName;
        try
        {
            var prompt = $$"""Run this: [[tool:Bash {"command":"echo {{marker}}","description":"print the marker"}]]""";
            var run = await ClaudeCodeCli.RunAsync(_gateway.BaseUrl, GatewayFixture.ApiKey, home, work, prompt, "--allowedTools", "Bash", "--model", "claude-sonnet-4.5");
            Assert.True(run.ExitCode == 0, $"claude exited {run.ExitCode}\nstdout: {run.Stdout}\nstderr: {run.Stderr}");
            Assert.Contains($"Tool said: {marker}", run.Stdout);

            var records = _gateway.UsageRecords.Values.Where(r => r.Client == Gapura.Ledger.ClientApps.ClaudeCode && r.HttpStatus == 200).OrderBy(r => r.At).ToList();
            var summary = string.Join("\n", records.Select(r => $"{r.RequestedModel} {r.Task} {r.Profile} {r.UpstreamModel} out={r.OutputTokens}"));
            // The first answers are served as asked; once one has settled past the threshold, the rest go to fast's Haiku.
            Assert.True(records.Count >= 2, summary);
            Assert.Null(records[0].Profile);
            Assert.Equal(("fast", "claude-haiku-4.5"), (records[^1].Profile, records[^1].UpstreamModel));
            Assert.Contains(records, r => r.Profile == "fast" && r.RequestedModel == "claude-sonnet-4.5");

            // An admin sets a gateway budget with no room left: the next turn is paused.
            var store = _gateway.Services.GetRequiredService<IGapuraStore>();
            await store.Settings.SetAsync(BudgetKeys.Gateway, """{"daily":{"outputTokens":1,"action":"pause"}}""");
            await _gateway.Services.GetRequiredService<BudgetConfigSource>().ReloadAllAsync(default);
            await BudgetGatewayTests.SettledAsync(_gateway);
            var upstreamBefore = _gateway.Kiro.ChatCalls;
            var refusedBefore = _gateway.UsageRecords.Values.Count(r => r.HttpStatus == 429);

            var paused = await ClaudeCodeCli.RunAsync(_gateway.BaseUrl, GatewayFixture.ApiKey, home, work, "Say hello", "--continue", "--model", "claude-sonnet-4.5");
            var shown = paused.Stdout + paused.Stderr;
            Assert.Contains("Budget paused", shown);
            Assert.Contains("gapura budgets reset --gateway", shown);
            Assert.Equal(upstreamBefore, _gateway.Kiro.ChatCalls);
            // x-should-retry: false — Claude Code gives up at once instead of retrying the 429 with back-off.
            var refused = _gateway.UsageRecords.Values.Count(r => r.HttpStatus == 429) - refusedBefore;
            Assert.InRange(refused, 1, 3);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
            Directory.Delete(work, recursive: true);
        }
    }
}
