using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;
using Prometheus;

namespace Gapura.Telemetry;

/// <summary><c>GET /metrics</c>: this host's registry in the Prometheus text format, optionally behind a bearer token.</summary>
internal static class MetricsEndpoint
{
    public const string Path = "/metrics";

    public static void MapGapuraMetrics(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<IOptions<MetricsOptions>>().Value;
        if (!options.Enabled) return;
        var metrics = app.Services.GetRequiredService<GatewayMetrics>();
        // Not behind the API key: a scraper is not a user. The token, when set, guards it instead.
        var endpoint = app.MapMetrics(Path, metrics.Registry);
        if (string.IsNullOrEmpty(options.Token)) return;
        var expected = SHA256.HashData(Encoding.UTF8.GetBytes(options.Token));
        endpoint.Add(builder =>
        {
            var inner = builder.RequestDelegate ?? throw new InvalidOperationException("The metrics endpoint has no handler.");
            builder.RequestDelegate = http => Authorized(http.Request, expected) ? inner(http) : RefuseAsync(http.Response);
        });
    }

    /// <summary>
    /// Compares digests in constant time: comparing the tokens themselves would stop at the first differing byte
    /// and at a length mismatch, and the time taken would tell a guesser how close they were.
    /// </summary>
    internal static bool Authorized(HttpRequest request, byte[] expectedDigest)
    {
        var header = request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return false;
        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(header.AsSpan(scheme.Length).Trim().ToString()));
        return CryptographicOperations.FixedTimeEquals(presented, expectedDigest);
    }

    private static Task RefuseAsync(HttpResponse response)
    {
        response.StatusCode = StatusCodes.Status401Unauthorized;
        response.Headers.WWWAuthenticate = "Bearer";
        response.ContentType = "text/plain; charset=utf-8";
        return response.WriteAsync("The metrics endpoint needs 'Authorization: Bearer <Metrics:Token>'.\n");
    }
}
