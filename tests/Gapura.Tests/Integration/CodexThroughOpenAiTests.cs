using Gapura.Providers.Accounts;
using Gapura.Simulators.OpenAi;
using Gapura.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Integration;

/// <summary>
/// The real Codex CLI through Gapura to the OpenAI simulator, a plain answer and a shell tool round trip, for
/// both upstream APIs of the OpenAI account: <c>chat</c> (Responses front door → chat completions upstream,
/// translated) and <c>responses</c> (Responses front door → Responses upstream, passed through unchanged) — and
/// for a caller whose OpenAI account is a ChatGPT sign-in, passed through to the ChatGPT Codex backend.
/// </summary>
public sealed class CodexThroughOpenAiTests
{
    [Theory]
    [InlineData("chat")]
    [InlineData("responses")]
    [InlineData("chatgpt")]
    public async Task Codex_gets_an_answer_and_completes_a_shell_round_trip_through_the_openai_upstream(string api)
    {
        await using var openAi = await OpenAiSimulator.StartAsync();
        var gateway = new GatewayFixture();
        var chatGpt = api == "chatgpt";
        // A ChatGPT sign-in replaces the gateway's key: the calling user's own account goes to the Codex backend.
        if (!chatGpt) gateway.Settings.Add($"--Providers:OpenAI:ApiKey={OpenAiSimulatorOptions.DefaultApiKey}");
        gateway.Settings.Add($"--Providers:OpenAI:BaseUrl={openAi.ApiBaseUrl}");
        gateway.Settings.Add($"--Providers:OpenAI:ChatGptBaseUrl={openAi.CodexBackendUrl}");
        if (!chatGpt) gateway.Settings.Add($"--Providers:OpenAI:Api={api}");
        await gateway.InitializeAsync();
        try
        {
            if (chatGpt) await SignInToChatGptAsync(gateway);
            var passthrough = api != "chat";
            var upstream = () => chatGpt ? openAi.CodexBackendRequests : passthrough ? openAi.ResponsesRequests : openAi.ChatRequests;
            var marker = "gapura-openai-" + Guid.NewGuid().ToString("N")[..10];
            var (exitCode, stdout, stderr) = await CodexCli.RunAsync(gateway.BaseUrl, "gpt-5", $"Say hello and repeat {marker}");
            Assert.True(exitCode == 0, $"codex exited {exitCode}\nstdout: {stdout}\nstderr: {stderr}");
            Assert.Contains("Hello from the OpenAI simulator", stdout);
            Assert.Contains(upstream(), r => r.Body.Contains(marker, StringComparison.Ordinal));
            Assert.Equal(0, gateway.Kiro.ChatCalls);
            // One upstream API only: the other endpoint is never asked.
            Assert.Equal(0, passthrough ? openAi.ChatCalls : openAi.ResponsesCalls);
            if (chatGpt) Assert.Empty(openAi.ResponsesRequests);

            var tool = "gapura-openai-tool-" + Guid.NewGuid().ToString("N")[..8];
            var prompt = $$"""Run this: [[tool:exec_command {"cmd":"echo {{tool}} | tr a-z A-Z"}]]""";
            (exitCode, stdout, stderr) = await CodexCli.RunAsync(gateway.BaseUrl, "gpt-5", prompt);
            Assert.True(exitCode == 0, $"codex exited {exitCode}\nstdout: {stdout}\nstderr: {stderr}");
            Assert.Contains("Tool said: ", stdout);
            Assert.Contains(tool.ToUpperInvariant(), stdout[stdout.IndexOf("Tool said: ", StringComparison.Ordinal)..]);
            // The real command output went back to the OpenAI upstream: a tool message, or Codex's own function_call_output item.
            var toolResult = passthrough ? "\"type\":\"function_call_output\"" : "\"role\":\"tool\"";
            Assert.Contains(upstream(), r => r.Body.Contains(toolResult, StringComparison.Ordinal) && r.Body.Contains(tool.ToUpperInvariant(), StringComparison.Ordinal));
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    /// <summary>The key Codex uses belongs to the gateway's first admin: that user's ChatGPT sign-in, stored as the sign-in flow would.</summary>
    private static async Task SignInToChatGptAsync(GatewayFixture gateway)
    {
        var store = gateway.Services.GetRequiredService<IGapuraStore>();
        var admin = await store.Users.FindByEmailAsync(GatewayFixture.AdminEmail) ?? throw new InvalidOperationException("no first admin");
        var secret = new AccountSecret
        {
            Kind = AccountSecret.OAuthKind,
            AccessToken = OpenAiSimulatorOptions.DefaultChatGptAccessToken,
            RefreshToken = "unused",
            ExpiresAtUnixSeconds = DateTimeOffset.UtcNow.AddHours(8).ToUnixTimeSeconds(),
            AccountId = OpenAiSimulatorOptions.DefaultChatGptAccountId,
        };
        var (login, _) = await UserLogins.SaveAsync(store, admin.Id, "openai", "plus", secret.Serialize(), new NewAuditEntry("test", "upstream_login.connect"), default);
        await gateway.Services.GetRequiredService<AccountPool>().ReloadLoginAsync(login.Id, default);
    }
}
