using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Gapura.Simulators.Kiro;
using Gapura.Tests.Integration;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Telemetry;

/// <summary>
/// <c>/metrics</c> scraped from a real gateway after real requests to the Kiro simulator: every figure must move
/// by exactly what the requests did, and nothing a client sent as text (prompt, model name, key) may appear.
/// </summary>
public class MetricsTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private const string Prompt = "metrics-prompt-5f1c do not leak me";

    internal static async Task<PrometheusText> ScrapeAsync(GatewayFixture gateway, string? token = null)
    {
        using var http = gateway.Http(apiKey: null);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType);
        return new PrometheusText(body);
    }

    /// <summary>
    /// The record reaches the metrics just after the answer's last byte, so a scrape right after a response may
    /// be a moment early: scrape until the condition holds, within a bound.
    /// </summary>
    internal static async Task<PrometheusText> ScrapeUntilAsync(GatewayFixture gateway, Func<PrometheusText, bool> done, string? token = null)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var scrape = await ScrapeAsync(gateway, token);
            if (done(scrape)) return scrape;
            if (clock.Elapsed > TimeSpan.FromSeconds(10)) return scrape; // the assertions that follow say what is missing
            await Task.Delay(25);
        }
    }

    private static double Requests(PrometheusText m, params (string, string)[] labels) => m.Sum("gapura_requests_total", labels);

    [Fact]
    public async Task Requests_and_tokens_move_by_exactly_what_the_answers_said()
    {
        var before = await ScrapeAsync(gateway);
        using var http = gateway.Http();

        gateway.Kiro.Enqueue(KiroScenario.Stream(KiroFrame.Text("Hello "), KiroFrame.Text("there"), KiroFrame.Metadata(120, 4), KiroFrame.Metering()));
        var (openAiResponse, openAiBody) = await Wire.SendAsync(http, Wire.OpenAi(Wire.OpenAiBody(Prompt)));
        Assert.Equal(HttpStatusCode.OK, openAiResponse.StatusCode);
        var openAiUsage = JsonNode.Parse(openAiBody)!["usage"]!;
        var servedModel = openAiResponse.Headers.GetValues("x-gapura-model").Single();

        gateway.Kiro.Enqueue(KiroScenario.Stream(KiroFrame.Text("Hi"), KiroFrame.Metadata(80, 2), KiroFrame.Metering()));
        var (anthropicResponse, anthropicBody) = await Wire.SendAsync(http, Wire.Anthropic(Wire.AnthropicBody(Prompt)));
        Assert.Equal(HttpStatusCode.OK, anthropicResponse.StatusCode);
        var anthropicUsage = JsonNode.Parse(anthropicBody)!["usage"]!;

        gateway.Kiro.Enqueue(KiroScenario.Stream(KiroFrame.Text("streamed"), KiroFrame.Metadata(30, 7), KiroFrame.Metering()));
        var (streamResponse, _, _) = await Wire.StreamAsync(http, Wire.OpenAi(Wire.OpenAiBody(Prompt, stream: true, extra: "\"stream_options\":{\"include_usage\":true}")));
        Assert.Equal(HttpStatusCode.OK, streamResponse.StatusCode);

        var after = await ScrapeUntilAsync(gateway, m => Requests(m) - Requests(before) >= 3);

        Assert.Equal(3, Requests(after) - Requests(before));
        double Delta(string name, params (string, string)[] labels) => after.Sum(name, labels) - before.Sum(name, labels);
        Assert.Equal(2, Delta("gapura_requests_total", ("door", "openai-chat"), ("provider", "kiro"), ("model", servedModel), ("status", "ok")));
        Assert.Equal(1, Delta("gapura_requests_total", ("door", "anthropic-messages"), ("provider", "kiro"), ("model", servedModel), ("status", "ok")));

        // Tokens: exactly what the answers told the clients (the streamed one as the simulator sent it).
        var input = (int)openAiUsage["prompt_tokens"]! + (int)anthropicUsage["input_tokens"]! + 30;
        var output = (int)openAiUsage["completion_tokens"]! + (int)anthropicUsage["output_tokens"]! + 7;
        Assert.Equal(120 + 80 + 30, input);
        Assert.Equal(input, Delta("gapura_tokens_total", ("bucket", "input"), ("provider", "kiro"), ("model", servedModel)));
        Assert.Equal(output, Delta("gapura_tokens_total", ("bucket", "output"), ("provider", "kiro"), ("model", servedModel)));
        Assert.Equal(0, Delta("gapura_tokens_total", ("bucket", "cache_read")));

        // Histograms saw every request; the first-byte one only those that sent a byte (all three here).
        Assert.Equal(3, Delta("gapura_request_duration_seconds_count"));
        Assert.Equal(3, Delta("gapura_time_to_first_byte_seconds_count"));
        Assert.Equal(2, Delta("gapura_request_duration_seconds_count", ("door", "openai-chat"), ("provider", "kiro")));
        Assert.Equal(0, after.Sum("gapura_active_streams"));
        Assert.True(after.Has("gapura_usage_queue_depth"));

        // Nothing a client typed, nor the key, nor the admin's email, reaches a label.
        Assert.DoesNotContain("metrics-prompt-5f1c", after.Text);
        Assert.DoesNotContain(GatewayFixture.ApiKey, after.Text);
        Assert.DoesNotContain(GatewayFixture.AdminEmail, after.Text);
        // Only Gapura's own metrics: the registry is the host's, not the process-wide default one.
        Assert.All(after.Samples, s => Assert.StartsWith("gapura_", s.Name));

        // The background writer stores the records and the counter follows (it flushes at least every second).
        var written = await ScrapeUntilAsync(gateway, m => m.Sum("gapura_usage_written_total") - before.Sum("gapura_usage_written_total") >= 3);
        Assert.True(written.Sum("gapura_usage_written_total") - before.Sum("gapura_usage_written_total") >= 3);
        Assert.Equal(0, written.Sum("gapura_usage_dropped_total"));
    }

    [Fact]
    public async Task A_failing_upstream_counts_an_error_of_its_kind()
    {
        var before = await ScrapeAsync(gateway);
        gateway.Kiro.Enqueue(KiroScenario.ImproperlyFormed());
        using var http = gateway.Http();
        var (response, _) = await Wire.SendAsync(http, Wire.OpenAi(Wire.OpenAiBody(Prompt)));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);

        var after = await ScrapeUntilAsync(gateway, m => Requests(m) - Requests(before) >= 1);
        Assert.Equal(1, Requests(after, ("provider", "kiro"), ("status", "error")) - Requests(before, ("provider", "kiro"), ("status", "error")));
        Assert.Equal(1, after.Sum("gapura_upstream_errors_total", ("provider", "kiro"), ("kind", "invalid_request"))
            - before.Sum("gapura_upstream_errors_total", ("provider", "kiro"), ("kind", "invalid_request")));
        Assert.Equal(0, after.Sum("gapura_fallbacks_total") - before.Sum("gapura_fallbacks_total"));
    }

    [Fact]
    public async Task A_model_nobody_serves_is_labelled_other_not_by_the_clients_text()
    {
        var before = await ScrapeAsync(gateway);
        using var http = gateway.Http();
        var body = Wire.OpenAiBody(Prompt).Replace(Wire.Model, "client-chosen-model-9d2e", StringComparison.Ordinal);
        var (response, _) = await Wire.SendAsync(http, Wire.OpenAi(body));
        Assert.False(response.IsSuccessStatusCode);

        var after = await ScrapeUntilAsync(gateway, m => Requests(m) - Requests(before) >= 1);
        Assert.Equal(1, Requests(after, ("provider", "none"), ("model", "other"), ("status", "error"))
            - Requests(before, ("provider", "none"), ("model", "other"), ("status", "error")));
        Assert.DoesNotContain("client-chosen-model-9d2e", after.Text);
        // Refused before any upstream: not an upstream error.
        Assert.Equal(before.Sum("gapura_upstream_errors_total"), after.Sum("gapura_upstream_errors_total"));
    }

    [Fact]
    public async Task A_stream_in_progress_shows_in_the_active_streams_gauge()
    {
        gateway.Kiro.Enqueue(new KiroScenario
        {
            Frames = [KiroFrame.Text("slow "), KiroFrame.Text("answer"), KiroFrame.Metadata(10, 2), KiroFrame.Metering()],
            DelayBetweenFrames = TimeSpan.FromMilliseconds(700),
        });
        using var http = gateway.Http();
        var streaming = Wire.StreamAsync(http, Wire.OpenAi(Wire.OpenAiBody(Prompt, stream: true)));
        var during = await ScrapeUntilAsync(gateway, m => m.Sum("gapura_active_streams") >= 1);
        Assert.Equal(1, during.Sum("gapura_active_streams"));
        var (response, _, _) = await streaming;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var after = await ScrapeUntilAsync(gateway, m => m.Sum("gapura_active_streams") == 0);
        Assert.Equal(0, after.Sum("gapura_active_streams"));
    }
}

/// <summary>A gateway whose metrics need a scraper token.</summary>
public sealed class MetricsTokenGateway() : ConfiguredGateway($"--Metrics:Token={Token}")
{
    public const string Token = "scrape-token-8a7f3c";
}

/// <summary>A gateway with metrics turned off.</summary>
public sealed class MetricsDisabledGateway() : ConfiguredGateway("--Metrics:Enabled=false");

public class MetricsTokenTests(MetricsTokenGateway fixture) : IClassFixture<MetricsTokenGateway>
{
    [Fact]
    public async Task Without_the_token_the_scraper_gets_401_and_with_it_200()
    {
        using var http = fixture.Gateway.Http(apiKey: null);
        using (var missing = await http.GetAsync("/metrics"))
            Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);

        using (var wrong = new HttpRequestMessage(HttpMethod.Get, "/metrics"))
        {
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", MetricsTokenGateway.Token + "x");
            using var response = await http.SendAsync(wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        // The gateway's API key is not the metrics token.
        using (var apiKey = new HttpRequestMessage(HttpMethod.Get, "/metrics"))
        {
            apiKey.Headers.Authorization = new AuthenticationHeaderValue("Bearer", GatewayFixture.ApiKey);
            using var response = await http.SendAsync(apiKey);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        var scrape = await MetricsTests.ScrapeAsync(fixture.Gateway, MetricsTokenGateway.Token);
        Assert.True(scrape.Has("gapura_usage_queue_depth"));
    }
}

public class MetricsDisabledTests(MetricsDisabledGateway fixture) : IClassFixture<MetricsDisabledGateway>
{
    [Fact]
    public async Task Disabled_metrics_have_no_endpoint_and_no_observer()
    {
        using var http = fixture.Gateway.Http(apiKey: null);
        using var response = await http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.DoesNotContain(fixture.Gateway.Services.GetServices<Gapura.Ledger.IUsageObserver>(), o => o is Gapura.Telemetry.GatewayMetrics);
    }
}
