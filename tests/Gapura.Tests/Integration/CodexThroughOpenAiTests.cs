using Gapura.Simulators.OpenAi;

namespace Gapura.Tests.Integration;

/// <summary>
/// The real Codex CLI through Gapura to the OpenAI simulator: Codex speaks the Responses API to the gateway,
/// the gateway speaks chat completions to the OpenAI upstream — a plain answer and a shell tool round trip.
/// </summary>
public sealed class CodexThroughOpenAiTests : IAsyncLifetime
{
    private OpenAiSimulator _openAi = null!;
    private readonly GatewayFixture _gateway = new();

    public async Task InitializeAsync()
    {
        _openAi = await OpenAiSimulator.StartAsync();
        _gateway.Settings.Add($"--Providers:OpenAI:ApiKey={OpenAiSimulatorOptions.DefaultApiKey}");
        _gateway.Settings.Add($"--Providers:OpenAI:BaseUrl={_openAi.ApiBaseUrl}");
        await _gateway.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _openAi.DisposeAsync();
    }

    [Fact]
    public async Task Codex_gets_an_answer_and_completes_a_shell_round_trip_through_the_openai_upstream()
    {
        var marker = "gapura-openai-" + Guid.NewGuid().ToString("N")[..10];
        var (exitCode, stdout, stderr) = await CodexCli.RunAsync(_gateway.BaseUrl, "gpt-5", $"Say hello and repeat {marker}");
        Assert.True(exitCode == 0, $"codex exited {exitCode}\nstdout: {stdout}\nstderr: {stderr}");
        Assert.Contains("Hello from the OpenAI simulator", stdout);
        Assert.Contains(_openAi.ChatRequests, r => r.Body.Contains(marker, StringComparison.Ordinal));
        Assert.Equal(0, _gateway.Kiro.ChatCalls);

        var tool = "gapura-openai-tool-" + Guid.NewGuid().ToString("N")[..8];
        var prompt = $$"""Run this: [[tool:exec_command {"cmd":"echo {{tool}} | tr a-z A-Z"}]]""";
        (exitCode, stdout, stderr) = await CodexCli.RunAsync(_gateway.BaseUrl, "gpt-5", prompt);
        Assert.True(exitCode == 0, $"codex exited {exitCode}\nstdout: {stdout}\nstderr: {stderr}");
        Assert.Contains("Tool said: ", stdout);
        Assert.Contains(tool.ToUpperInvariant(), stdout[stdout.IndexOf("Tool said: ", StringComparison.Ordinal)..]);
        // The real command output went back to the OpenAI upstream as a tool message.
        Assert.Contains(_openAi.ChatRequests, r => r.Body.Contains("\"role\":\"tool\"", StringComparison.Ordinal) && r.Body.Contains(tool.ToUpperInvariant(), StringComparison.Ordinal));
    }
}
