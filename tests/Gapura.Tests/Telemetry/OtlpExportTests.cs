using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using Gapura.Simulators.Kiro;
using Gapura.Tests.Integration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;

namespace Gapura.Tests.Telemetry;

/// <summary>
/// A real OTLP export: the gateway, told only the standard OTEL_* settings, posts its spans as http/protobuf to a
/// small receiver on 127.0.0.1; the received bytes carry the GenAI attribute names and values, and no prompt text.
/// </summary>
public sealed class OtlpExportTests : IAsyncLifetime
{
    private const string Prompt = "otlp-prompt-7e3a must never be exported";
    private const string Answer = "otlp-answer-2c9b";

    private readonly ConcurrentQueue<byte[]> _bodies = new();
    private WebApplication? _receiver;
    private GatewayFixture? _gateway;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        _receiver = builder.Build();
        _receiver.MapPost("/v1/traces", async (HttpContext http) =>
        {
            using var copy = new MemoryStream();
            await http.Request.Body.CopyToAsync(copy);
            _bodies.Enqueue(copy.ToArray());
            http.Response.ContentType = "application/x-protobuf";
        });
        await _receiver.StartAsync();

        _gateway = new GatewayFixture();
        _gateway.Settings.AddRange(
        [
            $"--OTEL_EXPORTER_OTLP_ENDPOINT={_receiver.Urls.First()}",
            "--OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
            "--OTEL_SERVICE_NAME=gapura-otlp-test",
            "--OTEL_BSP_SCHEDULE_DELAY=100",
        ]);
        await _gateway.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        if (_gateway is not null) await _gateway.DisposeAsync();
        if (_receiver is not null) await _receiver.DisposeAsync();
    }

    [Fact]
    public async Task Spans_reach_an_otlp_receiver_with_genai_attributes_and_no_prompt()
    {
        var gateway = _gateway!;
        gateway.Kiro.Enqueue(KiroScenario.Stream(KiroFrame.Text(Answer), KiroFrame.Metadata(64, 3), KiroFrame.Metering()));
        using var http = gateway.Http();
        var (response, body) = await Wire.SendAsync(http, Wire.OpenAi(Wire.OpenAiBody(Prompt)));
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        var requestId = response.Headers.GetValues("x-gapura-request-id").Single();

        // Wait for this request's span (other tests' gateways may export into the same process's listeners too).
        var tracer = gateway.Services.GetRequiredService<TracerProvider>();
        var needle = Encoding.UTF8.GetBytes(requestId);
        var clock = Stopwatch.StartNew();
        byte[] all = [];
        while (clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            tracer.ForceFlush(2000);
            all = [.. _bodies.SelectMany(b => b)];
            if (all.AsSpan().IndexOf(needle) >= 0) break;
            await Task.Delay(50);
        }
        Assert.True(all.AsSpan().IndexOf(needle) >= 0, $"no exported span carries request id {requestId} within 15 s ({_bodies.Count} posts)");

        foreach (var text in (string[])["gen_ai.operation.name", "gen_ai.request.model", Wire.Model, "gen_ai.provider.name", "kiro",
                     "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gapura.request_id", "gapura-otlp-test", $"chat {Wire.Model}"])
            Assert.True(all.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0, $"'{text}' is not in the exported spans");
        foreach (var text in (string[])[Prompt, "otlp-prompt", Answer, GatewayFixture.ApiKey])
            Assert.True(all.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) < 0, $"'{text}' was exported");
    }
}
