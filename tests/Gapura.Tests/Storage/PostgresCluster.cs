using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Gapura.Tests.Storage;

/// <summary>
/// A private PostgreSQL cluster for the test run: initdb into a temporary folder, started on 127.0.0.1 at
/// a free port with its socket in that folder, stopped and deleted at the end. Durability is switched off
/// (fsync, full_page_writes) because the data dies with the run anyway. PostgreSQL refuses to run as
/// root, so as root the commands run as the <c>postgres</c> user.
/// </summary>
public sealed class PostgresCluster : IAsyncLifetime
{
    private const string DirPrefix = "gapura-pg-";
    private static int s_databases;
    private static int s_schemas;

    private string _bin = "";
    private string _dir = "";
    private bool _started;

    public int Port { get; private set; }

    /// <summary>initdb plus start, as measured by the fixture.</summary>
    public TimeSpan StartTime { get; private set; }

    public async Task InitializeAsync()
    {
        var clock = Stopwatch.StartNew();
        _bin = FindBinaries();
        StopStaleClusters();
        _dir = Directory.CreateTempSubdirectory($"{DirPrefix}{Environment.ProcessId}-").FullName;
        if (Environment.IsPrivilegedProcess) await RunAsync("chown", ["postgres:postgres", _dir]);
        Port = FreePort();
        var data = Path.Combine(_dir, "data");
        await RunAsPostgresAsync($"'{_bin}/initdb' -D '{data}' -U postgres --auth=trust --no-sync -E UTF8 --locale=C --no-instructions");
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Stop();
        try
        {
            await RunAsPostgresAsync(
                $"'{_bin}/pg_ctl' -D '{data}' -l '{_dir}/log' -w -t 30 -o \"-c listen_addresses=127.0.0.1 -p {Port} -k '{_dir}' " +
                "-c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=200\" start");
            _started = true;
        }
        catch (Exception e)
        {
            var log = File.Exists(Path.Combine(_dir, "log")) ? await File.ReadAllTextAsync(Path.Combine(_dir, "log")) : "(no log)";
            throw new InvalidOperationException($"The test PostgreSQL cluster did not start: {e.Message}\nServer log:\n{log}", e);
        }
        StartTime = clock.Elapsed;
    }

    public Task DisposeAsync()
    {
        Stop();
        return Task.CompletedTask;
    }

    private readonly Dictionary<string, Task<string>> _classDatabases = [];

    /// <summary>
    /// A connection string to a new, empty schema of its own, inside the database of the calling test
    /// class (created on its first use). A schema per test keeps tests apart at a fraction of the cost of
    /// CREATE DATABASE (a few ms against 100–300 ms), while each class still gets a database of its own.
    /// </summary>
    public async Task<string> CreateIsolatedAsync(string testClass)
    {
        Task<string> database;
        lock (_classDatabases)
        {
            if (!_classDatabases.TryGetValue(testClass, out database!))
                _classDatabases[testClass] = database = CreateDatabaseAsync(testClass);
        }
        var name = await database;
        var schema = $"s{Interlocked.Increment(ref s_schemas)}";
        await using var connection = new NpgsqlConnection(ConnectionString(name) + ";Pooling=false");
        await connection.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE SCHEMA {schema}", connection);
        await create.ExecuteNonQueryAsync();
        return ConnectionString(name) + $";Search Path={schema}";
    }

    private async Task<string> CreateDatabaseAsync(string testClass)
    {
        var name = new string(testClass.ToLowerInvariant().Where(char.IsAsciiLetterOrDigit).ToArray());
        name = name[..Math.Min(name.Length, 50)] + "_" + Interlocked.Increment(ref s_databases);
        await using var admin = new NpgsqlConnection(ConnectionString("postgres") + ";Pooling=false");
        await admin.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", admin);
        await create.ExecuteNonQueryAsync();
        return name;
    }

    public string ConnectionString(string database) => $"Host=127.0.0.1;Port={Port};Username=postgres;Database={database}";

    private void Stop()
    {
        if (!_started) return;
        _started = false;
        NpgsqlConnection.ClearAllPools();
        try
        {
            RunAsync("/bin/sh", ["-c", SuWrap($"'{_bin}/pg_ctl' -D '{_dir}/data' -m fast -w stop")]).GetAwaiter().GetResult();
        }
        finally
        {
            try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Clusters left by a test process that died before stopping them (its pid is in the folder name).</summary>
    private void StopStaleClusters()
    {
        foreach (var dir in Directory.EnumerateDirectories(Path.GetTempPath(), DirPrefix + "*"))
        {
            var pidText = Path.GetFileName(dir)[DirPrefix.Length..].Split('-')[0];
            if (!int.TryParse(pidText, out var pid) || ProcessIsAlive(pid)) continue;
            if (File.Exists(Path.Combine(dir, "data", "postmaster.pid")))
            {
                try { RunAsync("/bin/sh", ["-c", SuWrap($"'{_bin}/pg_ctl' -D '{dir}/data' -m immediate -w stop")]).GetAwaiter().GetResult(); }
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
            ". The storage tests run on both back ends and need them: install with `apt-get install -y postgresql` " +
            "(or point GAPURA_PG_BIN at their folder).");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string SuWrap(string command)
        // cd /: the test's working directory may not be readable by postgres.
        => Environment.IsPrivilegedProcess ? $"cd / && su postgres -s /bin/sh -c \"{command.Replace("\"", "\\\"")}\"" : command;

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

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresCluster>
{
    public const string Name = "PostgreSQL cluster";
}
