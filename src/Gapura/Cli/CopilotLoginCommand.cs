using System.CommandLine;
using Gapura.Conversations;
using Gapura.Providers.Copilot;
using Gapura.Providers.Kiro.Auth;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gapura.Cli;

/// <summary>
/// <c>gapura login copilot</c>: GitHub's device flow, one Copilot token exchange to check the account has
/// Copilot, then the GitHub token saved in <c>~/.gapura/copilot.json</c> (mode 600), where <c>gapura serve</c>
/// finds it when <c>Providers:Copilot:GitHubToken</c> is not set.
/// </summary>
internal static class CopilotLoginCommand
{
    public static Command Create()
    {
        var copilot = new Command("copilot", "Sign in to GitHub Copilot (GitHub device flow). Takes --Providers:Copilot:…=… settings like serve.")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        copilot.SetAction(async (parse, ct) =>
        {
            using var http = CopilotServiceCollectionExtensions.CreateExchangeHttpClient();
            return await RunAsync(LoginCommand.BuildConfiguration([.. parse.UnmatchedTokens]), KiroAuthEnvironment.FromSystem(), http, Console.Out, ct);
        });
        return copilot;
    }

    internal static async Task<int> RunAsync(IConfiguration configuration, KiroAuthEnvironment environment, HttpClient http, TextWriter output,
        CancellationToken ct, Func<TimeSpan, CancellationToken, Task>? delay = null)
    {
        var options = configuration.GetSection(CopilotOptions.Section).Get<CopilotOptions>() ?? new CopilotOptions();
        var flow = new GitHubDeviceFlow(http, options, delay: delay);
        try
        {
            var code = await flow.StartAsync(ct);
            await output.WriteLineAsync("Sign in to GitHub for Copilot:");
            await output.WriteLineAsync($"  go to {code.VerificationUri} and enter the code {code.UserCode}");
            await output.WriteLineAsync("Waiting for approval…");
            var githubToken = await flow.WaitForTokenAsync(code, ct);
            // Saving a sign-in that cannot get Copilot tokens would only fail later, at the first request.
            var copilot = await new CopilotTokenService(http, options, NullLogger.Instance).ExchangeAsync(new CopilotAccount("new login", githubToken), ct);
            CopilotLoginFile.Save(environment.HomeDirectory, githubToken, DateTimeOffset.UtcNow);
            await output.WriteLineAsync($"Signed in; the account has Copilot (API {copilot.ApiBaseUrl}). The login is stored in " +
                $"{CopilotLoginFile.PathIn(environment.HomeDirectory)} (readable by you only); `gapura serve` will use it.");
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
