using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Gapura.Simulators.Redis;

/// <summary>
/// A private Redis server for tests and benchmarks: Debian's <c>redis-server</c> on 127.0.0.1 at a free port, nothing
/// saved to disk, its folder deleted at the end. <see cref="Database"/> hands each caller a logical database of its
/// own (0–15), so test classes sharing the server never see each other's keys.
/// </summary>
public sealed class PrivateRedis : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _dir;
    private int _nextDatabase;

    private PrivateRedis(Process process, string dir, int port)
    {
        _process = process;
        _dir = dir;
        Port = port;
    }

    public int Port { get; }

    /// <summary>A StackExchange.Redis configuration string for one logical database of this server.</summary>
    public string ConnectionString(int database = 0) => $"127.0.0.1:{Port},defaultDatabase={database},abortConnect=false,connectTimeout=2000";

    /// <summary>A logical database no one else on this server was given (after 16, they are shared; keys are prefixed anyway).</summary>
    public string NewDatabase() => ConnectionString(Interlocked.Increment(ref _nextDatabase) % 16);

    public static async Task<PrivateRedis> StartAsync()
    {
        var binary = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("redis-server is not installed (Debian package redis-server); .ci/run installs it.");
        var dir = Directory.CreateTempSubdirectory("gapura-redis-").FullName;
        var port = FreePort();
        var start = new ProcessStartInfo(binary)
        {
            ArgumentList = { "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "yes" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new PrivateRedis(process, dir, port);
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (process.HasExited) throw new InvalidOperationException($"redis-server exited at start with code {process.ExitCode}.");
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return server;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }
        await server.DisposeAsync();
        throw new InvalidOperationException("redis-server did not accept connections within 10 s.");
    }

    public ValueTask DisposeAsync()
    {
        try { if (!_process.HasExited) { _process.Kill(); _process.WaitForExit(5000); } } catch (InvalidOperationException) { }
        _process.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
        return ValueTask.CompletedTask;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
