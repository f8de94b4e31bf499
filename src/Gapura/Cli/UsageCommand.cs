using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Gapura.Api.Admin;
using Gapura.Ledger;
using Gapura.Storage;
using Spectre.Console;

namespace Gapura.Cli;

/// <summary>
/// <c>gapura usage</c>: the admin usage report on the command line, straight from the database's rollups — a table
/// for people, <c>--json</c> (the same document as <c>GET /admin/api/usage</c>) for scripts.
/// </summary>
internal static class UsageCommand
{
    public static Command Create()
    {
        var user = new Option<string?>("--user") { Description = "Only this user's usage (email)." };
        var since = new Option<string?>("--since") { Description = "A window ending now: 7d (today and the 6 days before), 12h, 2w. Default 7d." };
        var from = new Option<string?>("--from") { Description = "Start of the window: an ISO 8601 date (2026-12-01, UTC) or time." };
        var to = new Option<string?>("--to") { Description = "End of the window: a date (that day included) or a time. Default: the end of today (UTC)." };
        var by = new Option<string[]>("--by")
        {
            Description = "Group by: day, hour, user, key, client, model, provider, task; repeat it or give a comma list. Default model.",
            AllowMultipleArgumentsPerToken = false,
        };
        var model = new Option<string?>("--model") { Description = "Only this model." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON (the admin API's usage document) instead of a table." };
        var command = new Command("usage", "Usage report: requests, tokens and cost per model, user, day… (works on the database, like serve).")
        {
            user, since, from, to, by, model, json,
        };
        CliSession.SetAction(command, async (cli, parse, ct) =>
        {
            var config = LoginCommand.BuildConfiguration([.. parse.UnmatchedTokens]);
            var maxDays = config.GetValue<int?>($"{UsageOptions.Section}:{nameof(UsageOptions.MaxReportDays)}") ?? new UsageOptions().MaxReportDays;
            var now = cli.Time.GetUtcNow();
            UsageQuery query;
            try
            {
                var groupBy = UsageReportParameters.ParseGroupBy(parse.GetValue(by) ?? [], "--by");
                if (groupBy.Count == 0) groupBy = [UsageDimension.Model];
                var (sinceText, fromText, toText) = (parse.GetValue(since), parse.GetValue(from), parse.GetValue(to));
                if (sinceText is not null && (fromText is not null || toText is not null))
                    throw new UsageQueryException("--since", "Give --since or --from/--to, not both.");
                var (start, end) = sinceText is not null
                    ? UsageReportParameters.Since(sinceText, now, maxDays, "--since")
                    : UsageReportParameters.Window(
                        fromText is null ? null : UsageReportParameters.ParseTime(fromText, "--from"),
                        toText is null ? null : UsageReportParameters.ParseTime(toText, "--to", endOfDay: true), now, maxDays, "--from", "--to", toText);
                query = new UsageQuery(start, end, groupBy, Model: parse.GetValue(model));
            }
            catch (UsageQueryException e)
            {
                throw new CliException(e.Message, CliExit.Usage);
            }
            if (parse.GetValue(user) is { } email) query = query with { UserId = (await cli.UserByEmailAsync(email, ct)).Id };

            var rows = await cli.Store.UsageReports.QueryAsync(query, ct);
            var emails = (await cli.Store.Users.ListAsync(ct)).ToDictionary(u => u.Id, u => u.Email);
            var prefixes = query.GroupBy.Contains(UsageDimension.Key) ? (await cli.Store.ApiKeys.ListAsync(ct: ct)).ToDictionary(k => k.Id, k => k.Prefix) : [];
            var dimensions = query.GroupBy.Distinct().Order().ToList();
            var views = rows.Select(r => AdminUsageEndpoints.View(r, emails, prefixes)).ToList();
            var total = AdminUsageEndpoints.View(UsageReportRow.Total(rows), emails, prefixes);
            if (parse.GetValue(json))
            {
                var report = new UsageReportView(query.From, query.To, [.. dimensions.Select(UsageReportParameters.NameOf)], query.UsesDaily ? "daily" : "hourly", views, total);
                await cli.Out.WriteLineAsync(JsonSerializer.Serialize(report, AdminJsonContext.Default.UsageReportView));
                return CliExit.Ok;
            }
            WriteTable(cli.Out, query, dimensions, views, total);
            return CliExit.Ok;
        });
        return command;
    }

    private static void WriteTable(TextWriter output, UsageQuery query, IReadOnlyList<UsageDimension> dimensions, List<UsageRowView> rows, UsageRowView total)
    {
        var console = CliConsole.For(output);

        var table = new Table().Border(TableBorder.Rounded)
            .Title(Markup.Escape($"Usage {query.From:yyyy-MM-dd HH:mm}Z – {query.To:yyyy-MM-dd HH:mm}Z ({(query.UsesDaily ? "daily" : "hourly")} rollup)"));
        var cells = new List<(string Header, bool Right, Func<UsageRowView, string> Value)>();
        foreach (var d in dimensions)
        {
            cells.Add(d switch
            {
                UsageDimension.Day => ("Day", false, r => r.Day?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) ?? ""),
                UsageDimension.Hour => ("Hour (UTC)", false, r => r.Hour?.ToString("yyyy-MM-dd HH:00", CultureInfo.InvariantCulture) ?? ""),
                UsageDimension.User => ("User", false, r => r.UserId is 0 ? "(none)" : r.UserEmail ?? $"#{r.UserId}"),
                UsageDimension.Key => ("Key", false, r => r.KeyId is 0 ? "(bootstrap/none)" : r.KeyPrefix ?? $"#{r.KeyId}"),
                UsageDimension.Client => ("Client", false, r => r.Client ?? ""),
                UsageDimension.Model => ("Model", false, r => r.Model ?? ""),
                UsageDimension.Provider => ("Provider", false, r => r.Provider is { Length: > 0 } p ? p : "(none)"),
                _ => ("Task", false, r => r.Task ?? ""),
            });
        }
        cells.AddRange(
        [
            ("Requests", true, r => N(r.Requests)), ("Errors", true, r => N(r.Errors)), ("Input", true, r => N(r.InputTokens)),
            ("Output", true, r => N(r.OutputTokens)), ("Cache read", true, r => N(r.CacheReadTokens)), ("Cache write", true, r => N(r.CacheWriteTokens)),
            ("Cost (USD)", true, r => r.CostUsd is { } c ? c.ToString("N2", CultureInfo.InvariantCulture) + (r.UnpricedRequests > 0 ? "*" : "") : "-"),
            ("Avg ms", true, r => r.AvgDurationMs is { } ms ? ms.ToString("N0", CultureInfo.InvariantCulture) : "-"),
        ]);
        for (var i = 0; i < cells.Count; i++)
        {
            var (header, right, _) = cells[i];
            var column = new TableColumn(Markup.Escape(header));
            if (right) column.RightAligned();
            // The first column carries the total's label.
            column.Footer(new Text(i == 0 ? "Total" : i < dimensions.Count ? "" : cells[i].Value(total)));
            table.AddColumn(column);
        }
        foreach (var row in rows) table.AddRow(cells.Select(c => (Spectre.Console.Rendering.IRenderable)new Text(c.Value(row))).ToArray());
        console.Write(table);
        if (rows.Count == 0) console.WriteLine("No usage in this window.");
        if (total.UnpricedRequests > 0)
            console.WriteLine($"* {N(total.UnpricedRequests)} requests had no price (models without one in the price table); '-' = none priced.");
    }

    private static string N(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
}
