using System.CommandLine;
using Gapura.Conversations;
using Gapura.Providers.Accounts;
using Gapura.Providers.Kiro;
using Gapura.Providers.Kiro.Auth;
using Gapura.Providers.Kiro.Logins;
using Gapura.Secrets;
using Gapura.Storage;
using Gapura.Storage.Migrations;
using Microsoft.Extensions.Options;

namespace Gapura.Cli;

internal static class LoginCommand
{
    /// <param name="args">The whole command line: <c>gapura login &lt;name&gt;</c> with the name of an OpenAI-compatible server adds that server's command.</param>
    public static Command Create(string[]? args = null)
    {
        var login = new Command("login", "Sign in to an upstream provider, for the gateway itself or (--user <email>) for one of its users. A configured OpenAI-compatible server takes a user's key by its name: gapura login <name> --user <email> --api-key <key>.");
        var user = new Option<string>("--user")
        {
            Description = "Connect the login to this gateway user (email) and store it in the gateway database, encrypted, instead of ~/.gapura.",
        };
        var label = new Option<string>("--label")
        {
            Description = $"With --user: a name for this login, so a user can connect several (default '{KiroUserLogins.DefaultLabel}'). Signing in again under a label replaces that login.",
        };
        var kiro = new Command("kiro", "Sign in to Kiro (AWS Builder ID / IAM Identity Center device flow). Takes --Kiro:StartUrl=…, --Kiro:Region=…, --Storage:…, --Secrets:… like serve.")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        kiro.Options.Add(user);
        kiro.Options.Add(label);
        kiro.SetAction(async (parse, ct) =>
        {
            var configuration = BuildConfiguration([.. parse.UnmatchedTokens]);
            using var http = KiroAuthClient.CreateHttpClient();
            if (parse.GetValue(user) is { } email)
                return await RunKiroForUserAsync(configuration, email, parse.GetValue(label), http, Console.Out, ct);
            if (parse.GetValue(label) is not null)
            {
                await Console.Out.WriteLineAsync("login kiro: --label needs --user <email> (logins without --user are stored in ~/.gapura).");
                return 2;
            }
            return await RunKiroAsync(configuration, KiroAuthEnvironment.FromSystem(), http, Console.Out, ct);
        });
        login.Subcommands.Add(kiro);
        AccountLoginCommands.AddTo(login, user, label);
        login.Subcommands.Add(CopilotLoginCommand.Create(user, label));
        if (args is ["login", var name, ..] && !name.StartsWith('-') && login.Subcommands.All(c => c.Name != name))
            login.Subcommands.Add(AccountLoginCommands.Compatible(name, user, label));
        return login;
    }

    /// <summary>The same sources as <c>serve</c>: appsettings.json (beside the binary, then the working directory), environment, command line.</summary>
    internal static IConfiguration BuildConfiguration(string[] args) => new ConfigurationBuilder()
        .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true, reloadOnChange: false)
        .AddJsonFile(Path.Combine(Directory.GetCurrentDirectory(), "appsettings.json"), optional: true, reloadOnChange: false)
        .AddEnvironmentVariables()
        .AddCommandLine(args)
        .Build();

    /// <summary>
    /// <c>gapura login kiro --user &lt;email&gt;</c>: the same device flow, but the login is stored for that gateway
    /// user in the database (sealed with the secrets key), where every running gateway picks it up within a second.
    /// </summary>
    internal static Task<int> RunKiroForUserAsync(IConfiguration configuration, string email, string? label, HttpClient http, TextWriter output,
        CancellationToken ct, Func<TimeSpan, CancellationToken, Task>? delay = null)
    {
        var options = new KiroOptions();
        configuration.GetSection(KiroOptions.Section).Bind(options);
        var wrapped = Options.Create(options);
        return ForUserAsync(configuration, "kiro", email, label, output, ct, async (store, user) =>
        {
            // The device flow itself is the one `gapura login kiro` runs; only where the login lands differs.
            var login = new KiroDeviceLogin(wrapped, new KiroAuthClient(http, wrapped), new KiroCredentialStore(wrapped, KiroAuthEnvironment.FromSystem()), delay: delay);
            var code = await login.StartAsync(ct);
            await output.WriteLineAsync($"Sign in to Kiro at {options.StartUrl} for {user.Email}:");
            await output.WriteLineAsync($"  open   {code.VerificationUriComplete}");
            await output.WriteLineAsync($"  or go to {code.VerificationUri} and enter the code {code.UserCode}");
            await output.WriteLineAsync("Waiting for approval…");
            var credential = await login.WaitForApprovalAsync(code, ct);
            return await KiroUserLogins.SaveAsync(store, user.Id, label, credential, code.StartUrl, code.ClientSecretExpiresAt, CliAudit(), ct);
        });
    }

    internal static NewAuditEntry CliAudit() => new($"cli:{Environment.UserName}", "upstream_login.connect", RemoteAddr: "local");

    /// <summary>
    /// The frame of every <c>gapura login &lt;provider&gt; --user &lt;email&gt;</c>: the same start-up checks as serve (a schema
    /// to write into, the key that opens what is there), the user looked up by email, then <paramref name="connect"/>
    /// signs in and stores the login — sealed with the secrets key, where every running gateway picks it up within a second.
    /// </summary>
    internal static async Task<int> ForUserAsync(IConfiguration configuration, string provider, string email, string? label, TextWriter output, CancellationToken ct,
        Func<IGapuraStore, User, Task<(UpstreamLogin Login, bool Replaced)>> connect)
    {
        if (UserLogins.ValidateLabel(label) is { } problem)
        {
            await output.WriteLineAsync($"login {provider}: " + problem);
            return 2;
        }
        await using var services = new ServiceCollection()
            .AddLogging(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning))
            .AddGapuraStorage(configuration)
            .BuildServiceProvider();
        try
        {
            await services.GetRequiredService<Migrator>().MigrateAsync(ct);
            await services.GetRequiredService<SecretsStartupCheck>().RunAsync(ct);
            var store = services.GetRequiredService<IGapuraStore>();
            var user = await store.Users.FindByEmailAsync(email.Trim(), ct);
            if (user is null)
            {
                await output.WriteLineAsync($"login {provider} failed: there is no gateway user with the email '{email.Trim()}'. Create the user first.");
                return 1;
            }
            var (saved, replaced) = await connect(store, user);
            await output.WriteLineAsync($"{(replaced ? "Replaced" : "Stored")} {AccountKinds.DisplayName(provider)} login '{saved.Label}' (#{saved.Id}) of {user.Email} in the gateway database, encrypted; running gateways use it within a second.");
            return 0;
        }
        catch (GatewayException e)
        {
            await output.WriteLineAsync($"login {provider} failed: " + e.Message);
            return 1;
        }
        catch (Exception e) when (e is StorageException or SecretKeyException or SecretDecryptionException or InvalidOperationException)
        {
            // A database that cannot be reached, a wrong key, a bad Storage:Provider: the message says what to fix.
            await output.WriteLineAsync($"login {provider} failed: " + e.Message);
            return 1;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await output.WriteLineAsync($"login {provider} cancelled.");
            return 130;
        }
    }

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
