using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Gapura.Storage;
using Microsoft.Extensions.Options;

namespace Gapura.Api.Admin;

/// <summary>
/// Settings of the admin API (section <c>Admin</c>). Each is also a run-time setting an admin can change
/// through <c>PUT /admin/api/settings/{key}</c> (see <see cref="AdminSettings"/>); a value stored there wins,
/// because several instances must agree on it and configuration files are per instance.
/// </summary>
internal sealed class AdminOptions
{
    public const string Section = "Admin";

    /// <summary>Failed password (or second-factor) attempts for one e-mail from one client address before that pair backs off (<see cref="SignInThrottle"/>).</summary>
    [Range(1, 100)]
    public int MaxFailedLogins { get; set; } = 5;

    /// <summary>The longest the sign-in back-off's doubling wait grows to.</summary>
    [Range(1d, 1440d)]
    public double LockoutMinutes { get; set; } = 15;

    /// <summary>Longest life of a browser session, however active.</summary>
    [Range(1d, 720d)]
    public double SessionHours { get; set; } = 12;

    /// <summary>A session unused this long ends.</summary>
    [Range(5d, 1440d)]
    public double SessionIdleMinutes { get; set; } = 60;
}

/// <summary>One setting admins may read and write through the API, with its check and its configured default.</summary>
internal sealed record KnownSetting(string Key, string Description, Func<AdminOptions, string> Default, Func<string, string?> Validate);

/// <summary>
/// The allow-list of run-time settings, stored in the settings table (plain, never secret) so every
/// instance sees the same value. Anything not listed here is not readable or writable over the API —
/// the table also holds internal values such as the set-up code's hash.
/// </summary>
internal sealed class AdminSettings(IGapuraStore store, IOptions<AdminOptions> options)
{
    public const string MaxFailedLogins = "auth.max_failed_logins";
    public const string LockoutMinutes = "auth.lockout_minutes";
    public const string SessionHours = "auth.session_hours";
    public const string SessionIdleMinutes = "auth.session_idle_minutes";

    public static IReadOnlyList<KnownSetting> Known { get; } =
    [
        new(MaxFailedLogins, "Failed sign-ins for one e-mail from one client address before that pair must wait (1–100).",
            o => Text(o.MaxFailedLogins), v => Range(v, 1, 100)),
        new(LockoutMinutes, "Longest wait, in minutes, the sign-in back-off doubles up to (1–1440).",
            o => Text(o.LockoutMinutes), v => Range(v, 1, 1440)),
        new(SessionHours, "Longest life of an admin browser session, in hours (1–720).",
            o => Text(o.SessionHours), v => Range(v, 1, 720)),
        new(SessionIdleMinutes, "Minutes without a request after which an admin browser session ends (5–1440).",
            o => Text(o.SessionIdleMinutes), v => Range(v, 5, 1440)),
    ];

    public static KnownSetting? Find(string key) => Known.FirstOrDefault(k => k.Key == key);

    public AdminOptions Configured => options.Value;

    /// <summary>The stored value of each known setting (null when unset).</summary>
    public async Task<IReadOnlyDictionary<string, string?>> ReadAllAsync(CancellationToken ct)
    {
        var stored = (await store.Settings.ListAsync(ct)).Where(s => !s.IsSecret).ToDictionary(s => s.Key, s => s.Value, StringComparer.Ordinal);
        return Known.ToDictionary(k => k.Key, k => stored.GetValueOrDefault(k.Key), StringComparer.Ordinal);
    }

    /// <summary>The effective value: stored, else configured.</summary>
    public async Task<double> GetNumberAsync(string key, CancellationToken ct)
    {
        var known = Find(key) ?? throw new ArgumentException($"Unknown setting {key}.", nameof(key));
        var stored = await store.Settings.GetAsync(key, ct);
        var text = stored is not null && known.Validate(stored) is null ? stored : known.Default(options.Value);
        return double.Parse(text, CultureInfo.InvariantCulture);
    }

    private static string Text(double value) => value.ToString(CultureInfo.InvariantCulture);

    private static string? Range(string value, double min, double max)
        => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max && double.IsFinite(n)
            ? null
            : $"must be a number from {Text(min)} to {Text(max)}";
}
