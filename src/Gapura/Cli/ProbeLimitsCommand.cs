using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Gapura.Providers;
using Gapura.Providers.Kiro;
using Gapura.Providers.Limits;
using Gapura.Routing;
using Microsoft.Extensions.Options;
using Spectre.Console;

namespace Gapura.Cli;

/// <summary>
/// <c>gapura probe-limits</c>: measures each model's real context window and output cap on its upstream (see
/// <see cref="LimitProber"/>) and stores them where the model catalogs lay them over their own figures, so capability
/// checks, max_tokens clamping and client set-up use what the upstream really takes. It spends real tokens, so it says
/// how many first and asks, unless <c>--yes</c>.
/// </summary>
internal static class ProbeLimitsCommand
{
    /// <summary>Where the confirmation is read from; tests set it. Null: the console when it is a terminal, else none.</summary>
    internal static readonly AsyncLocal<TextReader?> ConfirmationInput = new();

    public static Command Create()
    {
        var model = new Option<string?>("--model") { HelpName = "MODEL", Description = "Probe this model (as a client names it, or its upstream id)." };
        var all = new Option<bool>("--all-models") { Description = "Probe every model the configured upstreams offer (routing aliases such as Kiro's auto are skipped)." };
        var provider = new Option<string?>("--provider") { HelpName = "P", Description = "Only this upstream (kiro, anthropic, openai, …)." };
        var yes = new Option<bool>("--yes") { Description = "Do not ask before spending tokens (needed when standard input is not a terminal)." };
        var json = new Option<bool>("--json") { Description = "Print the results as JSON." };
        var precision = new Option<string?>("--precision") { HelpName = "PERCENT", Description = "Stop a search when it is this close (0.1–10). Default 1." };
        var command = new Command("probe-limits",
            "Measure each model's real context window and output cap on its upstream and store them for the gateway (spends real tokens).")
        {
            model, all, provider, yes, json, precision,
        };
        CliSession.SetAction(command, async (cli, parse, ct) =>
        {
            var name = parse.GetValue(model);
            var everything = parse.GetValue(all);
            if (string.IsNullOrWhiteSpace(name) == !everything)
                throw new CliException("give either --model MODEL or --all-models (see `gapura probe-limits --help`).", CliExit.Usage);
            var settings = new ProbeSettings(Precision(parse.GetValue(precision)));
            return await RunAsync(cli, name?.Trim(), parse.GetValue(provider)?.Trim(), settings, parse.GetValue(yes), parse.GetValue(json), ct);
        }, upstreams: true);
        return command;
    }

    private static double Precision(string? text)
    {
        if (text is null) return 1.0;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var p) || p < 0.1 || p > 10)
            throw new CliException($"--precision must be a percentage from 0.1 to 10, not '{text}'.", CliExit.Usage);
        return p;
    }

    private sealed record Target(IChatProvider Provider, ModelInfo Model);

    private sealed record Skipped(string Provider, string Model, string Reason);

    private static async Task<int> RunAsync(CliSession cli, string? modelName, string? providerName, ProbeSettings settings, bool yes, bool json, CancellationToken ct)
    {
        var providers = cli.Services.GetServices<IChatProvider>().ToList();
        if (providerName is not null && !providers.Any(p => p.Name.Equals(providerName, StringComparison.OrdinalIgnoreCase)))
            throw new CliException($"no upstream named '{providerName}' is configured here (configured: {string.Join(", ", providers.Select(p => p.Name))}).", CliExit.Usage);
        var (targets, skipped) = await TargetsAsync(cli, providers, modelName, providerName, ct);
        if (targets.Count == 0)
            throw new CliException(providerName is null ? "no upstream offers any model to probe." : $"'{providerName}' offers no model to probe (is an account connected?).");
        AllowLargeKiroBodies(cli.Services);

        // The plan and its price, before anything is sent.
        long input = 0, output = 0;
        var requests = 0;
        await cli.Err.WriteLineAsync($"probe-limits will measure {Plural(targets.Count, "model")} on their upstreams (search precision {settings.PrecisionPercent.ToString("0.##", CultureInfo.InvariantCulture)}%):");
        foreach (var t in targets)
        {
            var (i, o, r) = settings.Estimate(t.Model);
            input += i;
            output += o;
            requests += r;
            await cli.Err.WriteLineAsync($"  {t.Model.Provider}/{t.Model.Id}: listed window {N(t.Model.ContextWindow)}, output cap {N(t.Model.MaxOutputTokens)}; roughly {N(i)} input and {N(o)} output tokens");
        }
        foreach (var s in skipped) await cli.Err.WriteLineAsync($"  skipping {s.Provider}/{s.Model}: {s.Reason}");
        await cli.Err.WriteLineAsync($"Roughly {N(input)} input and {N(output)} output tokens in about {N(requests)} requests, billed to the gateway's own upstream accounts.");
        if (!yes && !await ConfirmAsync(cli))
        {
            await cli.Err.WriteLineAsync("Nothing was sent.");
            return CliExit.Refused;
        }

        var limits = cli.Services.GetRequiredService<ProbedLimits>();
        var results = new List<ProbeResult>();
        foreach (var t in targets)
        {
            var label = $"{t.Model.Provider}/{t.Model.Id}";
            var result = await WithProgressAsync(cli.Err, label, report => new LimitProber(t.Provider, t.Model, settings, report).RunAsync(context: true, output: true, ct));
            if (result.ContextRefusedAt is not null || result.MaxOutputTokens is not null)
            {
                // A figure this run could not settle keeps the one an earlier probe found.
                var earlier = limits.Find(t.Model.Provider, t.Model.Id);
                var stored = new ProbedLimit(result.ContextRefusedAt is not null ? result.ContextWindow : earlier?.ContextWindow,
                    result.MaxOutputTokens ?? earlier?.MaxOutputTokens, cli.Time.GetUtcNow(), result.ContextPrecisionPercent ?? earlier?.PrecisionPercent,
                    result.Estimated);
                await limits.SaveAsync(t.Model.Provider, t.Model.Id, stored, ct);
                await cli.AuditAsync(cli.Store, "model.limits.probe", label, stored.ToSetting(), ct);
                result.Stored = true;
            }
            results.Add(result);
        }

        if (json) await cli.Out.WriteLineAsync(Json(results, skipped));
        else WriteTable(cli.Out, results);
        var spentIn = results.Sum(r => r.InputTokensSpent);
        var spentOut = results.Sum(r => r.OutputTokensSpent);
        await cli.Err.WriteLineAsync($"Spent {Plural(results.Sum(r => r.Requests), "request")}: {N(spentIn)} input and {N(spentOut)} output tokens (as the upstreams reported them).");
        var storedCount = results.Count(r => r.Stored);
        if (storedCount > 0)
            await cli.Err.WriteLineAsync($"Stored the limits of {Plural(storedCount, "model")}; the gateway clamps max_tokens and refuses over-long conversations by them (running instances follow within seconds).");
        foreach (var failed in results.Where(r => r.Error is not null))
            await cli.Err.WriteLineAsync($"error: {failed.Provider}/{failed.Model}: {failed.Error}");
        return results.Any(r => r.Error is not null) ? CliExit.Refused : CliExit.Ok;
    }

    /// <summary>
    /// Routing aliases are not models: Kiro's <c>auto</c> picks a model per request, so limits measured on it would
    /// describe whichever model it picked that time.
    /// </summary>
    internal static string? AliasReason(ModelInfo model)
        => model.Id.Equals("auto", StringComparison.OrdinalIgnoreCase) || model.Id.EndsWith("/auto", StringComparison.OrdinalIgnoreCase)
            ? $"a routing alias ({(model.Provider == "kiro" ? "Kiro" : model.Provider)} picks a model per request), not a model with limits of its own"
            : null;

    private static async Task<(List<Target>, List<Skipped>)> TargetsAsync(CliSession cli, List<IChatProvider> providers, string? modelName, string? providerName, CancellationToken ct)
    {
        var targets = new List<Target>();
        var skipped = new List<Skipped>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        string? lastRefusal = null;
        foreach (var catalog in cli.Services.GetServices<IModelCatalog>())
        {
            IReadOnlyList<ModelInfo> models;
            if (modelName is null) models = await catalog.ListAsync(ct);
            else
            {
                try
                {
                    models = [(await catalog.ResolveAsync(modelName, ct)).Model];
                }
                catch (Conversations.GatewayException e)
                {
                    lastRefusal = e.Message;
                    continue;
                }
            }
            foreach (var m in models)
            {
                if (providerName is not null && !m.Provider.Equals(providerName, StringComparison.OrdinalIgnoreCase)) continue;
                if (!seen.Add(m.Provider + "/" + m.Id)) continue;
                if (AliasReason(m) is { } reason)
                {
                    if (modelName is not null) throw new CliException($"{m.Provider}/{m.Id} is {reason}; probe the models it routes to instead.");
                    skipped.Add(new Skipped(m.Provider, m.Id, reason));
                    continue;
                }
                if (providers.FirstOrDefault(p => p.Name.Equals(m.Provider, StringComparison.OrdinalIgnoreCase)) is { } provider) targets.Add(new Target(provider, m));
            }
            if (modelName is not null && targets.Count > 0) break; // the first upstream that offers it, in the default priority order
        }
        if (modelName is not null && targets.Count == 0)
            throw new CliException(lastRefusal is not null && providerName is null ? lastRefusal : $"no configured upstream{(providerName is null ? "" : $" named '{providerName}'")} offers '{modelName}'.");
        return (targets, skipped);
    }

    /// <summary>
    /// The gateway trims or refuses Kiro bodies over Kiro:MaxPayloadBytes (600 KB) to protect clients from Kiro's misleading
    /// 400; a probe must reach Kiro's own limit, so this process — and only this process — lifts the guard.
    /// </summary>
    private static void AllowLargeKiroBodies(IServiceProvider services)
    {
        if (services.GetService<IOptions<KiroOptions>>()?.Value is { } kiro) kiro.MaxPayloadBytes = Math.Max(kiro.MaxPayloadBytes, 256 * 1024 * 1024);
    }

    private static async Task<bool> ConfirmAsync(CliSession cli)
    {
        var input = ConfirmationInput.Value ?? (Console.IsInputRedirected ? null : Console.In);
        if (input is null)
            throw new CliException("probe-limits spends real tokens and standard input is not a terminal to ask on; run it again with --yes to go ahead.", CliExit.Usage);
        await cli.Err.WriteAsync("Go ahead? [y/N] ");
        await cli.Err.FlushAsync();
        var answer = (await input.ReadLineAsync())?.Trim();
        return answer is not null && (answer.Equals("y", StringComparison.OrdinalIgnoreCase) || answer.Equals("yes", StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>A spinner with the latest step on a terminal; plain lines (one per request) anywhere else.</summary>
    private static async Task<ProbeResult> WithProgressAsync(TextWriter err, string label, Func<Action<string>, Task<ProbeResult>> run)
    {
        var terminal = ReferenceEquals(err, Console.Error) && !Console.IsErrorRedirected;
        if (!terminal)
        {
            err.WriteLine($"{label}:");
            return await run(line => err.WriteLine("  " + line));
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        ProbeResult? result = null;
        await console.Status().Spinner(Spinner.Known.Dots).StartAsync(Markup.Escape(label), async status =>
        {
            result = await run(line =>
            {
                console.MarkupLine($"  [grey]{Markup.Escape(label)}[/] {Markup.Escape(line)}");
                status.Status(Markup.Escape($"{label}: {line}"));
            });
        });
        return result!;
    }

    private static void WriteTable(TextWriter output, List<ProbeResult> results)
    {
        var console = CliConsole.For(output);
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var header in new[] { "Model", "Context window", "Output cap", "Requests", "Tokens spent", "Notes" }) table.AddColumn(header);
        table.Columns[1].RightAligned();
        table.Columns[2].RightAligned();
        table.Columns[3].RightAligned();
        table.Columns[4].RightAligned();
        foreach (var r in results)
        {
            var notes = string.Join("; ", new[] { r.Error, r.ContextNote, r.OutputNote, r.Estimated ? "estimated" : null, r.Stored ? "stored" : "not stored" }.OfType<string>());
            var window = r.ContextWindow is { } w ? N(w) + (r.ContextPrecisionPercent is { } p ? $" (±{p.ToString("0.##", CultureInfo.InvariantCulture)}%)" : r.ContextRefusedAt is null ? " (at least)" : "") : "-";
            table.AddRow(new Text($"{r.Provider}/{r.Model}"), new Text(window), new Text(r.MaxOutputTokens is { } o ? N(o) : "-"),
                new Text(N(r.Requests)), new Text(N(r.InputTokensSpent + r.OutputTokensSpent)), new Text(notes));
        }
        console.Write(table);
    }

    private static string Json(List<ProbeResult> results, List<Skipped> skipped)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteStartArray("models");
            foreach (var r in results)
            {
                w.WriteStartObject();
                w.WriteString("provider", r.Provider);
                w.WriteString("model", r.Model);
                Number(w, "context_window", r.ContextWindow);
                Number(w, "context_refused_at", r.ContextRefusedAt);
                if (r.ContextPrecisionPercent is { } p) w.WriteNumber("context_precision_percent", p); else w.WriteNull("context_precision_percent");
                Number(w, "max_output_tokens", r.MaxOutputTokens);
                w.WriteBoolean("estimated", r.Estimated);
                w.WriteBoolean("stored", r.Stored);
                w.WriteNumber("requests", r.Requests);
                w.WriteNumber("input_tokens", r.InputTokensSpent);
                w.WriteNumber("output_tokens", r.OutputTokensSpent);
                if (r.ContextNote is not null) w.WriteString("context_note", r.ContextNote);
                if (r.OutputNote is not null) w.WriteString("output_note", r.OutputNote);
                if (r.Error is not null) w.WriteString("error", r.Error);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("skipped");
            foreach (var s in skipped)
            {
                w.WriteStartObject();
                w.WriteString("provider", s.Provider);
                w.WriteString("model", s.Model);
                w.WriteString("reason", s.Reason);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNumber("requests", results.Sum(r => r.Requests));
            w.WriteNumber("input_tokens", results.Sum(r => r.InputTokensSpent));
            w.WriteNumber("output_tokens", results.Sum(r => r.OutputTokensSpent));
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());

        static void Number(Utf8JsonWriter w, string name, int? value)
        {
            if (value is { } v) w.WriteNumber(name, v); else w.WriteNull(name);
        }
    }

    private static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);

    private static string Plural(long n, string noun) => n == 1 ? $"1 {noun}" : $"{N(n)} {noun}s";
}
