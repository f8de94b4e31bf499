using System.Diagnostics;

namespace Gapura.Bench;

/// <summary>
/// This same program started again in a server role (<c>--role sim|gateway</c>), so the simulator and the
/// gateway each have their own GC and thread pool, like separate deployments. The child prints
/// <c>READY url</c> when it listens (the gateway first prints <c>KEY …</c>, see <see cref="UserKey"/>) and
/// stops when its standard input closes — so it also stops if the driver dies — or after
/// <see cref="ServerRoles.MaxLifetime"/> at the latest.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _name;
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _askLock = new();
    private (string Prefix, TaskCompletionSource<string> Answer)? _question;

    private ChildProcess(string name, Process process)
    {
        _name = name;
        _process = process;
    }

    public int Id => _process.Id;

    /// <summary>
    /// The API key the gateway child seeded for an ordinary user (its <c>KEY</c> line), known once
    /// <see cref="WaitReadyAsync"/> returns. Kept out of the echoed output: it is a credential, if a throwaway one.
    /// </summary>
    public string? UserKey { get; private set; }

    /// <summary>CPU time the child has used so far (user + system).</summary>
    public TimeSpan CpuTime
    {
        get
        {
            _process.Refresh();
            return _process.TotalProcessorTime;
        }
    }

    /// <summary>
    /// CPU time of the child's tiered-compilation thread (<c>.NET Tiered Com…</c>, the runtime's background JIT), from
    /// <c>/proc</c> (zero elsewhere): a run still warming up spends it beside the requests, so it is shown apart.
    /// </summary>
    public TimeSpan JitCpuTime
    {
        get
        {
            var task = $"/proc/{_process.Id}/task";
            if (!Directory.Exists(task)) return TimeSpan.Zero;
            long ticks = 0;
            try
            {
                foreach (var thread in Directory.EnumerateDirectories(task))
                {
                    if (!File.ReadAllText(Path.Combine(thread, "comm")).StartsWith(".NET Tiered Com", StringComparison.Ordinal)) continue;
                    var stat = File.ReadAllText(Path.Combine(thread, "stat"));
                    // After the parenthesised name: field 3 (state) onwards; utime and stime are fields 14 and 15.
                    var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                    ticks += long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
                }
            }
            catch (IOException)
            {
                // a thread ended while being read: the next reading counts the rest
            }
            return TimeSpan.FromMilliseconds(ticks * 1000.0 / ClockTicksPerSecond);
        }
    }

    /// <summary>USER_HZ: what <c>/proc/…/stat</c> counts CPU time in; 100 on every Linux the bench runs on.</summary>
    private const int ClockTicksPerSecond = 100;

    /// <param name="runtimeConfig">Run under this runtimeconfig.json instead of the bench's own (GC mode, thread pool).</param>
    public static ChildProcess Start(string name, IEnumerable<string> args, IDictionary<string, string> environment, string workingDirectory, string? runtimeConfig = null)
    {
        var info = new ProcessStartInfo
        {
            FileName = DotnetHost(),
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        // `dotnet exec` rather than the apphost, so a child can take another project's runtime settings.
        info.ArgumentList.Add("exec");
        if (runtimeConfig is not null)
        {
            info.ArgumentList.Add("--runtimeconfig");
            info.ArgumentList.Add(runtimeConfig);
        }
        info.ArgumentList.Add(typeof(ChildProcess).Assembly.Location);
        foreach (var arg in args) info.ArgumentList.Add(arg);
        foreach (var (key, value) in environment) info.Environment[key] = value;

        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start the {name} process");
        var child = new ChildProcess(name, process);
        process.OutputDataReceived += (_, e) => child.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => child.OnLine(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>The <c>dotnet</c> muxer of the running runtime (…/shared/Microsoft.NETCore.App/x.y.z/ → …/dotnet).</summary>
    private static string DotnetHost()
    {
        if (Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            return self;
        var root = Path.GetFullPath(Path.Combine(System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory(), "..", "..", ".."));
        var host = Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
        return File.Exists(host) ? host : "dotnet";
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            _ready.TrySetException(new InvalidOperationException($"the {_name} process ended before it was ready"));
            return;
        }
        // Standard output is delivered line by line in order, so the KEY line is taken before READY completes.
        if (line.StartsWith(ServerRoles.UserKeyLine, StringComparison.Ordinal)) UserKey = line[ServerRoles.UserKeyLine.Length..].Trim();
        else if (_question is { } q && line.StartsWith(q.Prefix, StringComparison.Ordinal)) q.Answer.TrySetResult(line[q.Prefix.Length..].Trim());
        else if (line.StartsWith("READY ", StringComparison.Ordinal)) _ready.TrySetResult(line["READY ".Length..].Trim());
        else Console.WriteLine($"  [{_name}] {line}");
    }

    /// <summary>The URL the child listens on.</summary>
    public Task<string> WaitReadyAsync(TimeSpan timeout) => _ready.Task.WaitAsync(timeout);

    /// <summary>
    /// Sends one command line to the child (see <see cref="ServerRoles"/>) and returns its answer: the rest of the first
    /// line it prints that starts with <paramref name="answerPrefix"/>. One question at a time.
    /// </summary>
    public async Task<string> AskAsync(string command, string answerPrefix, TimeSpan timeout)
    {
        var answer = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_askLock)
        {
            if (_question is not null) throw new InvalidOperationException($"the {_name} process is already answering a question");
            _question = (answerPrefix, answer);
        }
        try
        {
            await _process.StandardInput.WriteLineAsync(command);
            await _process.StandardInput.FlushAsync();
            return await answer.Task.WaitAsync(timeout);
        }
        finally
        {
            lock (_askLock) _question = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();   // the child's signal to stop
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);   // only this child, by its own handle
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        _process.Dispose();
    }
}
