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
            .WithSummary("The audit log, newest first; filters actor, target, since (ISO 8601), before_id, limit (admins).");
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

    private static async Task<IResult> AuditAsync(HttpContext http, IGapuraStore store, CancellationToken ct)
    {
        http.RequireAdmin("read the audit log");
        var q = http.Request.Query;
        DateTimeOffset? since = null;
        if (q["since"].ToString() is { Length: > 0 } s)
        {
            since = DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)
                ? t : throw AdminApiException.Invalid("since", "'since' must be an ISO 8601 time, e.g. 2026-03-01T00:00:00Z.");
        }
        var before = Number(q["before_id"].ToString(), "before_id", 1, long.MaxValue);
        var limit = (int)(Number(q["limit"].ToString(), "limit", 1, 1000) ?? 100);
        var entries = await store.Audit.ListAsync(new AuditQuery(since, NullIfEmpty(q["actor"].ToString()), NullIfEmpty(q["target"].ToString()), before, limit), ct);
        return Results.Json(new AuditList([.. entries.Select(AuditView.From)], entries.Count == limit ? entries[^1].Id : null), AdminJsonContext.Default.AuditList);
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
