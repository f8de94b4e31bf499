using System.Diagnostics;
using System.Text.Json;
using Gapura.Tests.Integration;
using Xunit.Abstractions;

namespace Gapura.Tests.Routing.Tasks.Recording;

/// <summary>Runs only when <c>GAPURA_RECORD_TO</c> names a folder; otherwise it is reported as skipped. It asserts nothing.</summary>
public sealed class RecorderFactAttribute : FactAttribute
{
    public RecorderFactAttribute()
    {
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable("GAPURA_RECORD_TO")))
            Skip = "A tool, not a test: set GAPURA_RECORD_TO=<folder> to record real client traffic for the classifier's fixtures.";
    }
}

/// <summary>
/// THE RECORDER (a tool, not a test): drives the real clients — Claude Code and Codex CLI from tests/e2e, opencode from
/// <c>GAPURA_OPENCODE</c> (a binary installed outside the repository; CI never installs it) — through
/// <see cref="RecordingProxy"/> into a real gateway and the Kiro simulator, in many situations, and writes every request
/// they send to <c>GAPURA_RECORD_TO</c>. The simulator's <c>[[tool:Name {json}]]</c> directives make the clients run
/// real tools (Bash, Read, Edit, sub-agents, Codex's exec_command).
/// <para>
/// Every request of a run is labelled with the run's task. The client's own housekeeping requests inside a run (a
/// title, a hook check, a summary) are relabelled by hand afterwards, after reading them, before the files are copied to
/// <c>tests/Gapura.Tests/Routing/Recordings/</c>: the label is what the request really is, never what the classifier says.
/// To keep the folder small, Claude Code's tool descriptions were then cut to 300 characters, except in three files kept
/// whole; a cut file says so in its <c>trimmed</c> field. A file's <c>note</c> field explains an unexpected label.
/// </para>
/// <code>GAPURA_RECORD_TO=/tmp/rec GAPURA_OPENCODE=/tmp/oc/node_modules/opencode-linux-x64/bin/opencode dotnet test tests/Gapura.Tests --filter "FullyQualifiedName~ClientRecorder"</code>
/// </summary>
public sealed class ClientRecorder(ITestOutputHelper output)
{
    private const string Model = "claude-sonnet-4-5";
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(100);

    // A 2×2 red PNG, for the image situations.
    private static readonly byte[] Png = Convert.FromBase64String(
        "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP4z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==");

    private RecordingProxy _proxy = null!;

    [RecorderFact]
    public async Task Record_real_client_traffic()
    {
        var folder = Environment.GetEnvironmentVariable("GAPURA_RECORD_TO")!;
        Directory.CreateDirectory(folder);
        var only = Environment.GetEnvironmentVariable("GAPURA_RECORD_ONLY"); // claude-code | codex-cli | opencode
        var gateway = new GatewayFixture();
        await gateway.InitializeAsync();
        await using var proxy = new RecordingProxy(gateway.BaseUrl, folder);
        _proxy = proxy;
        await proxy.StartAsync();
        try
        {
            if (only is null or "claude-code") await RecordClaudeCodeAsync();
            if (only is null or "codex-cli") await RecordCodexAsync();
            if (only is null or "opencode") await RecordOpenCodeAsync();
        }
        finally
        {
            await gateway.DisposeAsync();
        }
        output.WriteLine($"{proxy.Written.Count} requests recorded in {folder}");
    }

    // ---------------------------------------------------------------- Claude Code

    private async Task RecordClaudeCodeAsync()
    {
        var claude = Path.Combine(ClaudeCodeEndToEndTests.RepositoryRoot(), "tests", "e2e", "node_modules", ".bin", "claude");
        async Task Claude(string situation, string task, string prompt, string[]? args = null, string? home = null, string? work = null, string? stdin = null)
        {
            home ??= Temp("cc-home");
            work ??= Workspace();
            _proxy.Current = ("claude-code", situation, task);
            var env = new Dictionary<string, string>
            {
                ["HOME"] = home,
                ["ANTHROPIC_BASE_URL"] = _proxy.BaseUrl,
                ["ANTHROPIC_API_KEY"] = GatewayFixture.ApiKey,
                ["DISABLE_AUTOUPDATER"] = "1",
                ["DISABLE_TELEMETRY"] = "1",
                ["DISABLE_ERROR_REPORTING"] = "1",
            };
            string[] all = prompt.Length > 0 ? ["-p", prompt, "--model", Model, .. args ?? []] : ["-p", "--model", Model, .. args ?? []];
            await RunAsync(claude, all, env, work, ["ANTHROPIC_", "CLAUDE"], stdin, situation);
        }

        await Claude("plain-question-no-tools", "interactiveChat", "What is the difference between a list and a tuple in Python?", ["--tools", ""]);
        await Claude("plain-question", "interactiveChat", "What does HTTP status code 418 mean?");
        await Claude("greeting", "interactiveChat", "hi, how are you today?");
        await Claude("bash-tool-loop", "taskExecution",
            """Run the unit tests and fix what fails. [[tool:Bash {"command":"python3 -c 'print(42)'","description":"run the tests"}]]""", ["--allowedTools", "Bash"]);
        var work = Workspace();
        await Claude("read-then-change", "taskExecution",
            $$"""Add input validation to the add function in calc.py. [[tool:Read {"file_path":"{{work}}/calc.py"}]]""", ["--allowedTools", "Read"], work: work);
        await Claude("edit-code", "taskExecution",
            $$"""Rename the function add to add_numbers in calc.py. [[tool:Edit {"file_path":"{{work}}/calc.py","old_string":"def add(","new_string":"def add_numbers("}]]""", ["--allowedTools", "Edit"], work: work);
        await Claude("subagent", "taskExecution",
            """Find every TODO comment in this project using a sub-agent. [[tool:Agent {"description":"Find TODOs","prompt":"Search the project for TODO comments and list them. [[tool:Grep {\"pattern\":\"TODO\"}]]","subagent_type":"general-purpose"}]]""",
            ["--allowedTools", "Agent,Task,Grep"]);
        await Claude("subagent-task-name", "taskExecution",
            """Use a sub-agent to list the files here. [[tool:Task {"description":"List files","prompt":"List the files in the current directory. [[tool:Glob {\"pattern\":\"*\"}]]","subagent_type":"general-purpose"}]]""",
            ["--allowedTools", "Agent,Task,Glob"]);
        await Claude("review-diff", "codeReview", """
            Review this change for bugs and security problems:
            ```diff
            -    query = "SELECT * FROM users WHERE id = %s"
            -    cursor.execute(query, (user_id,))
            +    query = f"SELECT * FROM users WHERE id = {user_id}"
            +    cursor.execute(query)
            ```
            """);
        var repo = GitWorkspace();
        await Claude("review-slash-command", "codeReview", "/review", ["--allowedTools", "Bash"], work: repo);
        await Claude("review-with-tool", "codeReview",
            """Please review the uncommitted changes in this repository. [[tool:Bash {"command":"git diff","description":"show the diff"}]]""", ["--allowedTools", "Bash"], work: repo);
        await Claude("explain-code", "codeExplanation", """
            Explain what this function does and why it is written this way:
            ```python
            def memo(f):
                cache = {}
                def g(*a):
                    if a not in cache: cache[a] = f(*a)
                    return cache[a]
                return g
            ```
            """);
        work = Workspace();
        await Claude("explain-with-read", "codeExplanation",
            $$"""How does the add function in calc.py work? Walk me through it. [[tool:Read {"file_path":"{{work}}/calc.py"}]]""", ["--allowedTools", "Read"], work: work);
        await Claude("spec-requirements", "specGeneration",
            "Write a requirements document for a password-reset feature: user stories with acceptance criteria in EARS notation, then a design and an implementation task list.");
        await Claude("spec-design-doc", "specGeneration",
            "Create a technical design spec for adding rate limiting to our public API: components, data model, error handling and a testing strategy.");
        await Claude("docs-readme", "documentationUpdate",
            $$"""Update the README to document the new --verbose flag. [[tool:Edit {"file_path":"{{work}}/README.md","old_string":"## Usage","new_string":"## Usage\n\nUse --verbose for more output."}]]""", ["--allowedTools", "Edit"], work: work);
        await Claude("docs-docstrings", "documentationUpdate", "Add docstrings to every public function in calc.py and update the changelog.");
        await Claude("init-claude-md", "documentationUpdate", "/init", ["--allowedTools", "Read,Write,Glob"], work: Workspace());

        // Compaction: a first turn, then /compact on the same session.
        var home = Temp("cc-home");
        work = Workspace();
        await Claude("compact-first-turn", "interactiveChat", "What is a monad, in one paragraph?", home: home, work: work);
        await Claude("compact", "background", "/compact", ["--continue"], home: home, work: work);
        await Claude("continue-after-compact", "interactiveChat", "And what is a functor?", ["--continue"], home: home, work: work);

        // Images: one the Read tool brings back, one the user sends (stream-json input with an image block).
        work = Workspace();
        await Claude("image-read", "vision",
            $$"""What is shown in this screenshot? [[tool:Read {"file_path":"{{work}}/screenshot.png"}]]""", ["--allowedTools", "Read"], work: work);
        var userImage = JsonSerializer.Serialize(new
        {
            type = "user",
            message = new
            {
                role = "user",
                content = new object[]
                {
                    new { type = "image", source = new { type = "base64", media_type = "image/png", data = Convert.ToBase64String(Png) } },
                    new { type = "text", text = "What colour is this image?" },
                },
            },
        });
        await Claude("image-pasted", "vision", "", ["--input-format", "stream-json", "--output-format", "stream-json", "--verbose"], stdin: userImage + "\n");

        // Hooks: prompt hooks are evaluated by the model.
        var hooks = JsonSerializer.Serialize(new
        {
            hooks = new
            {
                Stop = new[] { new { hooks = new[] { new { type = "prompt", prompt = "Check that the assistant answered the question completely. $ARGUMENTS" } } } },
                PreToolUse = new[] { new { matcher = "Bash", hooks = new[] { new { type = "prompt", prompt = "Allow the command only if it does not delete files. $ARGUMENTS" } } } },
            },
        });
        await Claude("prompt-hooks", "taskExecution",
            """List the files. [[tool:Bash {"command":"ls","description":"list files"}]]""", ["--allowedTools", "Bash", "--settings", hooks]);
        await Claude("stop-hook", "interactiveChat", "What is 2 + 2?", ["--settings", hooks]);
    }

    // ---------------------------------------------------------------- Codex CLI

    private async Task RecordCodexAsync()
    {
        var codex = Path.Combine(ClaudeCodeEndToEndTests.RepositoryRoot(), "tests", "e2e", "node_modules", ".bin", "codex");
        string CodexHome(string extra = "")
        {
            var home = Temp("cx-home");
            File.WriteAllText(Path.Combine(home, "config.toml"), $$"""
                model = "{{Model}}"
                model_provider = "gapura"
                {{extra}}

                [model_providers.gapura]
                name = "Gapura"
                base_url = "{{_proxy.BaseUrl}}/v1"
                env_key = "OPENAI_API_KEY"
                wire_api = "responses"
                request_max_retries = 0
                stream_max_retries = 0
                """);
            return home;
        }
        async Task Codex(string situation, string task, string[] args, string? home = null, string? work = null)
        {
            home ??= CodexHome();
            _proxy.Current = ("codex-cli", situation, task);
            var env = new Dictionary<string, string>
            {
                ["HOME"] = home,
                ["CODEX_HOME"] = home,
                ["OPENAI_API_KEY"] = GatewayFixture.ApiKey,
                ["NO_COLOR"] = "1",
                ["RUST_LOG"] = "error",
            };
            await RunAsync(codex, args, env, work ?? Workspace(), ["OPENAI_", "CODEX_"], null, situation);
        }
        string[] Exec(params string[] rest) => ["exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", .. rest];

        await Codex("plain-question", "interactiveChat", Exec("What is a closure in JavaScript?"));
        await Codex("greeting", "interactiveChat", Exec("hello!"));
        await Codex("shell-tool-loop", "taskExecution", Exec("""Make the build pass. [[tool:exec_command {"cmd":"echo building"}]]"""));
        var work = Workspace();
        await Codex("change-code", "taskExecution", Exec("""Add input validation to add() in calc.py. [[tool:exec_command {"cmd":"cat calc.py"}]]"""), work: work);
        await Codex("explain-code", "codeExplanation", Exec("""Explain how calc.py works. [[tool:exec_command {"cmd":"cat calc.py"}]]"""), work: work);
        await Codex("explain-question", "codeExplanation", Exec("Explain what a Python decorator does and how functools.wraps helps."));
        await Codex("review-prompt", "codeReview", Exec("Review this diff for bugs: -  return a+b\n+  return a-b"));
        await Codex("review-uncommitted", "codeReview", ["exec", "review", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", "--uncommitted"], work: GitWorkspace());
        await Codex("review-custom", "codeReview", ["exec", "review", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", "Focus on SQL injection."], work: GitWorkspace());
        await Codex("spec-requirements", "specGeneration", Exec("Write a requirements spec with user stories and acceptance criteria for a CSV export feature."));
        await Codex("docs-update", "documentationUpdate", Exec("""Update the README with installation instructions. [[tool:exec_command {"cmd":"cat README.md"}]]"""), work: Workspace());
        work = Workspace();
        File.WriteAllBytes(Path.Combine(work, "screenshot.png"), Png);
        await Codex("image-attached", "vision", Exec("What does this screenshot show?", "--image", "screenshot.png"), work: work);
        // Compaction: a tiny auto-compact limit on a resumed session.
        var home = CodexHome("model_auto_compact_token_limit = 2000");
        work = Workspace();
        await Codex("compact-first-turn", "interactiveChat", Exec("Tell me about sorting algorithms."), home: home, work: work);
        await Codex("compact-resume", "interactiveChat", ["exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox", "resume", "--last", "And which one is stable?"], home: home, work: work);
    }

    // ---------------------------------------------------------------- opencode

    private async Task RecordOpenCodeAsync()
    {
        var opencode = Environment.GetEnvironmentVariable("GAPURA_OPENCODE");
        if (opencode is null || !File.Exists(opencode)) { output.WriteLine("opencode: GAPURA_OPENCODE not set, skipped"); return; }
        async Task OpenCode(string situation, string task, string[] args, string? work = null, string? home = null)
        {
            home ??= Temp("oc-home");
            _proxy.Current = ("opencode", situation, task);
            var config = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["$schema"] = "https://opencode.ai/config.json",
                ["model"] = "anthropic/claude-sonnet-4-5",
                ["small_model"] = "anthropic/claude-haiku-4-5",
                ["autoupdate"] = false,
                ["share"] = "disabled",
                ["provider"] = new Dictionary<string, object>
                {
                    ["anthropic"] = new { options = new { baseURL = _proxy.BaseUrl + "/v1", apiKey = GatewayFixture.ApiKey } },
                },
                ["permission"] = new { edit = "allow", bash = "allow", webfetch = "deny" },
            });
            var env = new Dictionary<string, string>
            {
                ["HOME"] = home,
                ["XDG_CONFIG_HOME"] = Path.Combine(home, ".config"),
                ["XDG_DATA_HOME"] = Path.Combine(home, ".local/share"),
                ["XDG_CACHE_HOME"] = Path.Combine(home, ".cache"),
                ["XDG_STATE_HOME"] = Path.Combine(home, ".local/state"),
                ["OPENCODE_CONFIG_CONTENT"] = config,
                ["OPENCODE_DISABLE_AUTOUPDATE"] = "1",
                ["OPENCODE_DISABLE_MODELS_FETCH"] = "1",
                ["OPENCODE_DISABLE_LSP_DOWNLOAD"] = "1",
                ["NO_COLOR"] = "1",
            };
            env["PWD"] = work ??= Workspace();
            // opencode joins its message words; one argument holding spaces arrives JSON-quoted, which hides a directive.
            string[] words = [.. args.SelectMany(a => a.StartsWith('-') || a.Contains('/') && !a.Contains(' ') ? [a] : a.Split(' ', StringSplitOptions.RemoveEmptyEntries))];
            await RunAsync(opencode, ["run", .. words], env, work, ["ANTHROPIC_", "OPENAI_", "OPENCODE"], null, situation);
        }

        await OpenCode("plain-question", "interactiveChat", ["What is the difference between TCP and UDP?"]);
        await OpenCode("shell-tool-loop", "taskExecution", ["""Run the tests and fix failures. [[tool:bash {"command":"echo","description":"tests"}]]"""]);
        var work = Workspace();
        await OpenCode("read-then-change", "taskExecution", [$$"""Add input validation to add() in calc.py. [[tool:read {"filePath":"{{work}}/calc.py"}]]"""], work);
        await OpenCode("explain-code", "codeExplanation", [$$"""Explain how calc.py works. [[tool:read {"filePath":"{{work}}/calc.py"}]]"""], work);
        await OpenCode("review-prompt", "codeReview", ["Review this change for bugs and security issues: the SQL query is now built with an f-string from user_id instead of a parameter."]);
        await OpenCode("review-command", "codeReview", ["--command", "review"], GitWorkspace());
        await OpenCode("spec-requirements", "specGeneration", ["Write a requirements spec with user stories and acceptance criteria for a dark-mode setting."]);
        await OpenCode("docs-update", "documentationUpdate", [$$"""Update the README to document the verbose flag. [[tool:read {"filePath":"{{work}}/README.md"}]]"""], work);
        work = Workspace();
        await OpenCode("image-attached", "vision", ["What is in this image?", "-f", Path.Combine(work, "screenshot.png")], work);
        await OpenCode("init-agents-md", "documentationUpdate", ["--command", "init"], Workspace());
    }

    // ---------------------------------------------------------------- plumbing

    private static string Temp(string prefix) => Directory.CreateTempSubdirectory("gapura-rec-" + prefix + "-").FullName;

    private static string Workspace()
    {
        var work = Temp("work");
        File.WriteAllText(Path.Combine(work, "calc.py"), "def add(a, b):\n    # TODO: validate input\n    return a + b\n");
        File.WriteAllText(Path.Combine(work, "README.md"), "# calc\n\nA tiny calculator.\n\n## Usage\n\n    python3 calc.py\n");
        File.WriteAllBytes(Path.Combine(work, "screenshot.png"), Png);
        return work;
    }

    /// <summary>A git repository with one commit and an uncommitted change worth reviewing.</summary>
    private static string GitWorkspace()
    {
        var work = Workspace();
        foreach (var args in new[] { "init -q", "-c user.email=r@test -c user.name=rec add -A", "-c user.email=r@test -c user.name=rec commit -qm initial" })
            Process.Start(new ProcessStartInfo("git", args) { WorkingDirectory = work })!.WaitForExit();
        File.WriteAllText(Path.Combine(work, "db.py"), "def user(cursor, user_id):\n    cursor.execute(f\"SELECT * FROM users WHERE id = {user_id}\")\n    return cursor.fetchone()\n");
        File.WriteAllText(Path.Combine(work, "calc.py"), "def add(a, b):\n    return a - b\n");
        Process.Start(new ProcessStartInfo("git", "add -A") { WorkingDirectory = work })!.WaitForExit();
        return work;
    }

    private async Task RunAsync(string exe, string[] args, Dictionary<string, string> env, string work, string[] clearPrefixes, string? stdin, string situation)
    {
        var start = new ProcessStartInfo(exe) { WorkingDirectory = work, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var key in start.Environment.Keys.Where(k => clearPrefixes.Any(p => k.StartsWith(p, StringComparison.Ordinal))).ToList()) start.Environment.Remove(key);
        foreach (var (k, v) in env) start.Environment[k] = v;
        var before = _proxy.Written.Count;
        using var process = Process.Start(start)!;
        if (stdin is not null) await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(RunTimeout);
        try { await process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException) { process.Kill(entireProcessTree: true); await process.WaitForExitAsync(); }
        var outText = await stdout;
        var errText = await stderr;
        output.WriteLine($"[{_proxy.Current.Client}/{situation}] exit {(process.HasExited ? process.ExitCode : -1)}, {_proxy.Written.Count - before} requests; "
            + $"stdout: {Clip(outText)} stderr: {Clip(errText)}");
    }

    private static string Clip(string s) => s.Length <= 300 ? s.ReplaceLineEndings(" ") : s[..300].ReplaceLineEndings(" ") + "…";
}
