using Gapura.Tests.Integration;

namespace Gapura.Tests.Routing;

/// <summary>
/// A real Claude Code session through a gateway in <c>override</c> mode: whatever model Claude Code names, its tool loop
/// is served by the primary profile and its own housekeeping (here, <c>/compact</c>) by the fast one.
/// </summary>
public sealed class ClaudeCodeRoutingTests : IAsyncLifetime
{
    private readonly GatewayFixture _gateway = new() { Settings = { "--Routing:Mode=override" } };

    public Task InitializeAsync() => _gateway.InitializeAsync();

    public Task DisposeAsync() => _gateway.DisposeAsync();

    [Fact]
    public async Task In_override_mode_the_tool_loop_goes_to_primary_and_compaction_to_fast()
    {
        var marker = "gapura-route-" + Guid.NewGuid().ToString("N")[..12];
        var home = Directory.CreateTempSubdirectory("gapura-claude-home-").FullName;
        var work = Directory.CreateTempSubdirectory("gapura-claude-work-").FullName;
        try
        {
            // Claude Code asks for Opus; override mode decides by task instead.
            var prompt = $$"""Run this: [[tool:Bash {"command":"echo {{marker}}","description":"print the marker"}]]""";
            var run = await ClaudeCodeCli.RunAsync(_gateway.BaseUrl, GatewayFixture.ApiKey, home, work, prompt, "--allowedTools", "Bash", "--model", "claude-opus-4-6");
            Assert.True(run.ExitCode == 0, $"claude exited {run.ExitCode}\nstdout: {run.Stdout}\nstderr: {run.Stderr}");
            Assert.Contains($"Tool said: {marker}", run.Stdout);

            var compact = await ClaudeCodeCli.RunAsync(_gateway.BaseUrl, GatewayFixture.ApiKey, home, work, "/compact", "--continue", "--model", "claude-opus-4-6");
            Assert.True(compact.ExitCode == 0, $"claude /compact exited {compact.ExitCode}\nstdout: {compact.Stdout}\nstderr: {compact.Stderr}");

            var records = _gateway.UsageRecords.Values.Where(r => r.Client == Gapura.Ledger.ClientApps.ClaudeCode).OrderBy(r => r.At).ToList();
            var summary = string.Join("\n", records.Select(r => $"{r.RequestedModel} {r.Task} {r.Profile} {r.UpstreamModel}"));
            // The loop: the turn that asked for the tool and the turn that carried its result, both on primary's Sonnet.
            var loop = records.Where(r => r.Task == "taskExecution").ToList();
            Assert.True(loop.Count >= 2, summary);
            Assert.All(loop, r => Assert.Equal(("primary", "claude-sonnet-4.5"), (r.Profile, r.UpstreamModel)));
            // The compaction: background, on fast's Haiku, although Claude Code asked for Opus.
            var background = records.Where(r => r.Task == "background").ToList();
            Assert.True(background.Count >= 1, summary);
            Assert.All(background, r => Assert.Equal(("fast", "claude-haiku-4.5", "claude-opus-4-6"), (r.Profile, r.UpstreamModel, r.RequestedModel)));
            Assert.DoesNotContain(records, r => r.Profile is null);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
            Directory.Delete(work, recursive: true);
        }
    }
}
