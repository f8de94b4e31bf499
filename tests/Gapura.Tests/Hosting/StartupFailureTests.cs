using System.Net;
using System.Net.Sockets;

namespace Gapura.Tests.Hosting;

/// <summary>
/// Every way the gateway can fail to start ends the real <c>gapura serve</c> process with exit code 2 and one line on
/// standard error that names the problem and what to do — no stack trace.
/// </summary>
public sealed class StartupFailureTests : IDisposable
{
    private readonly string _work = Directory.CreateTempSubdirectory("gapura-start-fail-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_work, recursive: true); } catch (IOException) { }
    }

    public static TheoryData<string, string[], string> Failures => new()
    {
        { "bad Secrets:Key", ["--Secrets:Key=abc"], "Secrets:Key is not valid base64" },
        { "bad key file", ["--Secrets:KeyFile=bad.key"], "bad.key" },
        { "unknown storage provider", ["--Storage:Provider=mongodb"], "Storage:Provider must be 'sqlite' or 'postgres'" },
        { "missing Kiro:CredentialsFile", ["--Kiro:CredentialsFile=missing.json"], "unset Kiro:CredentialsFile" },
        { "invalid Kiro:CredentialsFile", ["--Kiro:CredentialsFile=broken.json"], "not valid JSON" },
        { "keep-alive of 0", ["--Gateway:KeepAliveSeconds=0"], "Gateway:KeepAliveSeconds must be at least 0.1" },
        { "negative timeout", ["--Gateway:IdleTimeoutSeconds=-5"], "Gateway:IdleTimeoutSeconds must be at least" },
        { "percentage above 1", ["--Routing:Canary:MaxErrorRateIncrease=5"], "Routing:Canary:MaxErrorRateIncrease must be at least 0 and at most 1" },
        { "no retries at all", ["--Providers:OpenAI:MaxAttempts=0"], "Providers:OpenAI:MaxAttempts must be at least 1" },
        { "setting of the wrong type", ["--Gateway:KeepAliveSeconds=soon"], "KeepAliveSeconds" },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task A_start_up_failure_is_one_line_on_stderr_and_exit_code_2(string what, string[] settings, string expected)
    {
        await File.WriteAllTextAsync(Path.Combine(_work, "bad.key"), "not a key\n");
        await File.WriteAllTextAsync(Path.Combine(_work, "broken.json"), "{\"accessToken\":");
        var (code, _, stderr) = await GapuraProcess.RunAsync(_work, ["serve", "--urls=http://127.0.0.1:0", .. settings]);

        AssertOneLineFailure(what, code, stderr, expected);
    }

    [Fact]
    public async Task An_address_in_use_names_it_and_says_to_choose_another_with_urls()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var url = $"http://127.0.0.1:{((IPEndPoint)taken.LocalEndpoint).Port}";

        var (code, stdout, stderr) = await GapuraProcess.RunAsync(_work, "serve", $"--urls={url}");

        AssertOneLineFailure("address in use", code, stderr, $"cannot listen on {url}: the address is already in use");
        Assert.Contains("--urls", stderr);
        // Nothing claims the gateway is ready when it never listened.
        Assert.DoesNotContain("Gapura is ready", stdout);
        Assert.DoesNotContain("   at ", stdout);
    }

    private static void AssertOneLineFailure(string what, int code, string stderr, string expected)
    {
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(code == 2 && lines.Length == 1, $"{what}: exit {code}, stderr:\n{stderr}");
        Assert.StartsWith("gapura serve: ", lines[0]);
        Assert.Contains(expected, lines[0]);
    }
}
