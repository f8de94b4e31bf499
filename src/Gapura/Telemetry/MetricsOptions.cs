namespace Gapura.Telemetry;

/// <summary>Settings of the Prometheus endpoint (<c>Metrics:*</c>).</summary>
internal sealed class MetricsOptions
{
    public const string Section = "Metrics";

    /// <summary>False: no <c>/metrics</c> endpoint and no work per request for it.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>When set, a scraper must send <c>Authorization: Bearer &lt;token&gt;</c>; the endpoint is open otherwise.</summary>
    public string? Token { get; set; }
}
