using Gapura.Ledger;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Gapura.Telemetry;

internal static class TelemetryServiceCollectionExtensions
{
    /// <summary>The OpenTelemetry variable whose presence turns tracing on (read from configuration: environment, command line or file).</summary>
    public const string OtlpEndpointSetting = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>
    /// Prometheus metrics unless <c>Metrics:Enabled</c> is false (then nothing observes requests), and OTLP traces
    /// when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set — the exporter reads the other standard <c>OTEL_*</c>
    /// variables (protocol, headers, batch delays) from configuration itself.
    /// </summary>
    public static IServiceCollection AddGapuraTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(MetricsOptions.Section);
        services.Configure<MetricsOptions>(section);
        if (section.GetValue(nameof(MetricsOptions.Enabled), true))
        {
            services.AddSingleton<GatewayMetrics>();
            services.AddSingleton<IUsageObserver>(sp => sp.GetRequiredService<GatewayMetrics>());
        }

        if (!string.IsNullOrWhiteSpace(configuration[OtlpEndpointSetting]))
        {
            services.AddOpenTelemetry()
                .ConfigureResource(resource =>
                {
                    // OTEL_SERVICE_NAME, when set, names the service; the default detectors read it.
                    if (string.IsNullOrWhiteSpace(configuration["OTEL_SERVICE_NAME"]))
                        resource.AddService("gapura", serviceVersion: typeof(GapuraTracing).Assembly.GetName().Version?.ToString(3));
                })
                .WithTracing(tracing =>
                {
                    tracing.AddSource(GapuraTracing.SourceName).AddOtlpExporter();
                    // Every request is sampled unless the caller's traceparent says it is not (a remote parent's decision
                    // counts; GapuraTracing reads that header itself). An unsampled local parent — such as ASP.NET Core's
                    // own per-request activity, when its diagnostics logging is switched back on — does not drop the
                    // request's span. OTEL_TRACES_SAMPLER, when set, is the operator's choice and wins.
                    if (string.IsNullOrWhiteSpace(configuration["OTEL_TRACES_SAMPLER"]))
                        tracing.SetSampler(new ParentBasedSampler(new AlwaysOnSampler(), localParentNotSampled: new AlwaysOnSampler()));
                });
        }
        return services;
    }
}
