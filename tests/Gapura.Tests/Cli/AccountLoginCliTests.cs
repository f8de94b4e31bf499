using System.Text.Json.Nodes;
using Gapura.Cli;
using Gapura.Providers.Accounts;
using Gapura.Providers.Anthropic;
using Gapura.Providers.OpenAi;
using Gapura.Simulators.OpenAi;
using Gapura.Secrets;
using Gapura.Simulators.Anthropic;
using Gapura.Simulators.Copilot;
using Gapura.Storage;
using Microsoft.Data.Sqlite;

namespace Gapura.Tests.Cli;

/// <summary>
/// <c>gapura login &lt;provider&gt; --user</c> for the providers other than Kiro, against a temporary SQLite file: keys
/// given on the command line, a Claude sign-in pasted back, a Copilot device flow; each stored sealed for the user.
/// </summary>
public sealed class AccountLoginCliTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gapura-login-cli-").FullName;
    private readonly SecretKey _key = SecretKey.Generate();
    private Database _db = null!;
    private GapuraStore _store = null!;

    private string Db => Path.Combine(_dir, "gapura.db");
    private string[] Storage => [$"--Storage:Path={Db}", $"--Secrets:Key={_key.ToBase64()}"];

    public async Task InitializeAsync()
    {
        // The users verb makes the schema; the store then looks at what the login verbs wrote.
        Assert.Equal(0, await GapuraCli.RunAsync(["users", "add", "alice@example.com", .. Storage], new StringWriter(), new StringWriter()));
        _db = new SqliteDatabase(Db);
        _store = new GapuraStore(_db, new SecretBox(new KeyRing(_key)));
    }

    public async Task DisposeAsync()
    {
        await _db.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private async Task<(UpstreamLogin Login, AccountSecret Secret)> StoredAsync(string provider)
    {
        var user = await _store.Users.FindByEmailAsync("alice@example.com");
        var login = Assert.Single(await _store.UpstreamLogins.ListAsync(user!.Id), l => l.Provider == provider);
        return (login, AccountSecret.Parse(await _store.UpstreamLogins.ReadSecretAsync(login.Id)));
    }

    [Fact]
    public async Task Bedrock_keys_on_the_command_line_are_stored_sealed_with_their_region()
    {
        var code = await GapuraCli.RunAsync(["login", "bedrock", "--user", "alice@example.com", "--label", "aws-dev",
            "--access-key-id", "AKIAEXAMPLE0001", "--secret-access-key", "wJalr-secret-0001", "--region", "eu-west-1", .. Storage]);
        Assert.Equal(0, code);
        var (login, secret) = await StoredAsync("bedrock");
        Assert.Equal("aws-dev", login.Label);
        Assert.Equal((AccountSecret.AwsKind, "AKIAEXAMPLE0001", "wJalr-secret-0001", "eu-west-1"), (secret.Kind, secret.AccessKeyId, secret.SecretAccessKey, secret.Region));

        await using var connection = await _db.OpenAsync(default);
        var raw = (await new DbSession(_db, connection, null).Sql("SELECT secret_enc FROM upstream_logins WHERE id = @id").Param("id", login.Id)
            .ListAsync(r => r.String("secret_enc"), default)).Single();
        Assert.DoesNotContain("wJalr-secret-0001", raw);
    }

    [Fact]
    public async Task Incomplete_keys_and_unknown_providers_are_refused_and_store_nothing()
    {
        Assert.Equal(2, await GapuraCli.RunAsync(["login", "bedrock", "--user", "alice@example.com", "--access-key-id", "AKIAONLY", .. Storage]));
        Assert.NotEqual(0, await GapuraCli.RunAsync(["login", "nosuch", "--user", "alice@example.com", "--api-key", "k", .. Storage]));
        Assert.NotEqual(0, await GapuraCli.RunAsync(["login", "openai", "--user", "nobody@example.com", "--api-key", "sk-x", .. Storage]));
        var user = await _store.Users.FindByEmailAsync("alice@example.com");
        Assert.Empty(await _store.UpstreamLogins.ListAsync(user!.Id));
    }

    [Fact]
    public async Task A_compatible_servers_key_is_stored_under_the_servers_name()
    {
        var code = await GapuraCli.RunAsync(["login", "corp", "--user", "alice@example.com", "--api-key", "sk-corp-alice",
            "--Providers:Compatible:corp:BaseUrl=http://127.0.0.1:9/v1", .. Storage]);
        Assert.Equal(0, code);
        Assert.Equal("sk-corp-alice", (await StoredAsync("corp")).Secret.ApiKey);
    }

    [Fact]
    public async Task A_claude_sign_in_pasted_back_is_exchanged_and_stored()
    {
        await using var anthropic = await AnthropicSimulator.StartAsync();
        var configuration = LoginCommand.BuildConfiguration([.. Storage,
            $"--Providers:Anthropic:SignIn:AuthorizeUrl={anthropic.BaseUrl}/oauth/authorize", $"--Providers:Anthropic:SignIn:TokenUrl={anthropic.BaseUrl}/v1/oauth/token"]);
        var signIn = new OAuthSignIn(AnthropicProvider.ProviderName, new OAuthPkceClient(new HttpClient(), ClaudeSignIn.Read(configuration), "Claude"));
        var output = new StringWriter();
        // The user opens the printed address, approves, and pastes what the page shows.
        var input = new BrowserUser(() => anthropic.Approve(PrintedUrl(output)));

        var code = await AccountLoginCommands.RunSignInAsync(configuration, signIn, "alice@example.com", "max", input, output, default);

        Assert.True(code == 0, output.ToString());
        var (login, secret) = await StoredAsync("anthropic");
        Assert.Equal("max", login.Label);
        Assert.Equal(AccountSecret.OAuthKind, secret.Kind);
        Assert.StartsWith("sk-ant-oat01-sim-", secret.AccessToken);
        Assert.False(string.IsNullOrEmpty(secret.RefreshToken));
        Assert.DoesNotContain(secret.AccessToken!, output.ToString());
    }

    [Fact]
    public async Task A_sign_in_redirecting_to_this_machine_is_caught_without_pasting()
    {
        await using var anthropic = await AnthropicSimulator.StartAsync();
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var redirect = $"http://127.0.0.1:{port}/auth/callback";
        var configuration = LoginCommand.BuildConfiguration([.. Storage, $"--Providers:Anthropic:SignIn:RedirectUri={redirect}",
            $"--Providers:Anthropic:SignIn:AuthorizeUrl={anthropic.BaseUrl}/oauth/authorize", $"--Providers:Anthropic:SignIn:TokenUrl={anthropic.BaseUrl}/v1/oauth/token"]);
        var signIn = new OAuthSignIn(AnthropicProvider.ProviderName, new OAuthPkceClient(new HttpClient(), ClaudeSignIn.Read(configuration), "Claude"));
        var output = new SyncWriter();
        using var nobodyTypes = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var run = AccountLoginCommands.RunSignInAsync(configuration, signIn, "alice@example.com", "browser", new SilentTerminal(), output, nobodyTypes.Token);
        var url = await PrintedUrlAsync(output);
        Assert.Contains("Waiting for the browser", output.ToString());

        // The browser lands on the redirect address with the code; a stray request elsewhere does not end the wait.
        var approved = anthropic.Approve(url).Split('#');
        var (code, state) = (approved[0], approved[1]);
        using var browser = new HttpClient();
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await browser.GetAsync($"http://127.0.0.1:{port}/favicon.ico")).StatusCode);
        var landed = await browser.GetAsync($"{redirect}?code={code}&state={state}");
        Assert.Contains("You can close this tab", await landed.Content.ReadAsStringAsync());

        Assert.True(await run == 0, output.ToString());
        var (login, secret) = await StoredAsync("anthropic");
        Assert.Equal("browser", login.Label);
        Assert.StartsWith("sk-ant-oat01-sim-", secret.AccessToken);
    }

    [Fact]
    public async Task A_chatgpt_sign_in_lands_on_the_cli_and_keeps_the_account_id()
    {
        await using var openAi = await OpenAiSimulator.StartAsync();
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var configuration = LoginCommand.BuildConfiguration([.. Storage, $"--Providers:OpenAI:SignIn:RedirectUri=http://localhost:{port}/auth/callback",
            $"--Providers:OpenAI:SignIn:AuthorizeUrl={openAi.OAuthIssuer}{OpenAiSimulator.OAuthAuthorizePath}",
            $"--Providers:OpenAI:SignIn:TokenUrl={openAi.OAuthIssuer}{OpenAiSimulator.OAuthTokenPath}"]);
        var signIn = new OAuthSignIn(OpenAiProvider.ProviderName,
            new OAuthPkceClient(new HttpClient(), ChatGptSignIn.Read(configuration), "ChatGPT"), ChatGptSignIn.Finish);
        var output = new SyncWriter();
        using var nobodyTypes = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        var run = AccountLoginCommands.RunSignInAsync(configuration, signIn, "alice@example.com", null, new SilentTerminal(), output, nobodyTypes.Token);
        var url = await PrintedUrlAsync(output);
        using var browser = new HttpClient();
        var landed = await browser.GetAsync(openAi.Approve(url, accountId: "acct-cli-3"));
        Assert.Equal(System.Net.HttpStatusCode.OK, landed.StatusCode);

        Assert.True(await run == 0, output.ToString());
        var (login, secret) = await StoredAsync("openai");
        Assert.Equal("default", login.Label);
        Assert.Equal((AccountSecret.OAuthKind, "acct-cli-3"), (secret.Kind, secret.AccountId));
        Assert.False(string.IsNullOrEmpty(secret.RefreshToken));
    }

    [Fact]
    public async Task A_copilot_device_flow_for_a_user_stores_the_github_token_after_checking_the_seat()
    {
        await using var copilot = await CopilotSimulator.StartAsync();
        copilot.ScriptPolls(DevicePoll.Pending);
        var configuration = LoginCommand.BuildConfiguration([.. Storage,
            $"--Providers:Copilot:GitHubBaseUrl={copilot.BaseUrl}", $"--Providers:Copilot:GitHubApiBaseUrl={copilot.BaseUrl}"]);
        var output = new StringWriter();

        var code = await CopilotLoginCommand.RunForUserAsync(configuration, "alice@example.com", "gh", new HttpClient(), output, default, (_, _) => Task.CompletedTask);

        Assert.True(code == 0, output.ToString());
        Assert.Equal(1, copilot.Exchanges);
        var (login, secret) = await StoredAsync("copilot");
        Assert.Equal("gh", login.Label);
        Assert.Equal(AccountSecret.GitHubKind, secret.Kind);
        Assert.StartsWith("gho_", secret.GitHubToken);
    }

    /// <summary>A terminal nobody types into: the read ends only when cancelled.</summary>
    private sealed class SilentTerminal : TextReader
    {
        public override async ValueTask<string?> ReadLineAsync(CancellationToken ct)
        {
            await Task.Delay(Timeout.Infinite, ct);
            return null;
        }
    }

    /// <summary>Output read by the test while the command writes it.</summary>
    private sealed class SyncWriter : StringWriter
    {
        public override void Write(char value) { lock (this) base.Write(value); }
        public override void Write(string? value) { lock (this) base.Write(value); }
        public override Task WriteAsync(string? value) { Write(value); return Task.CompletedTask; }
        public override Task WriteLineAsync(string? value) { lock (this) base.WriteLine(value); return Task.CompletedTask; }
        public override string ToString() { lock (this) return base.ToString(); }
    }

    internal static string PrintedUrl(StringWriter output)
        => output.ToString().Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("http", StringComparison.Ordinal));

    /// <summary>The sign-in address, once the command running beside the test has printed it (5 s at most).</summary>
    private static async Task<string> PrintedUrlAsync(StringWriter output)
    {
        for (var i = 0; i < 200; i++)
        {
            if (output.ToString().Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("http", StringComparison.Ordinal)) is { } url) return url;
            await Task.Delay(25);
        }
        throw new TimeoutException("The sign-in address was not printed: " + output);
    }

    /// <summary>Stands for the person at the terminal: reads nothing until asked, then pastes what the browser showed.</summary>
    internal sealed class BrowserUser(Func<string> paste) : TextReader
    {
        public override string? ReadLine() => paste();

        public override ValueTask<string?> ReadLineAsync(CancellationToken ct) => ValueTask.FromResult<string?>(paste());
    }
}
