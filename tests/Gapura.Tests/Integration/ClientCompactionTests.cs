using Gapura.Simulators.Kiro;

namespace Gapura.Tests.Integration;

/// <summary>
/// The real clients act on Gapura's context-overflow errors (issue 15, item 6): Kiro answers "Input is too long", the
/// gateway reports it in the client's shape; Claude Code then summarises its history and retries the turn, and Codex
/// raises its own context-window error.
/// </summary>
public sealed class ClientCompactionTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task Claude_code_compacts_and_retries_when_told_the_prompt_is_too_long()
    {
        var home = Directory.CreateTempSubdirectory("gapura-claude-home-").FullName;
        var work = Directory.CreateTempSubdirectory("gapura-claude-work-").FullName;
        try
        {
            var first = await ClaudeCodeCli.RunAsync(gateway.BaseUrl, GatewayFixture.ApiKey, home, work, "What is a monad, in one paragraph?");
            Assert.True(first.ExitCode == 0, first.Stderr);
            var before = gateway.UsageRecords.Count;
            gateway.Kiro.Enqueue(KiroScenario.InputTooLong());
            var second = await ClaudeCodeCli.RunAsync(gateway.BaseUrl, GatewayFixture.ApiKey, home, work, "And what is a functor?", "--continue");
            var records = gateway.UsageRecords.Values.OrderBy(r => r.At).Skip(before).Select(r => $"{r.Status} {r.ErrorKind} {r.Task} {r.HttpStatus}").ToList();
            var trace = $"exit {second.ExitCode}\nstdout: {second.Stdout}\nstderr: {second.Stderr}\n{string.Join("\n", records)}";
            Assert.True(second.ExitCode == 0, trace);
            // Refused as too long; then Claude Code's own summary of the conversation; then the turn again, answered.
            Assert.Equal("error invalid_request interactiveChat 400", records[0]);
            Assert.Contains("ok  background 200", records.Skip(1));
            Assert.Equal("ok  interactiveChat 200", records[^1]);
            Assert.Contains("Hello from the Kiro simulator", second.Stdout);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public async Task Codex_recognises_that_the_context_window_is_exceeded()
    {
        var before = gateway.UsageRecords.Count;
        gateway.Kiro.Enqueue(KiroScenario.InputTooLong());
        var run = await CodexCli.RunAsync(gateway.BaseUrl, "claude-sonnet-4-5", "What is a monad?");
        var records = gateway.UsageRecords.Values.OrderBy(r => r.At).Skip(before).Select(r => $"{r.Status} {r.ErrorKind} {r.Task} {r.HttpStatus}").ToList();
        var trace = $"exit {run.ExitCode}\nstdout: {run.Stdout}\nstderr: {run.Stderr}\n{string.Join("\n", records)}";
        // Codex's own message for its ContextWindowExceeded error, which it raises only on code context_length_exceeded
        // (a first turn has no history to compact, so it says so rather than retrying).
        Assert.Contains("ran out of room in the model's context window", run.Stderr + run.Stdout);
        Assert.Equal("error invalid_request interactiveChat 400", records[0]);
    }
}
