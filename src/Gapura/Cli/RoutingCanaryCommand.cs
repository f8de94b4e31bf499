using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Gapura.Api.Admin;
using Gapura.Routing.Canary;
using Gapura.Routing.Profiles;
using Gapura.Storage;
using Microsoft.Extensions.Options;
using Spectre.Console;

namespace Gapura.Cli;

/// <summary>
/// <c>gapura routing canary</c>: start a canary on a profile, compare it with the baseline, promote or roll it back — on the
/// database every instance follows, audited as the CLI's actor, in force everywhere within <c>Routing:SyncSeconds</c>.
/// </summary>
internal static class RoutingCanaryCommand
{
    public static Command Create()
    {
        var command = new Command("canary", "Try a candidate model on a share of a profile's conversations, compare it with the profile's own model, then promote or roll back.");
        command.Subcommands.Add(Start());
        command.Subcommands.Add(Status());
        command.Subcommands.Add(End("promote", promote: true, "Make the canary's candidate the profile's model and end the canary."));
        command.Subcommands.Add(End("rollback", promote: false, "End the canary: the profile's own model serves all its requests again."));
        return command;
    }

    private static Argument<string> ProfileArgument() => new("PROFILE") { Description = "The routing profile (as `gapura routing show` lists them), e.g. primary." };

    private static Command Start()
    {
        var profile = ProfileArgument();
        var model = new Option<string?>("--model") { Description = "The candidate model (MODEL), as a client would name it; it must be offered by an upstream." };
        var provider = new Option<string?>("--provider") { Description = "Pin the candidate to this upstream (P), e.g. kiro or anthropic." };
        var percent = new Option<string?>("--percent") { Description = "The share (N, 1 to 100) of the profile's conversations the candidate serves; sticky per user and session." };
        var command = new Command("start", "Start (or replace) a canary: N% of PROFILE's conversations go to MODEL.") { profile, model, provider, percent };
        CliSession.SetAction(command, async (cli, parse, ct) =>
        {
            var candidate = parse.GetValue(model);
            if (string.IsNullOrWhiteSpace(candidate)) throw new CliException("Give the candidate with --model MODEL.", CliExit.Usage);
            var share = parse.GetValue(percent);
            if (share is null) throw new CliException("Give the share with --percent N (1 to 100).", CliExit.Usage);
            if (!int.TryParse(share, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                throw new CliException($"--percent: '{share}' is not a whole number from 1 to 100.", CliExit.Usage);
            var canary = await CliRouting.Changes(cli).StartCanaryAsync(parse.GetValue(profile)!, candidate, parse.GetValue(provider), n, cli.Time.NowMs(), cli.Actor, ct);
            await cli.Err.WriteLineAsync($"Canary on {canary.Profile}: {canary.Choice} serves {canary.Percent}% of its conversations; every instance follows within seconds.");
            return CliExit.Ok;
        }, upstreams: true);
        return command;
    }

    private static Command Status()
    {
        var profile = ProfileArgument();
        var json = new Option<bool>("--json") { Description = "Print the status as JSON (the admin API's shape)." };
        var command = new Command("status", "Compare the canary with the baseline since it started: error rate, tool-call failures, time to first byte, tokens and cost per request.") { profile, json };
        CliSession.SetAction(command, async (cli, parse, ct) =>
        {
            var config = CliRouting.Changes(cli).Current;
            var name = parse.GetValue(profile)!;
            var canary = config.CanaryOf(name) ?? throw NoCanary(name, config);
            var status = await CanaryStatus.ReadAsync(cli.Store, canary, cli.Services.GetRequiredService<IOptions<CanaryOptions>>().Value, ct);
            var view = CanaryStatusView.From(status, config);
            if (parse.GetValue(json))
            {
                await cli.Out.WriteLineAsync(JsonSerializer.Serialize(view, new JsonSerializerOptions(AdminJsonContext.Default.Options) { WriteIndented = true }.GetTypeInfo(typeof(CanaryStatusView))));
                return CliExit.Ok;
            }
            WriteTable(cli.Out, status, view);
            return CliExit.Ok;
        }, upstreams: true);
        return command;
    }

    private static Command End(string name, bool promote, string description)
    {
        var profile = ProfileArgument();
        var command = new Command(name, description) { profile };
        CliSession.SetAction(command, async (cli, parse, ct) =>
        {
            var changes = CliRouting.Changes(cli);
            var before = changes.Current;
            var profileName = parse.GetValue(profile)!;
            var ended = await changes.EndCanaryAsync(profileName, promote, null, ct) ?? throw NoCanary(profileName, before);
            await cli.Err.WriteLineAsync(promote
                ? $"Promoted: profile {ended.Profile} now uses {changes.Current.FindProfile(ended.Profile)?.FirstChoice ?? ended.Choice}; the canary is over."
                : $"Rolled back: profile {ended.Profile} uses {before.FindProfile(ended.Profile)?.FirstChoice} for all its requests again.");
            return CliExit.Ok;
        }, upstreams: true);
        return command;
    }

    private static CliException NoCanary(string profile, RoutingConfig config) => new(config.FindProfile(profile) is null
        ? Gapura.Routing.RoutingConfigException.NoProfile("profile", profile, config.Profiles.Keys).Message
        : $"No canary is running on profile '{profile}' (start one with `gapura routing canary start {profile} --model MODEL --percent N`).");

    /// <summary>Baseline and candidate side by side, the difference last.</summary>
    internal static void WriteTable(TextWriter output, CanaryStatus status, CanaryStatusView view)
    {
        var console = CliConsole.For(output);

        var c = status.Canary;
        var table = new Table().Border(TableBorder.Rounded)
            .Title(Markup.Escape($"Canary on {c.Profile}: {c.Choice} at {c.Percent}% since {c.StartedAt.ToUniversalTime():yyyy-MM-dd HH:mm}Z (by {c.StartedBy})"));
        table.AddColumn(new TableColumn(""));
        table.AddColumn(new TableColumn(Markup.Escape($"Baseline ({view.Baseline.Model})")).RightAligned());
        table.AddColumn(new TableColumn(Markup.Escape($"Candidate ({view.Candidate.Model})")).RightAligned());
        table.AddColumn(new TableColumn("Difference").RightAligned());
        var (b, k, d) = (view.Baseline, view.Candidate, view.Difference);
        Row("Requests", N(b.Requests), N(k.Requests), "");
        Row("Errors", $"{N(b.Errors)} ({Rate(b.ErrorRate)})", $"{N(k.Errors)} ({Rate(k.ErrorRate)})", Points(d.ErrorRate));
        Row("Tool-call failures", $"{N(b.ToolErrorRequests)} ({Rate(b.ToolErrorRate)})", $"{N(k.ToolErrorRequests)} ({Rate(k.ToolErrorRate)})", Points(d.ToolErrorRate));
        Row("TTFB mean", Ms(b.TtfbMeanMs), Ms(k.TtfbMeanMs), Signed(d.TtfbMeanMs, " ms", "N0"));
        Row("TTFB p50", Ms(b.TtfbP50Ms), Ms(k.TtfbP50Ms), Signed(d.TtfbP50Ms, " ms", "N0"));
        Row("Input tokens / request", Num(b.InputTokensPerRequest), Num(k.InputTokensPerRequest), Signed(d.InputTokensPerRequest, "", "N0"));
        Row("Output tokens / request", Num(b.OutputTokensPerRequest), Num(k.OutputTokensPerRequest), Signed(d.OutputTokensPerRequest, "", "N0"));
        Row("Cost / request (USD)", Usd(b.CostUsdPerRequest, b.UnpricedRequests), Usd(k.CostUsdPerRequest, k.UnpricedRequests), Signed(d.CostUsdPerRequest, "", "0.0000"));
        console.Write(table);
        if (b.UnpricedRequests + k.UnpricedRequests > 0)
            console.WriteLine($"* costs leave out {N(b.UnpricedRequests)} baseline and {N(k.UnpricedRequests)} candidate requests with no price; '-' = none priced.");
        console.WriteLine($"Automatic rollback: {status.RollbackNote}.");

        void Row(string label, string baseline, string candidate, string difference)
            => table.AddRow(new Text(label), new Text(baseline), new Text(candidate), new Text(difference));
    }

    private static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
    private static string Rate(double? r) => r is { } v ? CanaryStatus.Percent(v) : "-";
    private static string Points(double? r) => r is { } v ? (v >= 0 ? "+" : "") + CanaryStatus.Percent(v) : "-";
    private static string Ms(double? ms) => ms is { } v ? v.ToString("N0", CultureInfo.InvariantCulture) + " ms" : "-";
    private static string Num(double? n) => n is { } v ? v.ToString("N0", CultureInfo.InvariantCulture) : "-";
    private static string Usd(double? usd, long unpriced) => usd is { } v ? v.ToString("0.0000", CultureInfo.InvariantCulture) + (unpriced > 0 ? "*" : "") : "-";
    private static string Signed(double? v, string unit, string format) => v is { } x ? (x >= 0 ? "+" : "") + x.ToString(format, CultureInfo.InvariantCulture) + unit : "-";
}
