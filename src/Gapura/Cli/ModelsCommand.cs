using System.CommandLine;
using System.Globalization;
using Gapura.Api;
using Gapura.Ledger;
using Gapura.Routing.Upgrade;
using Microsoft.Extensions.Options;

namespace Gapura.Cli;

/// <summary>
/// <c>gapura models compare</c>: the upgrade protocol's "compare output quality against the previous model on the same
/// spec" step. Unlike the database verbs it is a client of a running gateway over HTTP, so it measures what users
/// get — routing, translation, retries and all.
/// </summary>
internal static class ModelsCommand
{
    public const string UrlVariable = "GAPURA_URL";
    public const string KeyVariable = "GAPURA_API_KEY";

    public static Command Create()
    {
        var models = new Command("models", "Work with the models behind the gateway.");
        models.Subcommands.Add(CreateCompare());
        return models;
    }

    private static Command CreateCompare()
    {
        // Numbers are read as text and checked here: a bad value is a usage error (exit 2) with a message that
        // names the allowed range, not the parser's generic one.
        var baseline = new Option<string?>("--baseline") { HelpName = "MODEL", Description = "The model in use today (as clients name it)." };
        var candidate = new Option<string?>("--candidate") { HelpName = "MODEL", Description = "The model to compare it with." };
        var prompts = new Option<string?>("--prompts") { HelpName = "FILE", Description = "JSON lines: {\"prompt\": \"…\"} or an Anthropic Messages body {\"messages\": […]} per line." };
        var runs = new Option<string?>("--runs") { HelpName = "N", Description = "How many times each prompt goes to each model (1–20). Default 1." };
        var concurrency = new Option<string?>("--concurrency") { HelpName = "N", Description = "Requests in flight at once (1–8). Default 1, which keeps latencies comparable." };
        var maxTokens = new Option<string?>("--max-tokens") { HelpName = "N", Description = "max_tokens for prompts that do not set it. Default 1024." };
        var timeout = new Option<string?>("--timeout-seconds") { HelpName = "SECONDS", Description = "Give up on one request after this long. Default 300." };
        var url = new Option<string?>("--url") { HelpName = "URL", Description = $"The gateway. Default ${UrlVariable}, else {GatewayHost.DefaultUrl}." };
        var key = new Option<string?>("--key") { HelpName = "KEY", Description = $"API key. Default ${KeyVariable}, else Gateway:ApiKey, else the first-run key file data/api-key." };
        var output = new Option<string?>("--out") { HelpName = "PREFIX", Description = "Report path prefix: writes PREFIX.md and PREFIX.json. Default compare-<UTC time>." };
        var command = new Command("compare", "Send the same prompts through two models and write a side-by-side report (markdown and JSON): answers, tokens, cost, latency, errors.")
        {
            baseline, candidate, prompts, runs, concurrency, maxTokens, timeout, url, key, output,
        };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, ct) =>
        {
            var stdout = parse.InvocationConfiguration.Output;
            var stderr = parse.InvocationConfiguration.Error;
            try
            {
                // Unknown tokens may only be settings (--Storage:Path=…, --Pricing:Models:…), as for the other verbs.
                if (parse.UnmatchedTokens.FirstOrDefault(t => !t.StartsWith("--", StringComparison.Ordinal) || !t.Contains(':')) is { } stray)
                    throw new CliException($"unknown argument '{stray}' (see --help).", CliExit.Usage);
                var config = LoginCommand.BuildConfiguration([.. parse.UnmatchedTokens]);
                var settings = new CompareSettings(
                    Required(parse.GetValue(baseline), "--baseline"),
                    Required(parse.GetValue(candidate), "--candidate"),
                    Required(parse.GetValue(prompts), "--prompts"),
                    Number(parse.GetValue(runs), "--runs", 1, 1, 20),
                    Number(parse.GetValue(concurrency), "--concurrency", 1, 1, 8),
                    Number(parse.GetValue(maxTokens), "--max-tokens", 1024, 1, 1_000_000),
                    Number(parse.GetValue(timeout), "--timeout-seconds", 300, 1, 3600),
                    GatewayUrl(parse.GetValue(url)),
                    parse.GetValue(key),
                    parse.GetValue(output));
                return await RunAsync(settings, config, stdout, stderr, ct);
            }
            catch (CliException e)
            {
                await stderr.WriteLineAsync("error: " + e.Message);
                return e.ExitCode;
            }
        });
        return command;
    }

    internal sealed record CompareSettings(string Baseline, string Candidate, string PromptsFile, int Runs, int Concurrency, int MaxTokens,
        int TimeoutSeconds, Uri Url, string? Key, string? OutPrefix);

    private static async Task<int> RunAsync(CompareSettings settings, IConfiguration config, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        IReadOnlyList<ComparisonPrompt> prompts;
        try
        {
            prompts = ComparisonPrompts.ReadFile(settings.PromptsFile, settings.MaxTokens);
        }
        catch (ComparisonPromptException e)
        {
            throw new CliException(e.Message, CliExit.Usage);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot read {settings.PromptsFile}: {e.Message}", CliExit.Usage);
        }
        var apiKey = ApiKey(settings.Key, config);
        var prices = Prices(config);
        var plan = new ComparisonPlan(settings.Baseline, settings.Candidate, prompts, settings.Runs, settings.Concurrency, TimeSpan.FromSeconds(settings.TimeoutSeconds));
        var prefix = OutPrefix(settings.OutPrefix);

        using var http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(10), MaxConnectionsPerServer = 16 })
        {
            // Each request has its own deadline (--timeout-seconds); the client's would cut long streams.
            Timeout = Timeout.InfiniteTimeSpan,
        };
        var runner = new ModelComparisonRunner(http, settings.Url, apiKey, (model, usage) => prices.CostOf(null, model, usage));
        try
        {
            await runner.CheckAsync([plan.Baseline, plan.Candidate], ct);
        }
        catch (ComparisonGatewayException e)
        {
            throw new CliException(e.Message, CliExit.Refused);
        }
        catch (ComparisonModelException e)
        {
            throw new CliException(e.Message, CliExit.Usage);
        }

        await stderr.WriteLineAsync($"Comparing {plan.Baseline} (baseline) with {plan.Candidate} (candidate): {ModelComparisonReport.N(plan.RequestCount)} requests "
            + $"({ModelComparisonReport.Plural(prompts.Count, "prompt")} × {ModelComparisonReport.Plural(plan.Runs, "run")} × 2) through {settings.Url}");
        var started = DateTimeOffset.UtcNow;
        var results = await runner.RunAsync(plan, p => stderr.WriteLine(ProgressLine(p)), ct);
        var report = new ModelComparisonReport(settings.Url.ToString(), plan, results, started, DateTimeOffset.UtcNow);

        var markdownPath = prefix + ".md";
        var jsonPath = prefix + ".json";
        if (Path.GetDirectoryName(Path.GetFullPath(markdownPath)) is { } folder) Directory.CreateDirectory(folder);
        await using (var md = new StreamWriter(markdownPath, append: false, new System.Text.UTF8Encoding(false)))
            report.WriteMarkdown(md);
        await using (var json = File.Create(jsonPath))
            report.WriteJson(json);

        CliTable.Write(stdout, report.SummaryHeaders, report.SummaryRows());
        await stdout.WriteLineAsync();
        await stdout.WriteLineAsync(markdownPath);
        await stdout.WriteLineAsync(jsonPath);
        var errors = report.Baseline.Errors + report.Candidate.Errors;
        if (errors > 0) await stderr.WriteLineAsync($"{ModelComparisonReport.N(errors)} of {ModelComparisonReport.N(plan.RequestCount)} requests failed; the report lists them.");
        return CliExit.Ok;
    }

    internal static string ProgressLine(ComparisonProgress p)
    {
        var r = p.Result;
        var side = r.Side == ComparisonSide.Baseline ? "baseline" : "candidate";
        var outcome = r.Ok
            ? $"{ModelComparisonReport.Seconds(r.LatencyMs)}, {ModelComparisonReport.N(r.OutputTokens)} output tokens"
            : $"error after {ModelComparisonReport.Seconds(r.LatencyMs)}: {ComparisonPrompts.OneLine(r.Error!, 200)}";
        return $"[{p.Done}/{p.Total}] {side} {r.Prompt.Label} run {r.Run}: {outcome}";
    }

    private static string Required(string? value, string name)
        => string.IsNullOrWhiteSpace(value) ? throw new CliException($"{name} is required (see `gapura models compare --help`).", CliExit.Usage) : value.Trim();

    private static int Number(string? text, string name, int fallback, int min, int max)
    {
        if (text is null) return fallback;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
            throw new CliException($"{name} must be a whole number from {min} to {max}, not '{text}'.", CliExit.Usage);
        return n;
    }

    private static Uri GatewayUrl(string? option)
    {
        var text = option ?? (Environment.GetEnvironmentVariable(UrlVariable) is { Length: > 0 } env ? env : GatewayHost.DefaultUrl);
        if (!Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw new CliException($"--url must be an http:// or https:// address, not '{text}'.", CliExit.Usage);
        // A trailing slash, so the API paths are resolved below any path prefix a proxy puts the gateway under.
        return uri.AbsolutePath.EndsWith('/') ? uri : new Uri(uri + "/");
    }

    /// <summary>
    /// --key, else GAPURA_API_KEY, else the key the gateway itself would be configured with (Gateway:ApiKey), else
    /// the first-run key file serve writes beside its database (data/api-key unless Storage:Path moves it).
    /// </summary>
    private static string ApiKey(string? option, IConfiguration config)
    {
        if (!string.IsNullOrWhiteSpace(option)) return option.Trim();
        if (Environment.GetEnvironmentVariable(KeyVariable) is { Length: > 0 } env) return env.Trim();
        if (config[$"{GatewayOptions.Section}:{nameof(GatewayOptions.ApiKey)}"] is { Length: > 0 } configured) return configured.Trim();
        var file = Identity.BootstrapApiKey.FileFor(config);
        try
        {
            if (File.Exists(file) && File.ReadAllText(file).Trim() is { Length: > 0 } key) return key;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot read the API key file {file}: {e.Message}. Give a key with --key or {KeyVariable}.", CliExit.Usage);
        }
        throw new CliException($"no API key: give --key, set {KeyVariable}, or run where `gapura serve` wrote its first-run key ({file}).", CliExit.Usage);
    }

    /// <summary>
    /// The gateway's price table with its built-in and configured (<c>Pricing:Models</c>) layers. Prices an admin set
    /// through the admin API live in the gateway's database and are not read: this command only talks HTTP.
    /// </summary>
    private static PriceTable Prices(IConfiguration config)
    {
        var options = new PricingOptions();
        config.GetSection(PricingOptions.Section).Bind(options);
        try
        {
            // The store is only read by ReloadAllAsync (the admin layer), which is never called here.
            return new PriceTable(null!, Options.Create(options));
        }
        catch (InvalidOperationException e)
        {
            throw new CliException(e.Message, CliExit.Usage);
        }
    }

    private static string OutPrefix(string? option)
    {
        if (string.IsNullOrWhiteSpace(option))
            return "compare-" + DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        var prefix = option.Trim();
        foreach (var extension in new[] { ".md", ".json" })
            if (prefix.EndsWith(extension, StringComparison.OrdinalIgnoreCase)) return prefix[..^extension.Length];
        return prefix;
    }
}
