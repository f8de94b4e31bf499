using System.Globalization;
using System.Text.Json.Nodes;
using Gapura.Api;
using Gapura.Simulators.Kiro;

namespace Gapura.Bench;

/// <summary>The child-process side of <see cref="ChildProcess"/>: the Kiro simulator or the gateway, on 127.0.0.1.</summary>
internal static class ServerRoles
{
    public const string GatewayApiKey = "bench-gateway-key-0123456789abcdef";

    /// <summary>A child never outlives this, whatever happens to the driver.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromMinutes(3);

    public static async Task<int> RunAsync(string[] args)
    {
        var options = Options(args);
        return options["--role"] switch
        {
            "sim" => await SimulatorAsync(options["--credentials"]),
            "gateway" => await GatewayAsync(options["--sim"], options["--credentials"], options["--data"]),
            var role => throw new ArgumentException($"unknown role {role}"),
        };
    }

    /// <summary>
    /// The simulator with Split=Whole, answering every chat call with the same recorded answer, pre-encoded
    /// once: the upstream costs as little as it can and is the same for the direct and the gateway path.
    /// </summary>
    private static async Task<int> SimulatorAsync(string credentialsPath)
    {
        await using var simulator = await KiroSimulator.StartAsync(new KiroSimulatorOptions
        {
            Split = KiroSplit.Whole,
            EmitExtraEvents = false,
            AccessTokenLifetime = TimeSpan.FromHours(12),
        });
        var login = simulator.IssueCredentials(KiroLoginKind.Social, TimeSpan.FromHours(12));
        await File.WriteAllTextAsync(credentialsPath, new JsonObject
        {
            ["accessToken"] = login.AccessToken,
            ["refreshToken"] = login.RefreshToken,
            ["expiresAt"] = login.ExpiresAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture),
            ["profileArn"] = login.ProfileArn,
            ["region"] = login.Region,
            ["authMethod"] = "social",
        }.ToJsonString());

        // One scenario instance, queued again and again: the simulator only reads it. A raw frame holding
        // the whole encoded answer is written as it is, in one write.
        var answer = new KiroScenario { Frames = [KiroFrame.Raw(LatencyBench.UpstreamAnswer)], Split = KiroSplit.Whole };
        using var stop = new CancellationTokenSource(MaxLifetime);
        var topUp = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                while (simulator.PendingScenarios < 1024) simulator.Enqueue(answer);
                try { await Task.Delay(1, stop.Token); } catch (OperationCanceledException) { }
            }
        });
        for (var i = 0; i < 1024; i++) simulator.Enqueue(answer);

        Console.WriteLine($"pid {Environment.ProcessId}, {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC");
        Console.WriteLine("READY " + simulator.BaseUrl);
        await WaitForStopAsync(stop);
        await topUp;
        return 0;
    }

    private static async Task<int> GatewayAsync(string simulatorUrl, string credentialsPath, string dataDirectory)
    {
        await using var app = GatewayHost.Build(
        [
            "--urls=http://127.0.0.1:0",
            $"--Gateway:ApiKey={GatewayApiKey}",
            $"--Storage:Path={Path.Combine(dataDirectory, "gapura.db")}",
            $"--Kiro:Endpoint={simulatorUrl}",
            $"--Kiro:AuthEndpoint={simulatorUrl}",
            $"--Kiro:OidcEndpoint={simulatorUrl}",
            $"--Kiro:CredentialsFile={credentialsPath}",
            "--Logging:LogLevel:Default=Warning",
        ]);
        await app.StartAsync();
        Console.WriteLine($"pid {Environment.ProcessId}, {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC");
        Console.WriteLine("READY " + app.Urls.First().TrimEnd('/'));
        using var stop = new CancellationTokenSource(MaxLifetime);
        await WaitForStopAsync(stop);
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await app.StopAsync(grace.Token);
        return 0;
    }

    /// <summary>Returns when standard input closes (the driver is done or gone) or the lifetime runs out.</summary>
    private static async Task WaitForStopAsync(CancellationTokenSource stop)
    {
        var stdinClosed = Task.Run(() =>
        {
            while (Console.In.ReadLine() is not null) { }
        });
        await Task.WhenAny(stdinClosed, Task.Delay(Timeout.Infinite, stop.Token).ContinueWith(_ => { }, TaskScheduler.Default));
        await stop.CancelAsync();
    }

    private static Dictionary<string, string> Options(string[] args)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i + 1 < args.Length; i += 2) options[args[i]] = args[i + 1];
        return options;
    }
}
