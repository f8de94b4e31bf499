using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Gapura.Simulators.Postgres;

/// <summary>
/// A private PostgreSQL server for tests and benchmarks: initdb into a temporary folder, started on 127.0.0.1 at a
/// free port with its socket in that folder, stopped and deleted at the end. Durability is off (fsync,
/// full_page_writes, synchronous_commit) because the data dies with the run. PostgreSQL refuses to run as root, so
/// as root the commands run as the <c>postgres</c> user. The folder name carries the owning process id, so a later
/// run can stop clusters whose process died without stopping them (<see cref="StopStale"/>).
/// </summary>
public sealed class PrivatePostgres : IAsyncDisposable
{
    private readonly string _bin;
    private readonly string _dir;
    private bool _running;

    private PrivatePostgres(string bin, string dir, int port)
    {
        _bin = bin;
        _dir = dir;
        Port = port;
    }

    public int Port { get; }

    public string ConnectionString(string database) => $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database}";

    /// <param name="folderPrefix">Temporary folder name before the process id, e.g. <c>gapura-pg-</c>.</param>
    /// <param name="settings">Extra server settings, as <c>-c name=value</c> pairs.</param>
    public static async Task<PrivatePostgres> StartAsync(string folderPrefix, params string[] settings)
    {
        var bin = FindBinaries();
        StopStale(bin, folderPrefix);
        var dir = Directory.CreateTempSubdirectory($"{folderPrefix}{Environment.ProcessId}-").FullName;
        if (Environment.IsPrivilegedProcess) await RunAsync("chown", ["postgres:postgres", dir]);
        var cluster = new PrivatePostgres(bin, dir, FreePort());
        var data = Path.Combine(dir, "data");
        await RunAsPostgresAsync($"'{bin}/initdb' -D '{data}' -U postgres --auth=trust --no-sync -E UTF8 --locale=C --no-instructions");
        try
        {
            var extra = string.Concat(settings.Select(s => $" -c {s}"));
            await RunAsPostgresAsync(
                $"'{bin}/pg_ctl' -D '{data}' -l '{dir}/log' -w -t 30 -o \"-c listen_addresses=127.0.0.1 -p {cluster.Port} -k '{dir}' " +
                $"-c fsync=off -c full_page_writes=off -c synchronous_commit=off{extra}\" start");
            cluster._running = true;
        }
        catch (Exception e)
        {
            var log = File.Exists(Path.Combine(dir, "log")) ? await File.ReadAllTextAsync(Path.Combine(dir, "log")) : "(no log)";
            throw new InvalidOperationException($"The private PostgreSQL cluster did not start: {e.Message}\nServer log:\n{log}", e);
        }
        return cluster;
    }

    /// <summary>Stops the server and deletes its folder; safe to call twice (also from a process-exit handler).</summary>
    public void Stop()
    {
        if (!_running) return;
        _running = false;
        try
        {
            RunAsPostgresAsync($"'{_bin}/pg_ctl' -D '{_dir}/data' -m fast -w stop").GetAwaiter().GetResult();
        }
        finally
        {
            try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    public ValueTask DisposeAsync()
    {
        Stop();
        return ValueTask.CompletedTask;
    }

    /// <summary>Clusters left by a process that died before stopping them (its pid is in the folder name).</summary>
    private static void StopStale(string bin, string folderPrefix)
    {
        foreach (var dir in Directory.EnumerateDirectories(Path.GetTempPath(), folderPrefix + "*"))
        {
            var pidText = Path.GetFileName(dir)[folderPrefix.Length..].Split('-')[0];
            if (!int.TryParse(pidText, out var pid) || ProcessIsAlive(pid)) continue;
            if (File.Exists(Path.Combine(dir, "data", "postmaster.pid")))
            {
                try { RunAsPostgresAsync($"'{bin}/pg_ctl' -D '{dir}/data' -m immediate -w stop").GetAwaiter().GetResult(); }
                catch (InvalidOperationException) { }
            }
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static bool ProcessIsAlive(int pid)
    {
        try { using var p = Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
    }

    private static string FindBinaries()
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("GAPURA_PG_BIN") is { Length: > 0 } env) candidates.Add(env);
        if (Directory.Exists("/usr/lib/postgresql"))
        {
            candidates.AddRange(Directory.EnumerateDirectories("/usr/lib/postgresql")
                .OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0)
                .Select(d => Path.Combine(d, "bin")));
        }
        candidates.AddRange(["/usr/local/bin", "/usr/local/pgsql/bin", "/usr/bin"]);
        foreach (var dir in candidates)
        {
            if (File.Exists(Path.Combine(dir, "initdb")) && File.Exists(Path.Combine(dir, "pg_ctl"))) return dir;
        }
        throw new InvalidOperationException(
            "PostgreSQL server binaries (initdb, pg_ctl) were not found in " + string.Join(", ", candidates) +
            ". The storage tests and the ledger bench run on PostgreSQL too and need them: install with `apt-get install -y postgresql` " +
            "(or point GAPURA_PG_BIN at their folder).");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string SuWrap(string command)
        // cd /: the caller's working directory may not be readable by postgres.
        => Environment.IsPrivilegedProcess ? $"cd / && su postgres -s /bin/sh -c \"{command.Replace("\"", "\\\"", StringComparison.Ordinal)}\"" : command;

    private static Task RunAsPostgresAsync(string command) => RunAsync("/bin/sh", ["-c", SuWrap(command)]);

    private static async Task RunAsync(string file, IReadOnlyList<string> args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {file}.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"`{string.Join(' ', args)}` exited with {process.ExitCode}: {await stderr}{await stdout}");
    }
}
