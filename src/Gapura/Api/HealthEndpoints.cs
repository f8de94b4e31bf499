using System.Text.Json.Serialization;

namespace Gapura.Api;

internal static class HealthEndpoints
{
    public static void MapHealthEndpoints(this WebApplication app)
    {
        var version = typeof(HealthEndpoints).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
        app.MapGet("/health", () => Results.Json(new HealthStatus("ok", version), ApiJsonContext.Default.HealthStatus));
        // Claude Code probes HEAD / before its first request; any answer will do, a 200 is friendliest.
        app.MapMethods("/", ["GET", "HEAD"], () => Results.Json(new HealthStatus("ok", version), ApiJsonContext.Default.HealthStatus));
    }
}

public sealed record HealthStatus(string Status, string Version);

[JsonSerializable(typeof(HealthStatus))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
internal sealed partial class ApiJsonContext : JsonSerializerContext;
