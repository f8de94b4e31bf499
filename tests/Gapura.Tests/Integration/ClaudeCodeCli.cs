using System.Diagnostics;

namespace Gapura.Tests.Integration;

/// <summary>
/// The real Claude Code CLI (npm @anthropic-ai/claude-code, installed by the test build into tests/e2e), run in print
/// mode against a gateway with a throw-away HOME, in a clean environment.
/// </summary>
internal static class ClaudeCodeCli
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string gatewayUrl, string apiKey, string home, string work, string prompt, params string[] args)
    {
        var claude = Path.Combine(ClaudeCodeEndToEndTests.RepositoryRoot(), "tests", "e2e", "node_modules", ".bin", "claude");
        Assert.True(File.Exists(claude), $"Claude Code is not installed at {claude}; the test build installs it with npm (tests/e2e).");
        var start = new ProcessStartInfo(claude) { WorkingDirectory = work, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        start.ArgumentList.Add("-p");
        start.ArgumentList.Add(prompt);
        foreach (var a in args) start.ArgumentList.Add(a);
        // A clean environment for the CLI: nothing of the caller's own Claude/Anthropic set-up leaks in.
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("ANTHROPIC_") || k.StartsWith("CLAUDE")).ToList()) start.Environment.Remove(key);
        start.Environment["HOME"] = home;
        start.Environment["ANTHROPIC_BASE_URL"] = gatewayUrl;
        start.Environment["ANTHROPIC_API_KEY"] = apiKey;
        start.Environment["DISABLE_AUTOUPDATER"] = "1";
        start.Environment["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1";

        return await ClientProcess.RunAsync(start, Timeout, "claude");
    }
}
