using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gapura.Simulators.Kiro;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Hosting;

/// <summary>
/// The first start as a newcomer makes it: the real <c>gapura serve</c> process in an empty folder, nothing configured but
/// where Kiro is (the simulator). The generated key works at once — for the API, the admin API and the real Claude Code
/// given only ANTHROPIC_BASE_URL and the key — and the owner can be claimed from the CLI afterwards.
/// </summary>
public sealed class FirstStartTests : IAsyncLifetime
{
    private readonly string _work = Directory.CreateTempSubdirectory("gapura-first-start-").FullName;
    private KiroSimulator _kiro = null!;
    private GapuraProcess _gateway = null!;

    private string Data => Path.Combine(_work, "data");

    public async Task InitializeAsync()
    {
        _kiro = await KiroSimulator.StartAsync();
        var login = Path.Combine(_work, "kiro-auth-token.json");
        await GatewayFixture.WriteKiroLoginAsync(_kiro, login);
        _gateway = await GapuraProcess.ServeAsync(_work,
            $"--Kiro:Endpoint={_kiro.BaseUrl}", $"--Kiro:AuthEndpoint={_kiro.BaseUrl}", $"--Kiro:OidcEndpoint={_kiro.BaseUrl}", $"--Kiro:CredentialsFile={login}");
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _kiro.DisposeAsync();
        try { Directory.Delete(_work, recursive: true); } catch (IOException) { }
    }

    private string Key => File.ReadAllText(Path.Combine(Data, "api-key")).Trim();

    private HttpClient Client()
    {
        var http = new HttpClient { BaseAddress = new Uri(_gateway.BaseUrl), Timeout = TimeSpan.FromSeconds(60) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        return http;
    }

    [Fact]
    public async Task The_generated_key_answers_models_a_chat_and_the_admin_api_at_once_and_the_owner_is_claimed_from_the_cli()
    {
        using var http = Client();

        var models = await http.GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.OK, models.StatusCode);
        var chat = await http.PostAsJsonAsync("/v1/chat/completions", new JsonObject
        {
            ["model"] = "claude-sonnet-4-5",
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Say hello." }),
        });
        var answer = await chat.Content.ReadAsStringAsync();
        Assert.True(chat.StatusCode == HttpStatusCode.OK, answer);
        Assert.Contains(KiroDefaultResponder.Greeting, answer);

        var me = JsonNode.Parse(await http.GetStringAsync("/admin/api/me"))!;
        Assert.Equal(("admin", false), (me["user"]!["role"]!.GetValue<string>(), me["user"]!["has_password"]!.GetValue<bool>()));

        // What start-up printed is true: the key works now, and it says how to give the owner an e-mail and password.
        Assert.Contains("works now", _gateway.Stdout);
        Assert.Contains("gapura users claim", _gateway.Stdout);
        Assert.Equal("", _gateway.Stderr);

        var claim = await GapuraProcess.RunAsync(_work, "users", "claim", "me@example.com", "--password", "a-long-enough-passphrase-1");
        Assert.True(claim.ExitCode == 0, claim.Stderr);
        using var signIn = new HttpClient { BaseAddress = new Uri(_gateway.BaseUrl) };
        var session = await signIn.PostAsJsonAsync("/admin/api/session", new JsonObject { ["email"] = "me@example.com", ["password"] = "a-long-enough-passphrase-1" });
        Assert.Equal(HttpStatusCode.OK, session.StatusCode);
        // The key stays the owner's: it works on, now under the owner's e-mail.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        string email;
        while ((email = JsonNode.Parse(await http.GetStringAsync("/admin/api/me"))!["user"]!["email"]!.GetValue<string>()) != "me@example.com" && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.Equal("me@example.com", email);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/models")).StatusCode);

        var again = await GapuraProcess.RunAsync(_work, "users", "claim", "other@example.com", "--password", "a-long-enough-passphrase-2");
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("no unclaimed owner", again.Stderr);
    }

    [Fact]
    public async Task The_data_folder_is_700_and_the_files_holding_secrets_are_600()
    {
        if (OperatingSystem.IsWindows()) return;
        const UnixFileMode folder = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        const UnixFileMode file = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var http = Client();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/models")).StatusCode);

        Assert.Equal(folder, File.GetUnixFileMode(Data));
        foreach (var name in new[] { "api-key", "gapura.key", "gapura.db" })
            Assert.Equal((name, file), (name, File.GetUnixFileMode(Path.Combine(Data, name))));
    }

    [Fact]
    public async Task Claude_code_answers_with_only_the_base_url_and_the_generated_key()
    {
        var home = Directory.CreateTempSubdirectory("gapura-claude-home-").FullName;
        var work = Directory.CreateTempSubdirectory("gapura-claude-work-").FullName;
        try
        {
            // The README's one line: ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY=$(cat data/api-key), no model, nothing else.
            var (exitCode, stdout, stderr) = await ClaudeCodeCli.RunAsync(_gateway.BaseUrl, Key, home, work, "Say hello.");
            Assert.True(exitCode == 0, $"claude exited {exitCode}\nstdout: {stdout}\nstderr: {stderr}\ngateway: {_gateway.Stdout}");
            Assert.Contains(KiroDefaultResponder.Greeting.Trim(), stdout);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
            Directory.Delete(work, recursive: true);
        }
    }
}
