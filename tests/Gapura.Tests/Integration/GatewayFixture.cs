using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Gapura.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Gapura.Simulators.Kiro;

namespace Gapura.Tests.Integration;

/// <summary>
/// A real gateway on Kestrel (127.0.0.1, random port) in front of the Kiro simulator — the same HTTP
/// path a client takes in production, only the upstream is simulated. Each instance has its own temp
/// data folder and its own simulator, so fixtures never share state.
/// </summary>
public sealed class GatewayFixture : IAsyncLifetime
{
    public const string ApiKey = "test-gateway-key-0123456789";
    public const string AdminEmail = "admin@gapura.test";
    public const string AdminPassword = "correct-horse-battery-staple-42";

    private WebApplication? _app;

    public KiroSimulator Kiro { get; private set; } = null!;
    public string BaseUrl { get; private set; } = "";

    /// <summary>The gateway's services, for tests that act on its store directly.</summary>
    public IServiceProvider Services => _app?.Services ?? throw new InvalidOperationException("The gateway has not started.");

    public string DataDirectory { get; } = Directory.CreateTempSubdirectory("gapura-it-").FullName;

    /// <summary>Extra <c>--Section:Key=value</c> settings for the gateway.</summary>
    public List<string> Settings { get; } = [];

    public KiroSimulatorOptions SimulatorOptions { get; init; } = new();

    /// <summary>False: start on an empty database with no first admin, as a fresh install without Gateway:AdminEmail does.</summary>
    public bool BootstrapAdmin { get; init; } = true;

    /// <summary>Replaces or adds services after the gateway's own (a clock for budgets, say).</summary>
    public Action<IServiceCollection>? ConfigureServices { get; init; }

    /// <summary>Every log line the gateway wrote, formatted, for tests that check what reaches logs.</summary>
    public CapturedLogs Logs { get; } = new();

    /// <summary>Every usage record the gateway's ledger was handed, by request id (as the <c>x-gapura-request-id</c> header names it).</summary>
    internal System.Collections.Concurrent.ConcurrentDictionary<string, Gapura.Ledger.UsageRecord> UsageRecords { get; } = new();

    /// <summary>The ledger's record of the request a response answered; the ledger gets it just after the last byte, hence the wait.</summary>
    internal async Task<Gapura.Ledger.UsageRecord> UsageRecordOfAsync(HttpResponseMessage response)
    {
        var id = response.Headers.GetValues("x-gapura-request-id").Single();
        for (var until = DateTime.UtcNow.AddSeconds(10); DateTime.UtcNow < until; await Task.Delay(10))
            if (UsageRecords.TryGetValue(id, out var record)) return record;
        throw new TimeoutException($"No usage record for request {id} within 10 s.");
    }

    /// <summary>The Kiro login file the gateway uses (refreshed tokens are written back here).</summary>
    public string CredentialsFile => Path.Combine(DataDirectory, "kiro-auth-token.json");

    public async Task InitializeAsync()
    {
        Kiro = await KiroSimulator.StartAsync(SimulatorOptions);
        var credentials = CredentialsFile;
        await WriteKiroLoginAsync(Kiro, credentials);

        _app = GatewayHost.Build(
        [
            "--urls=http://127.0.0.1:0",
            $"--Gateway:ApiKey={ApiKey}",
            .. BootstrapAdmin ? (string[])[$"--Gateway:AdminEmail={AdminEmail}", $"--Gateway:AdminPassword={AdminPassword}"] : [],
            $"--Storage:Path={Path.Combine(DataDirectory, "gapura.db")}",
            $"--Kiro:Endpoint={Kiro.BaseUrl}",
            $"--Kiro:AuthEndpoint={Kiro.BaseUrl}",
            $"--Kiro:OidcEndpoint={Kiro.BaseUrl}",
            $"--Kiro:CredentialsFile={credentials}",
            "--Kiro:RetryBaseDelayMilliseconds=20",
            "--Logging:LogLevel:Default=Warning",
            .. Settings,
        ], builder =>
        {
            builder.Logging.AddProvider(Logs);
            builder.Services.AddSingleton<Gapura.Ledger.IUsageObserver>(new CapturingUsageObserver(UsageRecords));
            ConfigureServices?.Invoke(builder.Services);
        });
        await _app.StartAsync();
        BaseUrl = _app.Urls.First();
    }

    /// <summary>Writes a fresh login of <paramref name="kiro"/> as the Kiro IDE's token file, the way the gateway reads it.</summary>
    internal static async Task WriteKiroLoginAsync(KiroSimulator kiro, string path)
    {
        var login = kiro.IssueCredentials(KiroLoginKind.Social, TimeSpan.FromHours(1));
        await File.WriteAllTextAsync(path, new JsonObject
        {
            ["accessToken"] = login.AccessToken,
            ["refreshToken"] = login.RefreshToken,
            ["expiresAt"] = login.ExpiresAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'"),
            ["profileArn"] = login.ProfileArn,
            ["region"] = login.Region,
            ["authMethod"] = "social",
        }.ToJsonString());
    }

    /// <summary>A graceful stop (as on SIGTERM): hosted services finish their work; <see cref="DisposeAsync"/> still cleans up.</summary>
    public Task StopAsync() => _app?.StopAsync() ?? Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync();
        await Kiro.DisposeAsync();
        try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { }
    }

    /// <summary>An HTTP client for the gateway, authenticated with the gateway key unless told otherwise.</summary>
    public HttpClient Http(string? apiKey = ApiKey)
    {
        var http = new HttpClient { BaseAddress = new Uri(BaseUrl), Timeout = TimeSpan.FromSeconds(60) };
        if (apiKey is not null) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return http;
    }
}

/// <summary>Keeps what the ledger is handed, so a test can hold a response against its record.</summary>
internal sealed class CapturingUsageObserver(System.Collections.Concurrent.ConcurrentDictionary<string, Gapura.Ledger.UsageRecord> records) : Gapura.Ledger.IUsageObserver
{
    public void Observe(Gapura.Ledger.UsageRecord record) => records[record.RequestId] = record;
}

/// <summary>A logger provider that keeps every formatted line (message and exception) in memory.</summary>
public sealed class CapturedLogs : ILoggerProvider
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

    public IReadOnlyList<string> Lines => [.. _lines];

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    private sealed class Logger(CapturedLogs sink, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => sink._lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}
