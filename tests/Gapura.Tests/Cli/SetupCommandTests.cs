using System.Diagnostics;
using System.Net;
using System.Text.Json.Nodes;
using Gapura.Cli;
using Gapura.Identity;
using Gapura.Secrets;
using Gapura.Simulators.Kiro;
using Gapura.Storage;
using Gapura.Tests.Integration;
using Microsoft.Data.Sqlite;
using Tomlyn;
using Tomlyn.Model;

namespace Gapura.Tests.Cli;

/// <summary>
/// <c>gapura setup</c> end to end: the real verb against the Kiro simulator (whose model list the settings name), its
/// output parsed as each client would, files written into a temporary home that already holds other settings.
/// </summary>
public sealed class SetupCommandTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gapura-setup-").FullName;
    private KiroSimulator _kiro = null!;

    private string Home => Path.Combine(_dir, "home");
    private string Db => Path.Combine(_dir, "data", "gapura.db");

    public async Task InitializeAsync()
    {
        _kiro = await KiroSimulator.StartAsync(new KiroSimulatorOptions());
        await GatewayFixture.WriteKiroLoginAsync(_kiro, Path.Combine(_dir, "kiro-auth-token.json"));
        Directory.CreateDirectory(Home);
    }

    public async Task DisposeAsync()
    {
        await _kiro.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string[] Upstream(string db, string credentials) =>
    [
        $"--Storage:Path={db}",
        $"--Kiro:Endpoint={_kiro.BaseUrl}",
        $"--Kiro:AuthEndpoint={_kiro.BaseUrl}",
        $"--Kiro:OidcEndpoint={_kiro.BaseUrl}",
        $"--Kiro:CredentialsFile={credentials}",
    ];

    private async Task<(int Code, string Out, string Err)> SetupAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await GapuraCli.RunAsync(["setup", .. args, .. Upstream(Db, Path.Combine(_dir, "kiro-auth-token.json"))], output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static UnixFileMode? Mode(string path) => !OperatingSystem.IsWindows() && File.Exists(path) ? File.GetUnixFileMode(path) & (UnixFileMode)0b111_111_111 : null;

    [Fact]
    public async Task Claude_code_settings_carry_the_base_url_and_gateway_key_as_a_bearer_token()
    {
        var (code, output, error) = await SetupAsync("claude-code", $"--Gateway:ApiKey={GatewayFixture.ApiKey}");

        Assert.True(code == 0, $"exit {code}\n{output}\n{error}");
        var env = JsonNode.Parse(output)!["env"]!;
        Assert.Equal("http://127.0.0.1:8000", (string)env["ANTHROPIC_BASE_URL"]!);
        Assert.Equal(GatewayFixture.ApiKey, (string)env["ANTHROPIC_AUTH_TOKEN"]!);
        Assert.Null(env["ANTHROPIC_API_KEY"]);
        // Claude Code's own names resolve by family: no model is pinned unless asked for.
        Assert.Null(env["ANTHROPIC_MODEL"]);
        Assert.Contains("claude-sonnet-4.5", error);
    }

    [Fact]
    public async Task Codex_settings_are_toml_with_a_responses_provider_the_listening_url_and_a_model_the_upstream_offers()
    {
        var (code, output, error) = await SetupAsync("codex", $"--Gateway:ApiKey={GatewayFixture.ApiKey}", "--urls=http://0.0.0.0:9123;http://127.0.0.1:9124");

        Assert.True(code == 0, $"exit {code}\n{output}\n{error}");
        var toml = TomlSerializer.Deserialize<TomlTable>(output)!;
        Assert.Equal("gapura", toml["model_provider"]);
        Assert.Equal("claude-sonnet-4.5", toml["model"]);
        var provider = (TomlTable)((TomlTable)toml["model_providers"])["gapura"];
        Assert.Equal("http://127.0.0.1:9123/v1", provider["base_url"]);
        Assert.Equal("responses", provider["wire_api"]);
        Assert.Equal(GatewayFixture.ApiKey, provider["experimental_bearer_token"]);
    }

    [Fact]
    public async Task Opencode_settings_list_every_model_with_its_context_and_output_limits()
    {
        var (code, output, error) = await SetupAsync("opencode", $"--Gateway:ApiKey={GatewayFixture.ApiKey}", "--base-url", "http://gw.example:8000/");

        Assert.True(code == 0, $"exit {code}\n{output}\n{error}");
        var root = JsonNode.Parse(output)!;
        var provider = root["provider"]!["gapura"]!;
        Assert.Equal("@ai-sdk/openai-compatible", (string)provider["npm"]!);
        Assert.Equal("http://gw.example:8000/v1", (string)provider["options"]!["baseURL"]!);
        Assert.Equal(GatewayFixture.ApiKey, (string)provider["options"]!["apiKey"]!);
        var models = provider["models"]!.AsObject();
        Assert.Equal(200_000, (int)models["claude-sonnet-4.5"]!["limit"]!["context"]!);
        Assert.Equal(128_000, (int)models["claude-opus-4.6"]!["limit"]!["output"]!);
        Assert.Equal(256_000, (int)models["qwen3-coder-next"]!["limit"]!["context"]!);
        Assert.Equal("gapura/claude-sonnet-4.5", (string)root["model"]!);
    }

    [Fact]
    public async Task With_user_a_new_key_named_after_the_client_is_created_and_printed_once()
    {
        Assert.Equal(0, await GapuraCli.RunAsync(["users", "add", "dev@example.com", $"--Storage:Path={Db}"], new StringWriter(), new StringWriter()));

        var (code, output, error) = await SetupAsync("codex", "--user", "dev@example.com");

        Assert.True(code == 0, $"exit {code}\n{output}\n{error}");
        var key = (string)((TomlTable)((TomlTable)TomlSerializer.Deserialize<TomlTable>(output)!["model_providers"])["gapura"])["experimental_bearer_token"];
        Assert.True(ApiKeys.LooksLikeKey(key));
        Assert.DoesNotContain(key, error);
        var keyFile = Path.Combine(_dir, "data", KeyRingLoader.DefaultKeyFileName);
        await using var db = new SqliteDatabase(Db);
        var store = new GapuraStore(db, new SecretBox(KeyRingLoader.Load(new SecretsOptions(), keyFile, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance)));
        var stored = await store.ApiKeys.FindByHashAsync(ApiKeys.Hash(key));
        Assert.NotNull(stored);
        Assert.Equal("setup codex", stored.Name);
        Assert.Contains(await store.Audit.ListAsync(), e => e.Action == "key.create" && e.Target == "key:" + stored.Prefix);
    }

    [Fact]
    public async Task Without_a_key_or_user_it_says_to_pass_user_and_exits_1()
    {
        var (code, output, error) = await SetupAsync("claude-code");

        Assert.Equal(CliExit.Refused, code);
        Assert.Equal("", output);
        Assert.Contains("--user", error);
    }

    [Fact]
    public async Task An_unknown_client_is_a_usage_error()
    {
        var (code, _, _) = await SetupAsync("vim", $"--Gateway:ApiKey={GatewayFixture.ApiKey}");
        Assert.Equal(CliExit.Usage, code);
    }

    [Fact]
    public async Task Write_merges_into_each_clients_existing_file_keeping_other_settings_with_a_backup_and_mode_600()
    {
        var claude = Path.Combine(Home, ".claude", "settings.json");
        var codex = Path.Combine(Home, ".codex", "config.toml");
        var opencode = Path.Combine(Home, ".config", "opencode", "opencode.json");
        Directory.CreateDirectory(Path.GetDirectoryName(claude)!);
        Directory.CreateDirectory(Path.GetDirectoryName(codex)!);
        Directory.CreateDirectory(Path.GetDirectoryName(opencode)!);
        const string claudeBefore = """{"theme":"dark","env":{"FOO":"bar","ANTHROPIC_API_KEY":"sk-ant-old"},"permissions":{"allow":["Bash(ls:*)"]}}""";
        const string codexBefore = """
            # my own notes
            model = "o3"
            approval_policy = "on-request"

            [mcp_servers.docs]
            command = "npx" # the docs server
            args = ["-y", "docs-mcp"]

            [model_providers.gapura]
            base_url = "http://old.example/v1"

            [profiles.fast]
            model = "gpt-5-mini"

            """;
        const string opencodeBefore = """
            {
              // opencode accepts comments
              "theme": "tokyonight",
              "provider": { "ollama": { "npm": "@ai-sdk/openai-compatible", "options": { "baseURL": "http://localhost:11434/v1" } } },
            }
            """;
        await File.WriteAllTextAsync(claude, claudeBefore);
        await File.WriteAllTextAsync(codex, codexBefore);
        await File.WriteAllTextAsync(opencode, opencodeBefore);

        foreach (var client in new[] { "claude-code", "codex", "opencode" })
        {
            var (code, output, error) = await SetupAsync(client, "--write", "--home", Home, $"--Gateway:ApiKey={GatewayFixture.ApiKey}");
            Assert.True(code == 0, $"{client}: exit {code}\n{output}\n{error}");
            Assert.Equal("", output);
            Assert.Contains("Wrote the Gapura settings into", error);
        }

        var claudeAfter = JsonNode.Parse(await File.ReadAllTextAsync(claude))!;
        Assert.Equal("dark", (string)claudeAfter["theme"]!);
        Assert.Equal("Bash(ls:*)", (string)claudeAfter["permissions"]!["allow"]![0]!);
        Assert.Equal("bar", (string)claudeAfter["env"]!["FOO"]!);
        Assert.Equal(GatewayFixture.ApiKey, (string)claudeAfter["env"]!["ANTHROPIC_AUTH_TOKEN"]!);
        Assert.Null(claudeAfter["env"]!["ANTHROPIC_API_KEY"]);

        var codexText = await File.ReadAllTextAsync(codex);
        Assert.Contains("# my own notes", codexText);
        Assert.Contains("# the docs server", codexText);
        var codexAfter = TomlSerializer.Deserialize<TomlTable>(codexText)!;
        Assert.Equal("on-request", codexAfter["approval_policy"]);
        Assert.Equal("npx", ((TomlTable)((TomlTable)codexAfter["mcp_servers"])["docs"])["command"]);
        Assert.Equal("gpt-5-mini", ((TomlTable)((TomlTable)codexAfter["profiles"])["fast"])["model"]);
        Assert.Equal("gapura", codexAfter["model_provider"]);
        Assert.Equal("http://127.0.0.1:8000/v1", ((TomlTable)((TomlTable)codexAfter["model_providers"])["gapura"])["base_url"]);

        var opencodeAfter = JsonNode.Parse(await File.ReadAllTextAsync(opencode))!;
        Assert.Equal("tokyonight", (string)opencodeAfter["theme"]!);
        Assert.Equal("http://localhost:11434/v1", (string)opencodeAfter["provider"]!["ollama"]!["options"]!["baseURL"]!);
        Assert.Equal("http://127.0.0.1:8000/v1", (string)opencodeAfter["provider"]!["gapura"]!["options"]!["baseURL"]!);

        foreach (var (path, before) in new[] { (claude, claudeBefore), (codex, codexBefore), (opencode, opencodeBefore) })
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, Mode(path) ?? UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var backup = Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!, Path.GetFileName(path) + ".bak-*"));
            Assert.Equal(before, await File.ReadAllTextAsync(backup));
        }
    }

    [Fact]
    public async Task A_file_that_does_not_parse_is_left_unchanged()
    {
        var claude = Path.Combine(Home, ".claude", "settings.json");
        Directory.CreateDirectory(Path.GetDirectoryName(claude)!);
        await File.WriteAllTextAsync(claude, "{ not json");

        var (code, _, error) = await SetupAsync("claude-code", "--write", "--home", Home, $"--Gateway:ApiKey={GatewayFixture.ApiKey}");

        Assert.Equal(CliExit.Refused, code);
        Assert.Contains("left unchanged", error);
        Assert.Equal("{ not json", await File.ReadAllTextAsync(claude));
    }

    /// <summary>The real Claude Code and Codex CLI, configured by nothing but the files <c>--write</c> produced, talk to a real gateway.</summary>
    [Fact]
    public async Task The_real_claude_code_and_codex_work_with_what_write_produced()
    {
        var gateway = new GatewayFixture();
        await gateway.InitializeAsync();
        try
        {
            var setup = (string client, string[] extra) => GapuraCli.RunAsync(
                ["setup", client, "--write", "--home", Home, "--base-url", gateway.BaseUrl, $"--Gateway:ApiKey={GatewayFixture.ApiKey}",
                    .. extra, .. Upstream(Db, gateway.CredentialsFile)], new StringWriter(), new StringWriter());
            Assert.Equal(0, await setup("claude-code", []));
            Assert.Equal(0, await setup("codex", ["--model", "claude-sonnet-4-5"]));
            var work = Directory.CreateTempSubdirectory("gapura-setup-work-").FullName;

            var claude = ClientStart("claude", work);
            claude.ArgumentList.Add("-p");
            claude.ArgumentList.Add("say hi");
            var before = gateway.Kiro.ChatCalls;
            var claudeRun = await ClientProcess.RunAsync(claude, TimeSpan.FromSeconds(120), "claude");
            Assert.True(claudeRun.ExitCode == 0, $"claude exited {claudeRun.ExitCode}\n{claudeRun.Stdout}\n{claudeRun.Stderr}");
            Assert.True(gateway.Kiro.ChatCalls > before, "Claude Code's request did not reach the upstream through the gateway");

            var codex = ClientStart("codex", work);
            foreach (var a in new[] { "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", "say hi" }) codex.ArgumentList.Add(a);
            before = gateway.Kiro.ChatCalls;
            var codexRun = await ClientProcess.RunAsync(codex, TimeSpan.FromSeconds(120), "codex");
            Assert.True(codexRun.ExitCode == 0, $"codex exited {codexRun.ExitCode}\n{codexRun.Stdout}\n{codexRun.Stderr}");
            Assert.True(gateway.Kiro.ChatCalls > before, "Codex's request did not reach the upstream through the gateway");
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    /// <summary>A client with a clean environment: only the written files (under HOME) can point it at the gateway.</summary>
    private ProcessStartInfo ClientStart(string name, string work)
    {
        var path = Path.Combine(ClaudeCodeEndToEndTests.RepositoryRoot(), "tests", "e2e", "node_modules", ".bin", name);
        Assert.True(File.Exists(path), $"{name} is not installed at {path}; the test build installs it with npm (tests/e2e).");
        var start = new ProcessStartInfo(path) { WorkingDirectory = work, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("ANTHROPIC_") || k.StartsWith("CLAUDE") || k.StartsWith("OPENAI_") || k.StartsWith("CODEX_")).ToList())
            start.Environment.Remove(key);
        start.Environment["HOME"] = Home;
        start.Environment.Remove("XDG_CONFIG_HOME");
        start.Environment["DISABLE_AUTOUPDATER"] = "1";
        start.Environment["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] = "1";
        start.Environment["NO_COLOR"] = "1";
        start.Environment["RUST_LOG"] = "error";
        return start;
    }
}
