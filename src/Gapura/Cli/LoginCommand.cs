using System.CommandLine;
using Gapura.Conversations;
using Gapura.Providers.Kiro;
using Gapura.Providers.Kiro.Auth;
using Microsoft.Extensions.Options;

namespace Gapura.Cli;

internal static class LoginCommand
{
    public static Command Create()
    {
        var login = new Command("login", "Sign in to an upstream provider.");
        var kiro = new Command("kiro", "Sign in to Kiro (AWS Builder ID / IAM Identity Center device flow). Takes --Kiro:StartUrl=…, --Kiro:Region=… like serve.")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        kiro.SetAction(async (parse, ct) =>
        {
            var configuration = BuildConfiguration([.. parse.UnmatchedTokens]);
            using var http = KiroAuthClient.CreateHttpClient();
            return await RunKiroAsync(configuration, KiroAuthEnvironment.FromSystem(), http, Console.Out, ct);
        });
        login.Subcommands.Add(kiro);
        return login;
    }

    /// <summary>The same sources as <c>serve</c>: appsettings.json (beside the binary, then the working directory), environment, command line.</summary>
    internal static IConfiguration BuildConfiguration(string[] args) => new ConfigurationBuilder()
        .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true, reloadOnChange: false)
        .AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true, reloadOnChange: false)
        .AddEnvironmentVariables()
        .AddCommandLine(args)
        .Build();

    internal static async Task<int> RunKiroAsync(IConfiguration configuration, KiroAuthEnvironment environment, HttpClient http, TextWriter output,
        CancellationToken ct, Func<TimeSpan, CancellationToken, Task>? delay = null)
    {
        var options = new KiroOptions();
        configuration.GetSection(KiroOptions.Section).Bind(options);
        var wrapped = Options.Create(options);
        var store = new KiroCredentialStore(wrapped, environment);
        var login = new KiroDeviceLogin(wrapped, new KiroAuthClient(http, wrapped), store, delay: delay);
        try
        {
            var code = await login.StartAsync(ct);
            await output.WriteLineAsync($"Sign in to Kiro at {options.StartUrl}:");
            await output.WriteLineAsync($"  open   {code.VerificationUriComplete}");
            await output.WriteLineAsync($"  or go to {code.VerificationUri} and enter the code {code.UserCode}");
            await output.WriteLineAsync("Waiting for approval…");
            var credential = await login.CompleteAsync(code, ct);
            await output.WriteLineAsync($"Signed in. The login is stored in {credential.Source.Path} (readable by you only); `gapura serve` will use it.");
            return 0;
        }
        catch (GatewayException e)
        {
            await output.WriteLineAsync("login kiro failed: " + e.Message);
            return 1;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await output.WriteLineAsync("login kiro cancelled.");
            return 130;
        }
    }
}
