using System.Globalization;
using Gapura.Storage;

namespace Gapura.Api.Admin;

/// <summary>Run-time gateway settings (the <see cref="AdminSettings"/> allow-list) and the audit log; admins only.</summary>
internal static class AdminSettingsEndpoints
{
    public static void MapAdminSettingsEndpoints(this RouteGroupBuilder admin)
    {
        admin.MapGet("/settings", ListAsync).Produces<SettingList>().ProducesAdminErrors(401, 403)
            .WithSummary("The run-time settings: stored value, configured default and the value in effect (admins).");
        admin.MapPut("/settings/{key}", SetAsync).AcceptsJson<SetSettingRequest>().Produces<SettingView>()
            .ProducesAdminErrors(400, 401, 403, 404).WithSummary("Store a setting for every instance (admins).");
        admin.MapDelete("/settings/{key}", ResetAsync).Produces<SettingView>().ProducesAdminErrors(401, 403, 404)
            .WithSummary("Forget a stored setting: the configured default applies again (admins).");
        admin.MapGet("/audit", AuditAsync).Produces<AuditList>().ProducesAdminErrors(400, 401, 403)
            .WithSummary("The audit log, newest first; filters actor, action (exact, or a prefix such as 'user' for user.*), target, " +
                "since and until (ISO 8601), before_id, limit (admins). Page on with next_before_id while it is set.");
    }

    private static async Task<IResult> ListAsync(HttpContext http, AdminSettings settings, CancellationToken ct)
    {
        http.RequireAdmin("read settings");
        var stored = await settings.ReadAllAsync(ct);
        return Results.Json(new SettingList([.. AdminSettings.Known.Select(k => View(k, stored[k.Key], settings))]), AdminJsonContext.Default.SettingList);
    }

    private static async Task<IResult> SetAsync(string key, HttpContext http, IGapuraStore store, AdminSettings settings, CancellationToken ct)
    {
        http.RequireAdmin("change settings");
        var known = AdminSettings.Find(key) ?? throw UnknownSetting(key);
        var body = await AdminBody.ReadAsync(http.Request, AdminJsonContext.Default.SetSettingRequest, ct);
        var value = AdminBody.Required(body.Value, "value").Trim();
        if (known.Validate(value) is { } problem) throw AdminApiException.Invalid("value", $"'{key}' {problem}.");
        await store.InTransactionAsync(async s =>
        {
            await s.Settings.SetAsync(key, value, ct);
            await s.Audit.WriteAsync(http.Audit("setting.set", "setting:" + key, "value=" + value), ct);
        }, ct);
        return Results.Json(View(known, value, settings), AdminJsonContext.Default.SettingView);
    }

    private static async Task<IResult> ResetAsync(string key, HttpContext http, IGapuraStore store, AdminSettings settings, CancellationToken ct)
    {
        http.RequireAdmin("change settings");
        var known = AdminSettings.Find(key) ?? throw UnknownSetting(key);
        await store.InTransactionAsync(async s =>
        {
            if (await s.Settings.DeleteAsync(key, ct)) await s.Audit.WriteAsync(http.Audit("setting.reset", "setting:" + key), ct);
        }, ct);
        return Results.Json(View(known, null, settings), AdminJsonContext.Default.SettingView);
    }

    /// <summary>Rows read from the store per batch when the action or until filter leaves some out.</summary>
    private const int AuditScanBatch = 500;

    /// <summary>
    /// Rows one request reads at most for a filtered page: a rare action in a long log then answers a short page with
    /// a cursor to read on from, rather than one request reading the whole log.
    /// </summary>
    private const int AuditScanLimit = 10 * AuditScanBatch;

    private static async Task<IResult> AuditAsync(HttpContext http, IGapuraStore store, CancellationToken ct)
    {
        http.RequireAdmin("read the audit log");
        var q = http.Request.Query;
        var since = Time(q["since"].ToString(), "since");
        var until = Time(q["until"].ToString(), "until");
        var action = NullIfEmpty(q["action"].ToString().Trim());
        var before = Number(q["before_id"].ToString(), "before_id", 1, long.MaxValue);
        var limit = (int)(Number(q["limit"].ToString(), "limit", 1, 1000) ?? 100);
        var actor = NullIfEmpty(q["actor"].ToString());
        var target = NullIfEmpty(q["target"].ToString());

        // The store filters actor, target, since and the cursor; action and until are applied here, over batches read
        // newest first, so the cursor stays the id to read on from whatever the filters are.
        var filtered = action is not null || until is not null;
        var page = new List<AuditEntry>(limit);
        long? next = null;
        var cursor = before;
        var scanned = 0;
        while (true)
        {
            var batchSize = filtered ? AuditScanBatch : limit;
            var batch = await store.Audit.ListAsync(new AuditQuery(since, actor, target, cursor, batchSize), ct);
            foreach (var entry in batch)
            {
                if (!Matches(entry, action, until)) continue;
                page.Add(entry);
                if (page.Count == limit) break;
            }
            scanned += batch.Count;
            if (page.Count == limit)
            {
                next = page[^1].Id;
                break;
            }
            if (batch.Count < batchSize) break;
            cursor = batch[^1].Id;
            if (scanned >= AuditScanLimit)
            {
                next = cursor;
                break;
            }
        }
        return Results.Json(new AuditList([.. page.Select(AuditView.From)], next), AdminJsonContext.Default.AuditList);
    }

    /// <summary>An action filter names one action (<c>user.update</c>) or every action under a prefix (<c>user</c>, <c>user.totp</c>).</summary>
    private static bool Matches(AuditEntry entry, string? action, DateTimeOffset? until)
        => (until is null || entry.At < until)
            && (action is null || entry.Action.Equals(action, StringComparison.OrdinalIgnoreCase)
                || (entry.Action.Length > action.Length && entry.Action[action.Length] == '.' && entry.Action.StartsWith(action, StringComparison.OrdinalIgnoreCase)));

    private static DateTimeOffset? Time(string text, string name)
    {
        if (text.Length == 0) return null;
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)
            ? t : throw AdminApiException.Invalid(name, $"'{name}' must be an ISO 8601 time, e.g. 2026-03-01T00:00:00Z.");
    }

    private static SettingView View(KnownSetting known, string? stored, AdminSettings settings)
    {
        var configured = known.Default(settings.Configured);
        return new SettingView(known.Key, stored, configured, stored ?? configured, known.Description);
    }

    private static AdminApiException UnknownSetting(string key)
        => AdminApiException.NotFound($"There is no setting '{key}'. Known: {string.Join(", ", AdminSettings.Known.Select(k => k.Key))}.");

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    private static long? Number(string text, string name, long min, long max)
    {
        if (text.Length == 0) return null;
        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n : throw AdminApiException.Invalid(name, $"'{name}' must be a whole number from {min} to {max}.");
    }
}
