using System.Diagnostics;

namespace Gapura.Tests.Integration;

/// <summary>
/// The real Claude Code CLI (npm @anthropic-ai/claude-code, installed by the test build into tests/e2e)
/// completes a tool round trip through the gateway to the Kiro simulator: the simulator asks for a Bash
/// call, Claude Code really runs it, sends the result back, and the final answer quotes that result.
/// </summary>
public class ClaudeCodeEndToEndTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task Claude_code_completes_a_bash_tool_round_trip_through_gapura()
    {
        var marker = "gapura-e2e-" + Guid.NewGuid().ToString("N")[..12];
        var home = Directory.CreateTempSubdirectory("gapura-claude-home-").FullName;
        var work = Directory.CreateTempSubdirectory("gapura-claude-work-").FullName;
        try
        {
            // The simulator's default responder turns this directive into a streamed toolUse for Bash.
            var prompt = $$"""Run this: [[tool:Bash {"command":"echo {{marker}}","description":"print the marker"}]]""";
            var (exitCode, stdout, stderr) = await RunClaudeAsync(home, work, prompt, "--allowedTools", "Bash", "--model", "claude-sonnet-4-5");

            Assert.True(exitCode == 0, $"claude exited {exitCode}\nstdout: {stdout}\nstderr: {stderr}");
            Assert.Contains($"Tool said: {marker}", stdout);

            var chats = gateway.Kiro.ChatRequests;
            var toolResult = chats.Select(c => c.Json?["conversationState"]?["currentMessage"]?["userInputMessage"]?["userInputMessageContext"]?["toolResults"]?[0])
                .LastOrDefault(r => r is not null);
            Assert.NotNull(toolResult);
            Assert.Contains(marker, toolResult!.ToJsonString());
            // Claude Code's Bash tool definition crossed the gateway as a Kiro tool spec.
            Assert.Contains(chats, c => c.Body.Contains("\"name\":\"Bash\"", StringComparison.Ordinal));

            // The ledger knows it was Claude Code, which version, and which of its sessions: every turn of the run in one.
            var turns = gateway.UsageRecords.Values.Where(r => r.Client == Gapura.Ledger.ClientApps.ClaudeCode).ToList();
            Assert.True(turns.Count >= 2, $"{turns.Count} Claude Code records");
            Assert.All(turns, r => Assert.Matches(@"^\d+\.\d+\.\d+", r.ClientVersion));
            Assert.Single(turns.Select(r => r.SessionId).Distinct());
            Assert.NotNull(turns[0].SessionId);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
            Directory.Delete(work, recursive: true);
        }
    }

    private Task<(int ExitCode, string Stdout, string Stderr)> RunClaudeAsync(string home, string work, string prompt, params string[] args)
        => ClaudeCodeCli.RunAsync(gateway.BaseUrl, GatewayFixture.ApiKey, home, work, prompt, args);

    internal static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Gapura.slnx"))) return dir.FullName;
        throw new InvalidOperationException("Could not find the repository root (Gapura.slnx) above " + AppContext.BaseDirectory);
    }
}
