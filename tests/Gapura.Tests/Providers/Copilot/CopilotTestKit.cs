using Gapura.Conversations;
using Gapura.Providers.Copilot;
using Gapura.Providers.OpenAi;
using Gapura.Simulators.Copilot;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gapura.Tests.Providers.Copilot;

/// <summary>Builds the Copilot provider against the simulator (which plays GitHub, GitHub's API and the Copilot API).</summary>
internal static class CopilotTestKit
{
    public static CopilotOptions Options(CopilotSimulator sim) => new()
    {
        GitHubBaseUrl = sim.BaseUrl,
        GitHubApiBaseUrl = sim.BaseUrl,
        RetryBaseDelayMilliseconds = 10,
        MaxRetryDelaySeconds = 1,
    };

    public static (CopilotProvider Provider, CopilotTokenService Tokens, CopilotAccount Account) Provider(CopilotSimulator sim, string? githubToken = null,
        TimeProvider? time = null)
    {
        var options = Options(sim);
        var account = new CopilotAccount("process", githubToken ?? sim.IssueGitHubToken());
        var tokens = new CopilotTokenService(new HttpClient(), options, NullLogger.Instance, time);
        var client = new ChatCompletionsClient(new HttpClient(), CopilotServiceCollectionExtensions.Account(options), NullLogger.Instance, time);
        return (new CopilotProvider(client, tokens, options, CopilotTestKit.Accounts(account), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance), tokens, account);
    }

    /// <summary>Only the gateway's own account, with this GitHub token.</summary>
    public static Gapura.Providers.Accounts.ProviderAccounts Accounts(CopilotAccount account)
        => Gapura.Providers.Accounts.ProviderAccounts.ProcessOnly(CopilotProvider.ProviderName, new Gapura.Providers.Accounts.ProcessAccount(
            new Gapura.Providers.Accounts.AccountSecret { Kind = Gapura.Providers.Accounts.AccountSecret.GitHubKind, GitHubToken = account.GitHubToken }));

    public static Gapura.Routing.ResolvedModel Model(string id = "gpt-4.1") => new("copilot/" + id, new Gapura.Routing.ModelInfo(id, id, 128_000, 16_384, "copilot"));
}

/// <summary>A clock moved by hand.</summary>
internal sealed class HandClock(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;

    public void Advance(TimeSpan by) => Now += by;
}
