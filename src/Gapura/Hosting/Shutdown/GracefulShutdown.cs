using System.Globalization;
using Gapura.Api;
using Gapura.Conversations;
using Gapura.Ledger;

namespace Gapura.Hosting.Shutdown;

/// <summary>
/// The gateway's half of a graceful stop (SIGTERM, Ctrl-C, or the host's <c>StopAsync</c>). Kestrel itself stops
/// listening when the host stops and waits for the requests in flight; what it cannot do is end a stream cleanly when
/// the wait is over — it would cut the connection mid-chunk. So when the host says it is stopping, new chat requests are
/// refused (503 in the caller's format), the open ones get <c>Gateway:ShutdownTimeoutSeconds</c> to finish, and then
/// <see cref="Deadline"/> fires: <see cref="ChatPipeline"/> links it into its upstream token, ends each request still
/// open with the caller's format's error at an event boundary, logs it and records its usage. The host's own shutdown
/// timeout is set beyond the drain (<see cref="Register"/>) so the usage ledger is written after the last request ends.
/// </summary>
internal sealed class GracefulShutdown(IHostApplicationLifetime lifetime, TimeSpan drainPeriod, UsageLedger ledger, TimeProvider time, ILogger<GracefulShutdown> log)
    : IHostedService, IDisposable
{
    public const string Setting = GatewayOptions.Section + ":" + nameof(GatewayOptions.ShutdownTimeoutSeconds);

    /// <summary>An hour: longer than any answer a model streams, shorter than a stop that looks hung.</summary>
    public const double MaxTimeoutSeconds = 3600;

    /// <summary>Time the host allows beyond the drain, for the ended requests to write their error and the ledger to be written.</summary>
    public static readonly TimeSpan FinishAllowance = TimeSpan.FromSeconds(15);

    private readonly CancellationTokenSource _deadline = new();
    private CancellationTokenRegistration _onStopping;
    private ITimer? _timer;
    private volatile bool _stopping;

    /// <summary>The host is stopping: new requests are refused.</summary>
    public bool IsStopping => _stopping;

    /// <summary>Fires when the drain period is over; every request still open is then ended.</summary>
    public CancellationToken Deadline => _deadline.Token;

    public TimeSpan DrainPeriod { get; } = drainPeriod;

    /// <summary>Registers the service and sets the host's shutdown timeout beyond the drain; a bad setting is one clear line at start.</summary>
    public static void Register(IServiceCollection services, IConfiguration configuration)
    {
        var drain = ReadDrainPeriod(configuration);
        services.Configure<HostOptions>(o => o.ShutdownTimeout = drain + FinishAllowance);
        services.AddSingleton(sp => new GracefulShutdown(sp.GetRequiredService<IHostApplicationLifetime>(), drain, sp.GetRequiredService<UsageLedger>(),
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<GracefulShutdown>>()));
        services.AddHostedService(sp => sp.GetRequiredService<GracefulShutdown>());
    }

    /// <summary>
    /// <c>Gateway:ShutdownTimeoutSeconds</c>, checked: more than 0 (0 would end every open stream at once; to do that,
    /// stop the process harder) and at most <see cref="MaxTimeoutSeconds"/>.
    /// </summary>
    internal static TimeSpan ReadDrainPeriod(IConfiguration configuration)
    {
        var raw = configuration[Setting];
        if (string.IsNullOrWhiteSpace(raw)) return TimeSpan.FromSeconds(new GatewayOptions().ShutdownTimeoutSeconds);
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || !double.IsFinite(seconds) || seconds <= 0 || seconds > MaxTimeoutSeconds)
            throw new InvalidOperationException($"{Setting} must be a number of seconds above 0 and at most {MaxTimeoutSeconds:0} (got '{raw}'); it is how long open requests may finish when the gateway stops.");
        return TimeSpan.FromSeconds(seconds);
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _onStopping = lifetime.ApplicationStopping.Register(OnStopping);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void OnStopping()
    {
        _stopping = true;
        log.LogInformation("Shutting down: new requests are refused; {Streams} open streams and other requests in flight have up to {Seconds:0.#} s to finish ({Setting})",
            ledger.ActiveStreams, DrainPeriod.TotalSeconds, Setting);
        _timer = time.CreateTimer(static s => ((GracefulShutdown)s!).Expire(), this, DrainPeriod, Timeout.InfiniteTimeSpan);
    }

    private void Expire()
    {
        var open = ledger.ActiveStreams;
        if (open > 0) log.LogWarning("Shutdown: {Setting} = {Seconds:0.#} s passed; ending the {Streams} streams still open", Setting, DrainPeriod.TotalSeconds, open);
        _deadline.Cancel();
    }

    /// <summary>The answer to a request that arrives while the gateway is stopping.</summary>
    public static GatewayException Refused() => new(ErrorKind.ShuttingDown,
        "The gateway is shutting down and takes no new requests; retry in a moment (another instance, or this one once restarted).");

    /// <summary>The error a request still open at the deadline ends with.</summary>
    public GatewayException Ended() => new(ErrorKind.ShuttingDown,
        $"The gateway is shutting down; this request was still open after {DrainPeriod.TotalSeconds:0.#} s ({Setting}) and was ended. Retry it.");

    public void Dispose()
    {
        _onStopping.Dispose();
        _timer?.Dispose();
        _deadline.Dispose();
    }
}
