using System.CommandLine;
using System.Text.Json.Nodes;
using Gapura.Hosting.Diagnostics;
using Spectre.Console;

namespace Gapura.Cli;

/// <summary>
/// <c>gapura doctor</c>: checks what <c>serve</c> would use — configuration, database, client key, every upstream login
/// (refresh and model list, timed) — without a running gateway, and prints one row per check with a fix per problem.
/// Exit code 0 when nothing failed (warnings do not fail), 1 when a check failed, 2 for a wrong command line.
/// </summary>
internal static class DoctorCommand
{
    public const int Failed = CliExit.Refused;

    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print the checks as JSON (for scripts) instead of a table." };
        var timeout = new Option<int>("--timeout")
        {
            Description = "Seconds each upstream check (refresh, model list) may take before it fails (1–300).",
            DefaultValueFactory = _ => 30,
        };
        var command = new Command("doctor",
            "Check the configuration, the database, the client key and every upstream login (token refresh and model list, with latency); a fix for each problem. Exit 0 when all pass. Takes --Section:Key=value settings like serve.")
        {
            json, timeout,
        };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var stray = parse.UnmatchedTokens.FirstOrDefault(t => !t.StartsWith("--", StringComparison.Ordinal) || !t.Contains(':'));
            if (stray is not null)
            {
                await error.WriteLineAsync($"error: unknown argument '{stray}' (settings are given as --Section:Key=value; see --help).");
                return CliExit.Usage;
            }
            var seconds = parse.GetValue(timeout);
            if (seconds is < 1 or > 300)
            {
                await error.WriteLineAsync("error: --timeout must be between 1 and 300 seconds.");
                return CliExit.Usage;
            }
            var checks = await Doctor.RunAsync(LoginCommand.BuildConfiguration([.. parse.UnmatchedTokens]), TimeSpan.FromSeconds(seconds), ct);
            var failed = checks.Any(c => c.Status == CheckStatus.Fail);
            if (parse.GetValue(json)) await output.WriteLineAsync(ToJson(checks, failed));
            else WriteTable(output, checks, failed);
            return failed ? Failed : CliExit.Ok;
        });
        return command;
    }

    internal static string StatusWord(CheckStatus status) => status switch
    {
        CheckStatus.Ok => "ok",
        CheckStatus.Warn => "warn",
        _ => "FAIL",
    };

    // Backticks and quotes as they are: the fixes are commands people copy.
    private static readonly System.Text.Json.JsonSerializerOptions Plain = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static string ToJson(IReadOnlyList<DoctorCheck> checks, bool failed)
    {
        var rows = new JsonArray();
        foreach (var c in checks)
            rows.Add(new JsonObject { ["check"] = c.Check, ["status"] = StatusWord(c.Status), ["detail"] = c.Detail, ["fix"] = c.Fix });
        return new JsonObject { ["ok"] = !failed, ["checks"] = rows }.ToJsonString(Plain);
    }

    private static void WriteTable(TextWriter output, IReadOnlyList<DoctorCheck> checks, bool failed)
    {
        var console = CliConsole.For(output);
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("Check");
        table.AddColumn("Status");
        table.AddColumn("Detail");
        table.AddColumn("Fix");
        foreach (var c in checks)
        {
            var colour = c.Status switch { CheckStatus.Ok => "green", CheckStatus.Warn => "yellow", _ => "red" };
            table.AddRow(new Text(c.Check), new Markup($"[{colour}]{StatusWord(c.Status)}[/]"), new Text(c.Detail), new Text(c.Fix ?? ""));
        }
        console.Write(table);
        var warnings = checks.Count(c => c.Status == CheckStatus.Warn);
        console.WriteLine(failed
            ? $"{checks.Count(c => c.Status == CheckStatus.Fail)} check(s) failed; fix them and run `gapura doctor` again."
            : warnings > 0 ? $"All checks passed, {warnings} with a warning." : "All checks passed.");
    }
}
