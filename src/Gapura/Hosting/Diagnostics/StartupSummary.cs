using Gapura.Api;
using Gapura.Storage;

namespace Gapura.Hosting.Diagnostics;

/// <summary>
/// What <c>serve</c> says once it listens, one line each: the URLs, the storage, where the client key is, every
/// upstream login found (or how to get one) and the providers enabled — so a missing login shows at start, not on
/// the first request. Local reads only (files, settings, the logins already loaded in memory): it adds no
/// network call to start-up and never runs on the request path. No line holds a secret.
/// </summary>
internal static class StartupSummary
{
    public const string Category = "Gapura.Startup";

    /// <summary>Logs the summary when the host has started; a failure here is a warning, never a failed start.</summary>
    public static void LogWhenStarted(WebApplication app)
    {
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(Category);
            try
            {
                foreach (var line in Lines(app.Services, app.Configuration, app.Urls)) log.LogInformation("{Line}", line);
            }
            catch (Exception e)
            {
                log.LogWarning("Could not write the start-up summary: {Error}", e.Message);
            }
        });
    }

    public static IReadOnlyList<string> Lines(IServiceProvider services, IConfiguration configuration, IEnumerable<string> urls)
    {
        var now = services.GetRequiredService<TimeProvider>().GetUtcNow();
        var lines = new List<string>
        {
            "Listening on " + string.Join(", ", urls),
            "Storage: " + services.GetRequiredService<Database>().Describe(),
            "Client key: " + ClientKeySource(configuration),
        };
        var findings = new UpstreamLoginReport(services, configuration).Find();
        foreach (var finding in findings.Where(f => !f.IsUserLogin))
        {
            lines.Add(finding.Found
                ? $"Upstream login: {finding.Provider} — {finding.Source} — {UpstreamLoginReport.Expiry(finding.ExpiresAt, now)}"
                : $"Upstream login: {finding.Provider} — none ({finding.Problem}) — {finding.Fix}");
        }
        // Users' own logins: one line per provider, however many users there are.
        foreach (var group in findings.Where(f => f.IsUserLogin).GroupBy(f => f.Provider))
        {
            var dead = group.Count(f => !f.Found);
            lines.Add($"Upstream login: {group.Key} — {group.Count()} user login(s) in the database{(dead > 0 ? $", {dead} dead (see `gapura doctor`)" : "")}");
        }
        var enabled = UpstreamLoginReport.Enabled(findings);
        var idle = UpstreamLoginReport.BuiltInProviders.Where(p => !enabled.Contains(p)).ToList();
        lines.Add("Providers enabled: " + (enabled.Count == 0 ? "none — every request will fail until an upstream login exists (`gapura doctor` says how)" : string.Join(", ", enabled))
            + (idle.Count > 0 && enabled.Count > 0 ? $" (no login: {string.Join(", ", idle)})" : ""));
        return lines;
    }

    /// <summary>Where the key clients send is: the setting's name, or the file the gateway generated. Never the key.</summary>
    public static string ClientKeySource(IConfiguration configuration)
        => !string.IsNullOrEmpty(configuration["Gateway:ApiKey"])
            ? "setting Gateway:ApiKey"
            : "file " + Identity.BootstrapApiKey.FileFor(configuration) + " (send it as 'Authorization: Bearer <key>' or 'x-api-key')";
}
