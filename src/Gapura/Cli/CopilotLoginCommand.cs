using System.CommandLine;
using Gapura.Conversations;
using Gapura.Providers.Accounts;
using Gapura.Providers.Copilot;
using Gapura.Providers.Kiro.Auth;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gapura.Cli;

/// <summary>
/// <c>gapura login copilot</c>: GitHub's device flow, one Copilot token exchange to check the account has
/// Copilot, then the GitHub token saved in <c>~/.gapura/copilot.json</c> (mode 600), where <c>gapura serve</c>
/// finds it when <c>Providers:Copilot:GitHubToken</c> is not set. With <c>--user &lt;email&gt;</c> the GitHub
/// token is stored for that gateway user instead, encrypted in the gateway database.
/// </summary>
internal static class CopilotLoginCommand
{
    public static Command Create(Option<string> user, Option<string> label)
    {
        var copilot = new Command("copilot", "Sign in to GitHub Copilot (GitHub device flow), for the gateway (saved in ~/.gapura) or, with --user <email>, for one of its users. Takes --Providers:Copilot:…=…, --Storage:…, --Secrets:… settings like serve.")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        copilot.Options.Add(user);
        copilot.Options.Add(label);
        copilot.SetAction(async (parse, ct) =>
        {
            using var http = CopilotServiceCollectionExtensions.CreateExchangeHttpClient();
            var configuration = LoginCommand.BuildConfiguration([.. parse.UnmatchedTokens]);
            if (parse.GetValue(user) is { } email)
                return await RunForUserAsync(configuration, email, parse.GetValue(label), http, Console.Out, ct);
            if (parse.GetValue(label) is not null)
            {
                await Console.Out.WriteLineAsync("login copilot: --label needs --user <email> (a login without --user is stored in ~/.gapura).");
                return 2;
            }
            return await RunAsync(configuration, KiroAuthEnvironment.FromSystem(), http, Console.Out, ct);
        });
        return copilot;
    }

    /// <summary>The same device flow and check, the GitHub token stored for a gateway user.</summary>
    internal static Task<int> RunForUserAsync(IConfiguration configuration, string email, string? label, HttpClient http, TextWriter output,
        CancellationToken ct, Func<TimeSpan, CancellationToken, Task>? delay = null)
        => LoginCommand.ForUserAsync(configuration, CopilotProvider.ProviderName, email, label, output, ct, async (store, account) =>
        {
            var githubToken = await SignInAsync(configuration, http, output, ct, delay);
            var secret = new AccountSecret { Kind = AccountSecret.GitHubKind, GitHubToken = githubToken };
            return await UserLogins.SaveAsync(store, account.Id, CopilotProvider.ProviderName, label, secret.Serialize(), LoginCommand.CliAudit(), ct);
        });

    /// <summary>GitHub's device flow, then one exchange: saving a sign-in that cannot get Copilot tokens would only fail at the first request.</summary>
    private static async Task<string> SignInAsync(IConfiguration configuration, HttpClient http, TextWriter output, CancellationToken ct,
        Func<TimeSpan, CancellationToken, Task>? delay)
    {
        var options = configuration.GetSection(CopilotOptions.Section).Get<CopilotOptions>() ?? new CopilotOptions();
        var flow = new GitHubDeviceFlow(http, options, delay: delay);
        var code = await flow.StartAsync(ct);
        await output.WriteLineAsync("Sign in to GitHub for Copilot:");
        await output.WriteLineAsync($"  go to {code.VerificationUri} and enter the code {code.UserCode}");
        await output.WriteLineAsync("Waiting for approval…");
        var githubToken = await flow.WaitForTokenAsync(code, ct);
        var copilot = await new CopilotTokenService(http, options, NullLogger.Instance).ExchangeAsync(new CopilotAccount("new login", githubToken), ct);
        await output.WriteLineAsync($"Signed in; the account has Copilot (API {copilot.ApiBaseUrl}).");
        return githubToken;
    }

    internal static async Task<int> RunAsync(IConfiguration configuration, KiroAuthEnvironment environment, HttpClient http, TextWriter output,
        CancellationToken ct, Func<TimeSpan, CancellationToken, Task>? delay = null)
    {
        try
        {
            var githubToken = await SignInAsync(configuration, http, output, ct, delay);
            CopilotLoginFile.Save(environment.HomeDirectory, githubToken, DateTimeOffset.UtcNow);
            await output.WriteLineAsync($"The login is stored in {CopilotLoginFile.PathIn(environment.HomeDirectory)} (readable by you only); `gapura serve` will use it.");
            return 0;
        }
        catch (GatewayException e)
        {
            await output.WriteLineAsync("login copilot failed: " + e.Message);
            return 1;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await output.WriteLineAsync("login copilot cancelled.");
            return 130;
        }
    }
}
