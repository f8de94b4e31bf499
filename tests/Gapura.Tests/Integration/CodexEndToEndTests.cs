namespace Gapura.Tests.Integration;

/// <summary>
/// The real Codex CLI (npm @openai/codex, installed by the test build into tests/e2e) talks to the gateway's
/// Responses API with the Kiro simulator behind it: a plain answer, and a tool round trip in which the
/// simulator asks for a shell call, Codex really runs it and sends the output back, and the final answer
/// quotes it (see <see cref="CodexCli"/> for how Codex is run).
/// </summary>
public class CodexEndToEndTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Fact]
    public async Task Codex_gets_a_plain_answer_through_gapura()
    {
        var marker = "plain-" + Guid.NewGuid().ToString("N")[..10];
        var (exitCode, stdout, stderr) = await RunCodexAsync($"Say hello and repeat {marker}");

        Assert.True(exitCode == 0, $"codex exited {exitCode}\nstdout: {stdout}\nstderr: {stderr}");
        Assert.Contains("Hello from the Kiro simulator", stdout);
        Assert.Contains(marker, stdout);
        Assert.Contains(gateway.Kiro.ChatRequests, c => c.Body.Contains(marker, StringComparison.Ordinal));
        // The ledger names Codex, its version and its session (the session-id header it sends).
        Assert.Contains(gateway.UsageRecords.Values, r => r.Client == Gapura.Ledger.ClientApps.CodexCli && r.ClientVersion is { Length: > 0 }
            && r.SessionId is { Length: > 0 } && r.FrontDoor == Gapura.Formats.FrontDoors.OpenAiResponses && r.Status == Gapura.Ledger.UsageStatus.Ok);
    }

    [Fact]
    public async Task Codex_shows_reasoning_streamed_as_a_reasoning_summary()
    {
        var marker = "think-" + Guid.NewGuid().ToString("N")[..10];
        var (exitCode, stdout, stderr) = await RunCodexAsync($"Think, then repeat {marker}",
            "-c", "model_reasoning_effort=\"high\"", "-c", "model_reasoning_summary=\"auto\"", "-c", "model_supports_reasoning_summaries=true");

        Assert.True(exitCode == 0, $"codex exited {exitCode}\nstdout: {stdout}\nstderr: {stderr}");
        // reasoning.effort reached Kiro as thinking mode; the simulator's thinking came back as a reasoning item.
        Assert.Contains(gateway.Kiro.ChatRequests, c => c.Body.Contains(marker, StringComparison.Ordinal) && c.Body.Contains("<thinking_mode>enabled</thinking_mode>", StringComparison.Ordinal));
        Assert.Contains("The user wants an answer", stdout + stderr);
        Assert.Contains(marker, stdout);
    }

    [Fact]
    public async Task Codex_completes_a_shell_tool_round_trip_through_gapura()
    {
        var marker = "gapura-codex-" + Guid.NewGuid().ToString("N")[..12];
        // Codex 0.169 declares its shell as the function tool "exec_command" taking {"cmd": "<command line>"};
        // the simulator turns this directive into a streamed call of it.
        // The command's output (upper case) differs from its text, so only a real run can produce it.
        var prompt = $$"""Run this: [[tool:exec_command {"cmd":"echo {{marker}} | tr a-z A-Z"}]]""";
        var output = marker.ToUpperInvariant();
        var (exitCode, stdout, stderr) = await RunCodexAsync(prompt);

        Assert.True(exitCode == 0, $"codex exited {exitCode}\nstdout: {stdout}\nstderr: {stderr}");
        Assert.Contains("Tool said: ", stdout);
        Assert.Contains(output, stdout[stdout.IndexOf("Tool said: ", StringComparison.Ordinal)..]);

        // The tool result Codex sent back crossed the gateway to Kiro and holds the command's real output.
        var toolResult = gateway.Kiro.ChatRequests
            .Select(c => c.Json?["conversationState"]?["currentMessage"]?["userInputMessage"]?["userInputMessageContext"]?["toolResults"]?[0])
            .LastOrDefault(r => r is not null);
        Assert.NotNull(toolResult);
        Assert.Contains(output, toolResult!.ToJsonString());
        // Codex's shell tool crossed the gateway as a Kiro tool spec; its hosted web_search did not.
        Assert.Contains(gateway.Kiro.ChatRequests, c => c.Body.Contains("\"name\":\"exec_command\"", StringComparison.Ordinal));
    }

    private Task<(int ExitCode, string Stdout, string Stderr)> RunCodexAsync(string prompt, params string[] extraArgs)
        => CodexCli.RunAsync(gateway.BaseUrl, "claude-sonnet-4-5", prompt, extraArgs);
}
