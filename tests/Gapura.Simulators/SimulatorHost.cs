namespace Gapura.Simulators;

/// <summary>
/// The one way a simulator runs: real Kestrel on its URL (127.0.0.1, port 0 by default), no logging unless
/// asked, started before the caller talks to it, and stopped within two seconds.
/// </summary>
public static class SimulatorHost
{
    public static async Task<WebApplication> StartAsync(string url, bool verbose, Action<WebApplication> map, CancellationToken ct,
        Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseUrls(url);
        builder.Logging.ClearProviders();
        if (verbose) builder.Logging.AddSimpleConsole(o => o.SingleLine = true);
        configure?.Invoke(builder);
        var app = builder.Build();
        map(app);
        await app.StartAsync(ct);
        return app;
    }

    /// <summary>Where the started simulator listens, without a trailing slash.</summary>
    public static string BaseUrl(WebApplication app) => app.Urls.First().TrimEnd('/');

    public static async Task StopAsync(WebApplication app)
    {
        await app.StopAsync(TimeSpan.FromSeconds(2));
        await app.DisposeAsync();
    }
}

/// <summary>
/// What every simulator shares: one web host on its own port, its address, and its stop. A simulator maps its
/// endpoints and starts through <see cref="StartHostAsync"/>.
/// </summary>
public abstract class SimulatorServer : IAsyncDisposable
{
    private WebApplication? _app;

    /// <summary>Where the simulator listens, without a trailing slash.</summary>
    public string BaseUrl { get; private set; } = "";

    protected async Task StartHostAsync(string url, bool verbose, Action<WebApplication> map, CancellationToken ct,
        Action<WebApplicationBuilder>? configure = null)
    {
        _app = await SimulatorHost.StartAsync(url, verbose, map, ct, configure);
        BaseUrl = SimulatorHost.BaseUrl(_app);
    }

    public Task WaitForShutdownAsync(CancellationToken ct = default) => _app?.WaitForShutdownAsync(ct) ?? Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_app is null) return;
        await SimulatorHost.StopAsync(_app);
        _app = null;
    }
}
