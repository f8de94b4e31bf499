using System.Diagnostics;

namespace Gapura.Tests.Integration;

/// <summary>Runs a real client program to its end with no input, bounded in time; killed with its children on timeout.</summary>
internal static class ClientProcess
{
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(ProcessStartInfo start, TimeSpan timeout, string name)
    {
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try { await process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{name} did not finish within {timeout.TotalSeconds:0} s. stdout: {await stdout}\nstderr: {await stderr}");
        }
        return (process.ExitCode, await stdout, await stderr);
    }
}
