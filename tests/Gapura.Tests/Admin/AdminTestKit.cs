using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Gapura.Identity;
using Gapura.Storage;
using Gapura.Tests.Integration;
using Gapura.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Admin;

/// <summary>An answer of the admin API: status, headers and the parsed JSON body (null when empty).</summary>
internal sealed record AdminResponse(HttpStatusCode Status, HttpResponseHeaders Headers, JsonNode? Json)
{
    public string ErrorType => Json?["error"]?["type"]?.GetValue<string>() ?? "";
    public string ErrorMessage => Json?["error"]?["message"]?.GetValue<string>() ?? "";
    public string? ErrorParam => Json?["error"]?["param"]?.GetValue<string>();

    public override string ToString() => $"{(int)Status} {Json?.ToJsonString()}";
}

/// <summary>
/// A client of the admin API as a browser (session cookie + CSRF header, handled by hand so tests can
/// drop or forge either) or as a script (an API key).
/// </summary>
internal sealed class AdminClient : IDisposable
{
    private readonly HttpClient _http;

    /// <param name="from">
    /// The loopback address to connect from (127.0.0.2, say): the gateway sees it as the client's address, so a test can
    /// play callers at different addresses. Null: the system's choice (127.0.0.1).
    /// </param>
    public AdminClient(string baseUrl, string? apiKey = null, IPAddress? from = null)
    {
        var handler = new SocketsHttpHandler { UseCookies = false };
        if (from is not null)
        {
            handler.ConnectCallback = async (context, ct) =>
            {
                var socket = new System.Net.Sockets.Socket(from.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(from, 0));
                    await socket.ConnectAsync(context.DnsEndPoint, ct);
                    return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }
        _http = new HttpClient(handler) { BaseAddress = new Uri(baseUrl), Timeout = TimeSpan.FromSeconds(60) };
        ApiKey = apiKey;
    }

    public string? ApiKey { get; set; }
    public string? SessionCookie { get; set; }
    public string? Csrf { get; set; }

    /// <summary>Headers sent with every request (an <c>X-Forwarded-For</c>, say).</summary>
    public System.Net.Http.Headers.HttpRequestHeaders Headers => _http.DefaultRequestHeaders;

    /// <summary>The raw Set-Cookie header of the last sign-in.</summary>
    public string? LastSetCookie { get; private set; }

    public Task<AdminResponse> GetAsync(string path) => SendAsync(HttpMethod.Get, path);
    public Task<AdminResponse> PostAsync(string path, JsonNode? body = null) => SendAsync(HttpMethod.Post, path, body);
    public Task<AdminResponse> PatchAsync(string path, JsonNode? body) => SendAsync(HttpMethod.Patch, path, body);
    public Task<AdminResponse> PutAsync(string path, JsonNode? body) => SendAsync(HttpMethod.Put, path, body);
    public Task<AdminResponse> DeleteAsync(string path, JsonNode? body = null) => SendAsync(HttpMethod.Delete, path, body);

    public async Task<AdminResponse> SendAsync(HttpMethod method, string path, JsonNode? body = null, bool sendCsrf = true)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null) request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        if (ApiKey is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
        if (SessionCookie is not null) request.Headers.Add("Cookie", $"gapura_session={SessionCookie}");
        if (sendCsrf && Csrf is not null) request.Headers.Add("X-CSRF-Token", Csrf);
        using var response = await _http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (response.Headers.TryGetValues("Set-Cookie", out var cookies))
        {
            foreach (var c in cookies.Where(c => c.StartsWith("gapura_session=", StringComparison.Ordinal)))
            {
                LastSetCookie = c;
                var value = c["gapura_session=".Length..].Split(';')[0];
                SessionCookie = value.Length == 0 ? null : value;
            }
        }
        return new AdminResponse(response.StatusCode, response.Headers, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    /// <summary>Signs in; on success the client carries the cookie and CSRF token from then on.</summary>
    public async Task<AdminResponse> SignInAsync(string email, string password, string? totp = null, string? recoveryCode = null)
    {
        var body = new JsonObject { ["email"] = email, ["password"] = password };
        if (totp is not null) body["totp"] = totp;
        if (recoveryCode is not null) body["recovery_code"] = recoveryCode;
        var response = await PostAsync("/admin/api/session", body);
        if (response.Status == HttpStatusCode.OK) Csrf = response.Json!["csrf_token"]!.GetValue<string>();
        return response;
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>
/// A fresh gateway per test (its own database) with helpers for the admin API. Subclasses pick the back
/// end: SQLite by default, PostgreSQL through <see cref="PostgresAdminTestBase"/>.
/// </summary>
public abstract class AdminTestBase : IAsyncLifetime
{
    protected const string Password = "Sturdy-password-2026";

    private protected GatewayFixture Gateway { get; private set; } = null!;

    /// <summary>Extra settings, or a fixture without the bootstrap admin.</summary>
    protected virtual bool BootstrapAdmin => true;

    protected virtual Task<IEnumerable<string>> StorageSettingsAsync() => Task.FromResult<IEnumerable<string>>([]);

    protected virtual IEnumerable<string> ExtraSettings => [];

    /// <summary>Services replacing the gateway's own (a hand-moved clock, say).</summary>
    private protected virtual Action<IServiceCollection>? ConfigureServices => null;

    public async Task InitializeAsync()
    {
        Gateway = new GatewayFixture { BootstrapAdmin = BootstrapAdmin, ConfigureServices = ConfigureServices };
        Gateway.Settings.AddRange(await StorageSettingsAsync());
        Gateway.Settings.AddRange(ExtraSettings);
        await Gateway.InitializeAsync();
    }

    public async Task DisposeAsync() => await Gateway.DisposeAsync();

    private protected IGapuraStore Store => Gateway.Services.GetRequiredService<IGapuraStore>();

    /// <summary>A client authenticated with the bootstrap admin's configured key.</summary>
    private protected AdminClient AdminByKey() => new(Gateway.BaseUrl, GatewayFixture.ApiKey);

    private protected AdminClient Anonymous(IPAddress? from = null) => new(Gateway.BaseUrl, from: from);

    /// <summary>Creates a user through the API (as the bootstrap admin) and returns their id.</summary>
    private protected async Task<long> CreateUserAsync(string email, string role = "user", string? password = Password)
    {
        using var admin = AdminByKey();
        var body = new JsonObject { ["email"] = email, ["display_name"] = email.Split('@')[0], ["role"] = role };
        if (password is not null) body["password"] = password;
        var response = await admin.PostAsync("/admin/api/users", body);
        Assert.True(response.Status == HttpStatusCode.Created, response.ToString());
        return response.Json!["id"]!.GetValue<long>();
    }

    private protected async Task<AdminClient> SignedInAsync(string email, string password = Password)
    {
        var client = Anonymous();
        var response = await client.SignInAsync(email, password);
        Assert.True(response.Status == HttpStatusCode.OK, response.ToString());
        return client;
    }

    /// <summary>Polls <paramref name="condition"/> until true or <paramref name="within"/> passes; returns how long it took.</summary>
    private protected static async Task<TimeSpan> EventuallyAsync(Func<Task<bool>> condition, TimeSpan within, string what)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            if (await condition()) return clock.Elapsed;
            if (clock.Elapsed > within) Assert.Fail($"Not within {within.TotalSeconds} s: {what}");
            await Task.Delay(100);
        }
    }

    private protected async Task<HttpStatusCode> ModelsStatusAsync(string key)
    {
        using var http = Gateway.Http(key);
        using var response = await http.GetAsync("/v1/models");
        return response.StatusCode;
    }

    private protected async Task<IReadOnlyList<AuditEntry>> AuditAsync() => await Store.Audit.ListAsync(new AuditQuery(Limit: 1000));

    private protected static long UserIdOf(AdminResponse r) => r.Json!["user"]!["id"]!.GetValue<long>();

    private protected static bool IsKey(string? text) => ApiKeys.LooksLikeKey(text);
}

/// <summary>Settings that put a test's gateway on PostgreSQL, in a schema of its own in the private cluster.</summary>
internal static class PostgresGateway
{
    public static async Task<IEnumerable<string>> SettingsAsync(PostgresCluster cluster, string testClass)
    {
        var cs = await cluster.CreateIsolatedAsync(testClass);
        // Several instances would share this key; the key file is a single-machine convenience.
        var key = Convert.ToBase64String(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        return ["--Storage:Provider=postgres", $"--ConnectionStrings:Postgres={cs}", $"--Secrets:Key={key}"];
    }
}
