using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gapura.Api;
using Gapura.Api.Admin;
using Gapura.Identity;
using Gapura.Providers.Kiro.Auth;
using Gapura.Providers.Kiro.Logins;
using Gapura.Routing;
using Gapura.Simulators.Kiro;
using Gapura.Storage;
using Gapura.Tests.Integration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gapura.Tests.Providers.Kiro.Logins;

/// <summary>
/// A real gateway (Kestrel on 127.0.0.1, SQLite in a temp folder) in front of the Kiro simulator, with a
/// process-wide login in a credentials file and the upstream admin endpoints mapped under
/// <c>/admin/api</c> behind a test-only filter that authenticates with the API key (the admin engineer's
/// session/key filter replaces it at merge). One per test: tests change users, logins and settings.
/// </summary>
internal sealed class LoginsGateway : IAsyncDisposable
{
    public const string BootstrapKey = "test-gateway-key-0123456789";
    public const string AdminEmail = "admin@gapura.test";

    private WebApplication _app = null!;

    public KiroSimulator Kiro { get; private set; } = null!;
    public KiroIssuedCredentials ProcessLogin { get; private set; } = null!;
    public string DataDirectory { get; } = Directory.CreateTempSubdirectory("gapura-logins-").FullName;
    public CapturedLogs Logs { get; } = new();
    public string BaseUrl { get; private set; } = "";
    public IServiceProvider Services => _app.Services;
    public IGapuraStore Store => Services.GetRequiredService<IGapuraStore>();

    public static async Task<LoginsGateway> StartAsync(KiroSimulatorOptions? simulator = null, params string[] settings)
    {
        var gateway = new LoginsGateway();
        await gateway.InitializeAsync(simulator ?? new KiroSimulatorOptions(), settings);
        return gateway;
    }

    private async Task InitializeAsync(KiroSimulatorOptions simulator, string[] settings)
    {
        Kiro = await KiroSimulator.StartAsync(simulator);
        ProcessLogin = Kiro.IssueCredentials(KiroLoginKind.Social, TimeSpan.FromHours(1));
        var credentials = Path.Combine(DataDirectory, "kiro-auth-token.json");
        await File.WriteAllTextAsync(credentials, new JsonObject
        {
            ["accessToken"] = ProcessLogin.AccessToken,
            ["refreshToken"] = ProcessLogin.RefreshToken,
            ["expiresAt"] = ProcessLogin.ExpiresAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'"),
            ["profileArn"] = ProcessLogin.ProfileArn,
            ["region"] = ProcessLogin.Region,
            ["authMethod"] = "social",
        }.ToJsonString());

        _app = GatewayHost.Build(
        [
            "--urls=http://127.0.0.1:0",
            $"--Gateway:ApiKey={BootstrapKey}",
            $"--Gateway:AdminEmail={AdminEmail}",
            "--Gateway:AdminPassword=correct-horse-battery-staple-42",
            $"--Storage:Path={Path.Combine(DataDirectory, "gapura.db")}",
            $"--Kiro:Endpoint={Kiro.BaseUrl}",
            $"--Kiro:AuthEndpoint={Kiro.BaseUrl}",
            $"--Kiro:OidcEndpoint={Kiro.BaseUrl}",
            $"--Kiro:CredentialsFile={credentials}",
            "--Kiro:RetryBaseDelayMilliseconds=20",
            // Tests run refresh scans themselves; the timer would race them.
            "--Kiro:LoginRefreshScanSeconds=3600",
            "--Logging:LogLevel:Default=Warning",
            .. settings,
        ], builder => builder.Logging.AddProvider(Logs));
        await _app.StartAsync();
        BaseUrl = _app.Urls.First();
    }

    public HttpClient Http(string? apiKey = BootstrapKey)
    {
        var http = new HttpClient { BaseAddress = new Uri(BaseUrl), Timeout = TimeSpan.FromSeconds(60) };
        if (apiKey is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return http;
    }

    /// <summary>Applies what changed in the database now, rather than within the next second.</summary>
    public async Task SyncAsync()
    {
        await Services.GetRequiredService<IdentitySync>().TickAsync(default);
        await Services.GetRequiredService<StoreChangeSync>().TickAsync(default);
    }

    public async Task<(User User, string Key)> AddUserAsync(string email, UserRole role = UserRole.User)
    {
        var user = await Store.Users.CreateAsync(new NewUser(email, email, role));
        var key = ApiKeys.Generate();
        await Store.ApiKeys.CreateAsync(new NewApiKey(user.Id, "test", key.Prefix, key.Hash));
        await SyncAsync();
        return (user, key.Key);
    }

    public async Task<User> AdminAsync() => (await Store.Users.FindByEmailAsync(AdminEmail))!;

    /// <summary>Stores a login for a user exactly as a device sign-in does, and lets the gateway see it.</summary>
    public async Task<UpstreamLogin> ConnectAsync(long userId, string label, KiroIssuedCredentials login)
    {
        var credential = new KiroCredential(login.AccessToken, login.RefreshToken, login.ExpiresAt, login.ProfileArn, login.Region,
            login.Kind == KiroLoginKind.Social ? "social" : "IdC", login.ClientId, login.ClientSecret, KiroLoginSecret.SourceFor(0));
        var (saved, _) = await KiroUserLogins.SaveAsync(Store, userId, label, credential, null, null, new NewAuditEntry("test", "upstream_login.connect"), default);
        await SyncAsync();
        return saved;
    }

    public static Task<HttpResponseMessage> ChatAsync(HttpClient http, string model = "claude-sonnet-4.5")
        => http.PostAsJsonAsync("/v1/chat/completions", new { model, messages = new[] { new { role = "user", content = "Hello" } } });

    public static Task<HttpResponseMessage> MessagesAsync(HttpClient http, string model = "claude-sonnet-4.5")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages")
        {
            Content = JsonContent.Create(new { model, max_tokens = 100, messages = new[] { new { role = "user", content = "Hello" } } }),
        };
        request.Headers.Add("anthropic-version", "2023-06-01");
        return http.SendAsync(request);
    }

    public string? LastBearer() => Kiro.ChatRequests.LastOrDefault()?.Header("Authorization");

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        await Kiro.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { }
    }
}
