using Gapura.Conversations;
using Gapura.Ledger;
using Gapura.Telemetry;
using Microsoft.Extensions.DependencyInjection;
using Prometheus;

namespace Gapura.Tests.Telemetry;

/// <summary>The observer alone, fed records no single simulator can produce (fallbacks across providers, cache and reasoning tokens).</summary>
public sealed class GatewayMetricsTests
{
    private static async Task<PrometheusText> ScrapeAsync(CollectorRegistry registry)
    {
        using var stream = new MemoryStream();
        await registry.CollectAndExportAsTextAsync(stream);
        return new PrometheusText(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
    }

    private static UsageRecord Record(string status = UsageStatus.Ok) => new()
    {
        RequestId = Guid.NewGuid().ToString("N"),
        At = DateTimeOffset.UtcNow,
        Client = "claude-code",
        FrontDoor = "anthropic-messages",
        RequestedModel = "sonnet",
        Provider = "anthropic",
        UpstreamModel = "claude-sonnet-4.5",
        Status = status,
        DurationMs = 1500,
        TimeToFirstByteMs = 200,
    };

    [Fact]
    public async Task Fallbacks_errors_and_every_token_bucket_are_counted_once()
    {
        var metrics = new GatewayMetrics(new ServiceCollection().BuildServiceProvider());
        metrics.Observe(Record() with
        {
            FailedAttempts = [("kiro", ErrorKind.RateLimited), ("copilot", ErrorKind.UpstreamUnavailable)],
            InputTokens = 10, OutputTokens = 20, CacheReadTokens = 300, CacheWriteTokens = 40, ReasoningTokens = 5, CostUsd = 0.25,
        });
        metrics.Observe(Record(UsageStatus.Error) with { ErrorKind = "timeout", TimeToFirstByteMs = null, CostUsd = null });
        metrics.Observe(Record(UsageStatus.ClientClosed) with { OutputTokens = 3 });

        var m = await ScrapeAsync(metrics.Registry);
        Assert.Equal(1, m.Sum("gapura_requests_total", ("door", "anthropic-messages"), ("provider", "anthropic"), ("model", "claude-sonnet-4.5"), ("status", "ok")));
        Assert.Equal(1, m.Sum("gapura_requests_total", ("status", "error")));
        Assert.Equal(1, m.Sum("gapura_requests_total", ("status", "client_closed")));
        Assert.Equal(1, m.Sum("gapura_fallbacks_total", ("provider", "kiro")));
        Assert.Equal(1, m.Sum("gapura_fallbacks_total", ("provider", "copilot")));
        Assert.Equal(1, m.Sum("gapura_upstream_errors_total", ("provider", "kiro"), ("kind", "rate_limited")));
        Assert.Equal(1, m.Sum("gapura_upstream_errors_total", ("provider", "copilot"), ("kind", "upstream_unavailable")));
        Assert.Equal(1, m.Sum("gapura_upstream_errors_total", ("provider", "anthropic"), ("kind", "timeout")));
        Assert.Equal(10, m.Sum("gapura_tokens_total", ("bucket", "input")));
        Assert.Equal(23, m.Sum("gapura_tokens_total", ("bucket", "output")));
        Assert.Equal(300, m.Sum("gapura_tokens_total", ("bucket", "cache_read")));
        Assert.Equal(40, m.Sum("gapura_tokens_total", ("bucket", "cache_write")));
        Assert.Equal(5, m.Sum("gapura_tokens_total", ("bucket", "reasoning")));
        Assert.Equal(0.25, m.Sum("gapura_cost_usd_total", ("provider", "anthropic"), ("model", "claude-sonnet-4.5")), 9);
        Assert.Equal(3, m.Sum("gapura_request_duration_seconds_count", ("door", "anthropic-messages"), ("provider", "anthropic")));
        Assert.Equal(4.5, m.Sum("gapura_request_duration_seconds_sum"), 9);
        Assert.Equal(2, m.Sum("gapura_time_to_first_byte_seconds_count"));
    }

    [Fact]
    public async Task Two_gateways_in_one_process_keep_their_figures_apart()
    {
        var a = new GatewayMetrics(new ServiceCollection().BuildServiceProvider());
        var b = new GatewayMetrics(new ServiceCollection().BuildServiceProvider());
        a.Observe(Record());
        a.Observe(Record());
        b.Observe(Record());
        Assert.Equal(2, (await ScrapeAsync(a.Registry)).Sum("gapura_requests_total"));
        Assert.Equal(1, (await ScrapeAsync(b.Registry)).Sum("gapura_requests_total"));
    }
}
