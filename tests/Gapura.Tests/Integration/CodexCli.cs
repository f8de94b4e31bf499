using System.Diagnostics;

namespace Gapura.Tests.Integration;

/// <summary>
/// The real Codex CLI (npm @openai/codex, installed by the test build into tests/e2e), pointed at a gateway.
/// Codex reads its provider from CODEX_HOME/config.toml (it ignores OPENAI_BASE_URL).
/// </summary>
internal static class CodexCli
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    /// <summary>Runs <c>codex exec</c> with a throw-away CODEX_HOME whose provider is the gateway, in a clean environment.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string gatewayUrl, string model, string prompt, params string[] extraArgs)
    {
        var codex = Path.Combine(ClaudeCodeEndToEndTests.RepositoryRoot(), "tests", "e2e", "node_modules", ".bin", "codex");
        Assert.True(File.Exists(codex), $"Codex CLI is not installed at {codex}; the test build installs it with npm (tests/e2e).");
        var codexHome = Directory.CreateTempSubdirectory("gapura-codex-home-").FullName;
        var work = Directory.CreateTempSubdirectory("gapura-codex-work-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(codexHome, "config.toml"), $$"""
                model = "{{model}}"
                model_provider = "gapura"

                [model_providers.gapura]
                name = "Gapura"
                base_url = "{{gatewayUrl}}/v1"
                env_key = "OPENAI_API_KEY"
                wire_api = "responses"
                request_max_retries = 0
                stream_max_retries = 0
                """);

            var start = new ProcessStartInfo(codex)
            {
                WorkingDirectory = work,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
            };
            start.ArgumentList.Add("exec");
            start.ArgumentList.Add("--skip-git-repo-check");
            // Non-interactive: no approval prompts. The only command run is the fixed echo the simulator asks
            // for, in a throw-away directory; the container may not offer the kernel sandbox Codex wants.
            start.ArgumentList.Add("--dangerously-bypass-approvals-and-sandbox");
            foreach (var a in extraArgs) start.ArgumentList.Add(a);
            start.ArgumentList.Add(prompt);
            // A clean environment: nothing of the caller's own OpenAI/Codex set-up leaks in.
            foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("OPENAI_") || k.StartsWith("CODEX_")).ToList())
                start.Environment.Remove(key);
            start.Environment["HOME"] = codexHome;
            start.Environment["CODEX_HOME"] = codexHome;
            start.Environment["OPENAI_API_KEY"] = GatewayFixture.ApiKey;
            start.Environment["NO_COLOR"] = "1";
            start.Environment["RUST_LOG"] = "error";

            return await ClientProcess.RunAsync(start, Timeout, "codex");
        }
        finally
        {
            try { Directory.Delete(codexHome, recursive: true); } catch (IOException) { }
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }
}
