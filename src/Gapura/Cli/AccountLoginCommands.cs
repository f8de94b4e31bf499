using System.CommandLine;
using Gapura.Api.Admin;
using Gapura.Conversations;
using Gapura.Providers.Accounts;
using Gapura.Providers.Anthropic;
using Gapura.Providers.OpenAi;

namespace Gapura.Cli;

/// <summary>
/// <c>gapura login &lt;provider&gt; --user &lt;email&gt;</c> for the providers other than Kiro: a key (<c>--api-key</c>, AWS keys
/// for Bedrock) or a sign-in — Claude for Anthropic, ChatGPT for OpenAI — the URL is printed, the user approves in a browser and
/// pastes back what the page shows. The login is stored for that user in the gateway database, encrypted.
/// Process-wide accounts of these providers come from the settings (<c>Providers:&lt;Name&gt;:…</c>), not from here.
/// </summary>
internal static class AccountLoginCommands
{
    public static void AddTo(Command login, Option<string> user, Option<string> label)
    {
        var apiKey = new Option<string>("--api-key") { Description = "Connect with this API key instead of signing in." };
        login.Subcommands.Add(KeyOrSignIn("anthropic", "Connect a user's Anthropic account: an API key (--api-key) or, without one, a Claude sign-in (Pro/Max).",
            user, label, apiKey, signIn: configuration => new OAuthSignIn(AnthropicProvider.ProviderName,
                new OAuthPkceClient(Gapura.Providers.UpstreamHttp.Create(Gapura.Providers.UpstreamHttp.Handler(), TimeSpan.FromSeconds(60)), ClaudeSignIn.Read(configuration), "Claude"))));

        login.Subcommands.Add(KeyOrSignIn("openai", "Connect a user's OpenAI account: an API key (--api-key) or, without one, a ChatGPT sign-in (Plus/Pro/Team), whose calls go to the Codex backend.",
            user, label, apiKey, signIn: configuration => new OAuthSignIn(OpenAiProvider.ProviderName,
                new OAuthPkceClient(Gapura.Providers.UpstreamHttp.Create(Gapura.Providers.UpstreamHttp.Handler(), TimeSpan.FromSeconds(60)), ChatGptSignIn.Read(configuration), "ChatGPT"), ChatGptSignIn.Finish)));

        var accessKeyId = new Option<string>("--access-key-id") { Description = "AWS access key id." };
        var secretAccessKey = new Option<string>("--secret-access-key") { Description = "AWS secret access key." };
        var sessionToken = new Option<string>("--session-token") { Description = "AWS session token, for temporary credentials." };
        var region = new Option<string>("--region") { Description = "AWS region for this account (default Providers:Bedrock:Region)." };
        var bedrock = Command("bedrock", "Connect a user's AWS account for Amazon Bedrock (access keys).", user, label);
        bedrock.Options.Add(accessKeyId);
        bedrock.Options.Add(secretAccessKey);
        bedrock.Options.Add(sessionToken);
        bedrock.Options.Add(region);
        bedrock.SetAction((parse, ct) => SaveKeyAsync(parse, "bedrock", user, label, new ConnectAccountRequest(null, null, null,
            parse.GetValue(accessKeyId), parse.GetValue(secretAccessKey), parse.GetValue(sessionToken), parse.GetValue(region)), ct));
        login.Subcommands.Add(bedrock);
    }

    /// <summary><c>gapura login &lt;name&gt; --user … --api-key …</c> for an OpenAI-compatible server configured as <c>Providers:Compatible:&lt;name&gt;</c>.</summary>
    internal static Command Compatible(string name, Option<string> user, Option<string> label)
    {
        var apiKey = new Option<string>("--api-key") { Description = "The user's key for this server." };
        var command = Command(name, $"Connect a user's key for the OpenAI-compatible server '{name}'.", user, label);
        command.Options.Add(apiKey);
        command.SetAction(async (parse, ct) =>
        {
            var configuration = LoginCommand.BuildConfiguration([.. parse.UnmatchedTokens]);
            if (string.IsNullOrWhiteSpace(configuration[$"Providers:Compatible:{name}:BaseUrl"]))
            {
                await Console.Out.WriteLineAsync($"login {name}: there is no provider '{name}' (no Providers:Compatible:{name}:BaseUrl). Providers: kiro, anthropic, openai, copilot, bedrock, or a configured compatible server.");
                return 2;
            }
            return await SaveKeyAsync(parse, name, user, label, new ConnectAccountRequest(null, parse.GetValue(apiKey), null, null, null, null, null), ct);
        });
        return command;
    }

    /// <summary>A provider connected by API key, or by its OAuth sign-in when it has one and no key is given.</summary>
    internal static Command KeyOrSignIn(string provider, string description, Option<string> user, Option<string> label, Option<string> apiKey,
        Func<IConfiguration, OAuthSignIn>? signIn, TextReader? input = null)
    {
        var command = Command(provider, description, user, label);
        command.Options.Add(apiKey);
        command.SetAction(async (parse, ct) =>
        {
            if (parse.GetValue(apiKey) is { } key)
                return await SaveKeyAsync(parse, provider, user, label, new ConnectAccountRequest(null, key, null, null, null, null, null), ct);
            if (signIn is null)
            {
                await Console.Out.WriteLineAsync($"login {provider}: --api-key is required ({provider} has no sign-in).");
                return 2;
            }
            var configuration = LoginCommand.BuildConfiguration([.. parse.UnmatchedTokens]);
            return await RunSignInAsync(configuration, signIn(configuration), parse.GetValue(user)!, parse.GetValue(label), input ?? Console.In, Console.Out, ct);
        });
        return command;
    }

    /// <summary>The OAuth sign-in, for a user: print the URL, read back the code, exchange it, store the tokens.</summary>
    internal static Task<int> RunSignInAsync(IConfiguration configuration, OAuthSignIn signIn, string email, string? label, TextReader input, TextWriter output, CancellationToken ct)
        => LoginCommand.ForUserAsync(configuration, signIn.Provider, email, label, output, ct, async (store, user) =>
        {
            var started = signIn.Start();
            using var callback = LoopbackCallback.TryStart(signIn.Client.Options.RedirectUri);
            await output.WriteLineAsync($"Sign in to {AccountKinds.DisplayName(signIn.Provider)} for {user.Email}: open this address and approve:");
            await output.WriteLineAsync("  " + started.AuthorizeUrl);
            await output.WriteAsync(callback is null
                ? "then paste what the page shows (the code, or the whole address you land on): "
                : "Waiting for the browser to come back here; if it runs on another machine, paste the address it lands on: ");
            var pasted = await ReadCodeAsync(input, callback, ct);
            if (string.IsNullOrWhiteSpace(pasted)) throw GatewayException.BadRequest("no code was pasted.");
            var secret = await signIn.CompleteAsync(started, pasted, ct);
            return await UserLogins.SaveAsync(store, user.Id, signIn.Provider, label, secret.Serialize(), LoginCommand.CliAudit(), ct);
        });

    /// <summary>Whichever comes first: the browser reaching the loopback listener, or a line pasted at the terminal.</summary>
    private static async Task<string?> ReadCodeAsync(TextReader input, LoopbackCallback? callback, CancellationToken ct)
    {
        if (callback is null) return await input.ReadLineAsync(ct);
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        // The terminal read may not end when cancelled (a console read blocks); the command returns regardless.
        var typed = input.ReadLineAsync(cancel.Token).AsTask();
        var caught = callback.WaitAsync(cancel.Token);
        var first = await Task.WhenAny(typed, caught);
        await cancel.CancelAsync();
        return await first;
    }

    internal static async Task<int> SaveKeyAsync(ParseResult parse, string provider, Option<string> user, Option<string> label, ConnectAccountRequest request, CancellationToken ct)
    {
        var secret = AccountKinds.FromRequest(provider, request);
        if (secret.Problem() is { } missing)
        {
            await Console.Out.WriteLineAsync($"login {provider}: {missing}");
            return 2;
        }
        var configuration = LoginCommand.BuildConfiguration([.. parse.UnmatchedTokens]);
        return await LoginCommand.ForUserAsync(configuration, provider, parse.GetValue(user)!, parse.GetValue(label), Console.Out, ct,
            (store, account) => UserLogins.SaveAsync(store, account.Id, provider, parse.GetValue(label), secret.Serialize(), LoginCommand.CliAudit(), ct));
    }

    /// <summary>A login subcommand that needs <c>--user</c> (these providers' process-wide accounts are settings).</summary>
    private static Command Command(string provider, string description, Option<string> user, Option<string> label)
    {
        var command = new Command(provider, description + " Needs --user <email>; takes --Storage:…, --Secrets:… like serve.") { TreatUnmatchedTokensAsErrors = false };
        command.Options.Add(user);
        command.Options.Add(label);
        command.Validators.Add(result =>
        {
            if (result.GetValue(user) is null) result.AddError($"login {provider}: --user <email> is required: the login is stored for that gateway user. The gateway's own {provider} account is a setting (Providers:…).");
        });
        return command;
    }
}
