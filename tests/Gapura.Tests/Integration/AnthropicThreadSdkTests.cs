using System.Diagnostics;
using System.Text.Json.Nodes;
using Gapura.Simulators.Kiro;

namespace Gapura.Tests.Integration;

/// <summary>
/// The real <c>@anthropic-ai/sdk</c> thread helpers (<c>beta.messages.thread</c>, <c>toolRunner</c>) against the gateway and
/// the Kiro simulator: the gateway keeps no threads, refuses a <c>continue</c> with <c>thread_not_found</c>, and the SDK
/// sends the whole history again, so every turn reaches the upstream with its context and both loops complete.
/// </summary>
public class AnthropicThreadSdkTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task Thread_and_tool_runner_complete_with_the_whole_history_upstream()
    {
        var root = ClaudeCodeEndToEndTests.RepositoryRoot();
        var modules = Environment.GetEnvironmentVariable("GAPURA_ANTHROPIC_SDK_NODE_PATH") ?? Path.Combine(root, "tests", "e2e", "node_modules");
        Assert.True(Directory.Exists(Path.Combine(modules, "@anthropic-ai", "sdk")), $"@anthropic-ai/sdk is not installed in {modules} (tests/e2e/package.json)");

        gateway.Kiro.Enqueue(KiroScenario.Text("ANSWER-1"));
        gateway.Kiro.Enqueue(KiroScenario.Text("ANSWER-2"));
        gateway.Kiro.Enqueue(KiroScenario.ToolCall("tooluse_thread1", "get_weather", """{"city":"Medan"}"""));
        gateway.Kiro.Enqueue(KiroScenario.Text("RUNNER-DONE"));
        var before = gateway.Kiro.ChatRequests.Count;

        var start = new ProcessStartInfo("node", [Path.Combine(root, "tests", "e2e", "anthropic-thread.js")])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        start.Environment["NODE_PATH"] = modules;
        start.Environment["GAPURA_URL"] = gateway.BaseUrl;
        start.Environment["GAPURA_KEY"] = GatewayFixture.ApiKey;
        var (exit, stdout, stderr) = await ClientProcess.RunAsync(start, TimeSpan.FromSeconds(60), "anthropic-thread.js");
        Assert.True(exit == 0, $"exit {exit}: {stderr}");

        var got = JsonNode.Parse(stdout.Trim().Split('\n')[^1])!;
        Assert.Equal("ANSWER-1", (string?)got["first"]);
        Assert.Equal("ANSWER-2", (string?)got["second"]);
        Assert.Equal("RUNNER-DONE", (string?)got["final"]);

        // Four upstream calls: the refused continues never reached it, and each replay carried the whole conversation.
        var upstream = gateway.Kiro.ChatRequests.Skip(before).Select(r => r.Body).ToList();
        Assert.Equal(4, upstream.Count);
        Assert.Contains("THREAD-Q1", upstream[1]);
        Assert.Contains("ANSWER-1", upstream[1]);
        Assert.Contains("THREAD-Q2", upstream[1]);
        Assert.Contains("RUNNER-Q", upstream[3]);
        Assert.Contains("tooluse_thread1", upstream[3]);
        Assert.Contains("RUNNER-RESULT Medan", upstream[3]);
    }
}
