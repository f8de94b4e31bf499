using System.Globalization;
using System.Text;
using Gapura.Ledger;
using Gapura.Storage;
using Microsoft.Extensions.Options;

namespace Gapura.Api.Admin;

/// <summary>
/// Usage reports: any grouping of the ledger's rollups over a window, as JSON or CSV. Read-only and answered from
/// the rollups, so a report over months costs the same as one over a day. Admins read everyone's usage; any other
/// signed-in user reads their own only (the console's usage page is the same report for both).
/// </summary>
internal static class AdminUsageEndpoints
{
    private const int MaxModelLength = 200;

    public static void MapAdminUsageEndpoints(this RouteGroupBuilder admin)
    {
        const string parameters = " Query: from, to (ISO 8601 dates or times, UTC; a date as 'to' includes that day; default the last 7 days " +
            "with today), groupBy (comma list or repeated: day, hour, user, key, client, model, provider, task), user (email or id), model, key (id).";
        admin.MapGet("/usage", (HttpContext http, IGapuraStore store, TimeProvider time, IOptions<UsageOptions> options, CancellationToken ct)
                => ReportAsync(http, store, time, options.Value, csv: http.Request.Query["format"].ToString().Equals("csv", StringComparison.OrdinalIgnoreCase), ct))
            .Produces<UsageReportView>().ProducesAdminErrors(400, 401, 403).AddOpenApiOperationTransformer(DescribeParameters)
            .WithSummary("Usage report: requests, tokens, cost per group; ?format=csv for the CSV of /usage.csv. Admins see everyone's; other users their own only." + parameters);
        admin.MapGet("/usage.csv", (HttpContext http, IGapuraStore store, TimeProvider time, IOptions<UsageOptions> options, CancellationToken ct)
                => ReportAsync(http, store, time, options.Value, csv: true, ct))
            .Produces<string>(StatusCodes.Status200OK, "text/csv").ProducesAdminErrors(400, 401, 403).AddOpenApiOperationTransformer(DescribeParameters)
            .WithSummary("The same usage report as CSV, with a header row." + parameters);
    }

    /// <summary>
    /// The query parameters, for the OpenAPI document. They are read from the query by hand (a repeated <c>from</c>
    /// is refused, <c>groupBy</c> may repeat), so the document would not list them by itself.
    /// </summary>
    private static Task DescribeParameters(Microsoft.OpenApi.OpenApiOperation operation, Microsoft.AspNetCore.OpenApi.OpenApiOperationTransformerContext context, CancellationToken ct)
    {
        operation.Parameters ??= [];
        foreach (var (name, description) in new[]
        {
            ("from", "Start: ISO 8601 date (UTC midnight) or time. Default: 7 days before 'to'."),
            ("to", "End (exclusive): a time, or a date meaning the end of that day. Default: the end of today (UTC)."),
            ("groupBy", "Comma list or repeated: day, hour, user, key, client, model, provider, task. None: one total row."),
            ("user", "Only this user: email or id. A user who is not an admin may name only themselves."),
            ("model", "Only this model (as the report lists it)."),
            ("key", "Only this API key (id). A user who is not an admin may name only their own keys."),
            ("format", "json (default) or csv."),
        })
        {
            operation.Parameters.Add(new Microsoft.OpenApi.OpenApiParameter
            {
                Name = name,
                In = Microsoft.OpenApi.ParameterLocation.Query,
                Description = description,
                Schema = new Microsoft.OpenApi.OpenApiSchema { Type = Microsoft.OpenApi.JsonSchemaType.String },
            });
        }
        return Task.CompletedTask;
    }

    private static async Task<IResult> ReportAsync(HttpContext http, IGapuraStore store, TimeProvider time, UsageOptions options, bool csv, CancellationToken ct)
    {
        var me = http.GetAdminPrincipal();
        var q = http.Request.Query;
        var format = q["format"].ToString();
        if (format.Length > 0 && !format.Equals("csv", StringComparison.OrdinalIgnoreCase) && !format.Equals("json", StringComparison.OrdinalIgnoreCase))
            throw AdminApiException.Invalid("format", "'format' must be \"json\" or \"csv\".");
        var groupParam = q.ContainsKey("group_by") && !q.ContainsKey("groupBy") ? "group_by" : "groupBy";
        var groupBy = UsageReportParameters.ParseGroupBy([.. q["groupBy"], .. q["group_by"]], groupParam);
        DateTimeOffset? from = Single(q, "from") is { } f ? UsageReportParameters.ParseTime(f, "from") : null;
        DateTimeOffset? to = Single(q, "to") is { } t ? UsageReportParameters.ParseTime(t, "to", endOfDay: true) : null;
        var (start, end) = UsageReportParameters.Window(from, to, time.GetUtcNow(), options.MaxReportDays, toAsWritten: Single(q, "to"));

        // Anyone but an admin reads their own usage: the report is narrowed to them whatever the query says, and naming
        // someone else (or their key) is refused rather than quietly answered with nothing. Whether that someone exists
        // is not told either: the refusal is the same.
        long? userId = me.IsAdmin ? null : me.UserId;
        if (Single(q, "user") is { } userText)
        {
            var user = long.TryParse(userText, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
                ? await store.Users.FindAsync(id, ct)
                : await store.Users.FindByEmailAsync(userText, ct);
            if (!me.IsAdmin && user?.Id != me.UserId) throw AdminApiException.Forbidden("Only admins may read usage reports for another user.");
            userId = user?.Id ?? throw AdminApiException.Invalid("user", $"There is no user '{Shorten(userText)}' (give an email or a user id).");
        }
        long? keyId = null;
        if (Single(q, "key") is { } keyText)
        {
            var key = long.TryParse(keyText, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? await store.ApiKeys.FindAsync(id, ct) : null;
            if (!me.IsAdmin && key?.UserId != me.UserId) throw AdminApiException.Forbidden("Only admins may read usage reports for another user's API key.");
            keyId = key?.Id ?? throw AdminApiException.Invalid("key", $"There is no API key with id '{Shorten(keyText)}' (give the id the keys list shows).");
        }
        var model = Single(q, "model");
        if (model is { Length: > MaxModelLength }) throw AdminApiException.Invalid("model", $"'model' is at most {MaxModelLength} characters.");

        var query = new UsageQuery(start, end, groupBy, userId, model, keyId);
        var rows = await store.UsageReports.QueryAsync(query, ct);
        // A user's own report names only them and their keys (its rows hold nothing else).
        var emails = !groupBy.Contains(UsageDimension.User) ? []
            : me.IsAdmin ? (await store.Users.ListAsync(ct)).ToDictionary(u => u.Id, u => u.Email)
            : new Dictionary<long, string> { [me.UserId] = me.User.Email };
        var prefixes = groupBy.Contains(UsageDimension.Key)
            ? (await store.ApiKeys.ListAsync(me.IsAdmin ? null : me.UserId, ct: ct)).ToDictionary(k => k.Id, k => k.Prefix) : [];
        var views = rows.Select(r => View(r, emails, prefixes)).ToList();
        var dimensions = groupBy.Distinct().Order().ToList();
        if (csv)
        {
            http.Response.Headers.ContentDisposition = "attachment; filename=\"usage.csv\"";
            return Results.Text(Csv(dimensions, views), "text/csv; charset=utf-8", Encoding.UTF8);
        }
        return Results.Json(new UsageReportView(start, end, [.. dimensions.Select(UsageReportParameters.NameOf)], query.UsesDaily ? "daily" : "hourly",
            views, View(UsageReportRow.Total(rows), emails, prefixes)), AdminJsonContext.Default.UsageReportView);
    }

    /// <summary>One value per parameter: a repeated <c>from</c> is ambiguous, so it is refused rather than guessed.</summary>
    private static string? Single(IQueryCollection q, string name)
    {
        var values = q[name];
        if (values.Count > 1) throw AdminApiException.Invalid(name, $"'{name}' is given more than once.");
        return values.Count == 0 || string.IsNullOrWhiteSpace(values[0]) ? null : values[0]!.Trim();
    }

    private static string Shorten(string text) => text.Length > 60 ? text[..60] + "…" : text;

    internal static UsageRowView View(UsageReportRow r, Dictionary<long, string> emails, Dictionary<long, string> prefixes) => new(
        r.Day, r.Hour, r.UserId, r.UserId is { } u ? emails.GetValueOrDefault(u) : null, r.KeyId, r.KeyId is { } k ? prefixes.GetValueOrDefault(k) : null,
        r.Client, r.Model, r.Provider, r.Task, r.Requests, r.Errors, r.ClientClosed, r.InputTokens, r.OutputTokens, r.CacheReadTokens,
        r.CacheWriteTokens, r.ReasoningTokens, r.Credits, r.CostUsd, r.UnpricedRequests, r.AvgDurationMs, r.AvgTtfbMs);

    /// <summary>RFC 4180: a header row, then one line per row; the group columns are those grouped by, the sums always.</summary>
    internal static string Csv(IReadOnlyList<UsageDimension> dimensions, IEnumerable<UsageRowView> rows)
    {
        var columns = new List<(string Name, Func<UsageRowView, string> Value)>();
        foreach (var d in dimensions)
        {
            switch (d)
            {
                case UsageDimension.Day: columns.Add(("day", r => r.Day?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) ?? "")); break;
                case UsageDimension.Hour: columns.Add(("hour", r => r.Hour?.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture) ?? "")); break;
                case UsageDimension.User:
                    columns.Add(("user_id", r => Number(r.UserId)));
                    columns.Add(("user_email", r => r.UserEmail ?? ""));
                    break;
                case UsageDimension.Key:
                    columns.Add(("key_id", r => Number(r.KeyId)));
                    columns.Add(("key_prefix", r => r.KeyPrefix ?? ""));
                    break;
                case UsageDimension.Client: columns.Add(("client", r => r.Client ?? "")); break;
                case UsageDimension.Model: columns.Add(("model", r => r.Model ?? "")); break;
                case UsageDimension.Provider: columns.Add(("provider", r => r.Provider ?? "")); break;
                case UsageDimension.Task: columns.Add(("task", r => r.Task ?? "")); break;
            }
        }
        columns.AddRange(
        [
            ("requests", r => Number(r.Requests)), ("errors", r => Number(r.Errors)), ("client_closed", r => Number(r.ClientClosed)),
            ("input_tokens", r => Number(r.InputTokens)), ("output_tokens", r => Number(r.OutputTokens)),
            ("cache_read_tokens", r => Number(r.CacheReadTokens)), ("cache_write_tokens", r => Number(r.CacheWriteTokens)),
            ("reasoning_tokens", r => Number(r.ReasoningTokens)), ("credits", r => Number(r.Credits)), ("cost_usd", r => Number(r.CostUsd)),
            ("unpriced_requests", r => Number(r.UnpricedRequests)), ("avg_duration_ms", r => Number(r.AvgDurationMs)), ("avg_ttfb_ms", r => Number(r.AvgTtfbMs)),
        ]);
        var text = new StringBuilder();
        text.AppendJoin(',', columns.Select(c => c.Name)).Append("\r\n");
        foreach (var row in rows) text.AppendJoin(',', columns.Select(c => Escape(c.Value(row)))).Append("\r\n");
        return text.ToString();
    }

    private static string Number(long? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "";

    private static string Number(double? value) => value?.ToString("0.######", CultureInfo.InvariantCulture) ?? "";

    /// <summary>Quotes a field that needs it; a leading formula character is defused so a spreadsheet shows text, not a formula.</summary>
    private static string Escape(string value)
    {
        if (value.Length > 0 && value[0] is '=' or '+' or '@' or '\t') value = "'" + value;
        return value.IndexOfAny([',', '"', '\r', '\n']) < 0 ? value : "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }
}
