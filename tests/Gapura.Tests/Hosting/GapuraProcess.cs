using System.Diagnostics;
using System.Text;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Hosting;

/// <summary>
/// The real <c>gapura</c> program (<c>dotnet gapura.dll</c>, built beside the tests) run as a user runs it: in a working
/// folder of its own, with a throw-away HOME, so its data/ folder, key files and logins are the ones a first start makes.
/// </summary>
internal sealed class GapuraProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private GapuraProcess(Process process) => _process = process;

    public static string Dll => Path.Combine(AppContext.BaseDirectory, "gapura.dll");

    /// <summary>Where the gateway listens, from its "Now listening on" line.</summary>
    public string BaseUrl { get; private set; } = "";

    public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }

    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    public static ProcessStartInfo StartInfo(string work, IEnumerable<string> args)
    {
        Assert.True(File.Exists(Dll), $"gapura.dll is not built at {Dll}.");
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = work, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        start.ArgumentList.Add(Dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        // Nothing of the machine's own set-up leaks in: no settings from the environment, no logins from the real home.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("ASPNETCORE_", StringComparison.Ordinal) || k.StartsWith("DOTNET_URLS", StringComparison.Ordinal) || k.Contains("__")).ToList())
            start.Environment.Remove(key);
        var home = Path.Combine(work, "home");
        Directory.CreateDirectory(home);
        start.Environment["HOME"] = home;
        return start;
    }

    /// <summary>A verb to its end (a failed <c>serve</c> included), bounded in time.</summary>
    public static Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string work, params string[] args)
        => ClientProcess.RunAsync(StartInfo(work, args), StartTimeout, "gapura " + string.Join(' ', args.Take(2)));

    /// <summary>Starts <c>gapura serve</c> on a free loopback port and waits until it listens.</summary>
    public static async Task<GapuraProcess> ServeAsync(string work, params string[] args)
    {
        var process = new GapuraProcess(Process.Start(StartInfo(work, ["serve", "--urls=http://127.0.0.1:0", .. args]))!);
        var listening = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        process._process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (process._stdout) process._stdout.AppendLine(e.Data);
            const string marker = "Now listening on: ";
            var at = e.Data.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0) listening.TrySetResult(e.Data[(at + marker.Length)..].Trim());
        };
        process._process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null) lock (process._stderr) process._stderr.AppendLine(e.Data);
        };
        process._process.BeginOutputReadLine();
        process._process.BeginErrorReadLine();
        process._process.StandardInput.Close();
        var exited = process._process.WaitForExitAsync();
        var first = await Task.WhenAny(listening.Task, exited, Task.Delay(StartTimeout));
        if (first != listening.Task)
        {
            await process.DisposeAsync();
            throw new InvalidOperationException($"gapura serve did not start listening.\nstdout: {process.Stdout}\nstderr: {process.Stderr}");
        }
        process.BaseUrl = await listening.Task;
        return process;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try { await _process.WaitForExitAsync(cts.Token); } catch (OperationCanceledException) { }
        _process.Dispose();
    }
}
