using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Gapura.Simulators.Kiro;
using Gapura.Telemetry;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Telemetry;

/// <summary>
/// The gateway's spans as an in-process listener sees them: a Server span per request, a Client span per upstream
/// attempt beneath it, GenAI attributes on both and no prompt or answer text. Other tests' gateways run in this
/// process and make spans too, so every check picks its own request's spans by the request id.
/// </summary>
public sealed class TracingTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>, IDisposable
{
    private const string Prompt = "tracing-prompt-0b7d keep me out of spans";
    private const string Answer = "tracing-answer-51ce";

    private readonly ConcurrentQueue<Activity> _stopped = new();
    private ActivityListener? _listener;

    private void Listen()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == GapuraTracing.SourceName,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _stopped.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public void Dispose() => _listener?.Dispose();

    /// <summary>The request's span ends just after its last byte: wait for it, within a bound.</summary>
    private async Task<Activity> RequestSpanAsync(string requestId)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            var found = _stopped.FirstOrDefault(a => a.Kind == ActivityKind.Server && (string?)a.GetTagItem("gapura.request_id") == requestId);
            if (found is not null) return found;
            await Task.Delay(20);
        }
        throw new TimeoutException($"no request span for {requestId} within 10 s");
    }

    private static void AssertNoText(Activity span, params string[] texts)
    {
        foreach (var (key, value) in span.TagObjects)
            foreach (var text in texts)
                Assert.DoesNotContain(text, $"{key}={value}", StringComparison.Ordinal);
        foreach (var text in texts) Assert.DoesNotContain(text, span.DisplayName, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_request_has_a_server_span_with_a_client_span_per_attempt_beneath_it()
    {
        Listen();
        gateway.Kiro.Enqueue(KiroScenario.Stream(KiroFrame.Text(Answer), KiroFrame.Metadata(42, 5), KiroFrame.Metering()));
        using var http = gateway.Http();
        var (response, body) = await Wire.SendAsync(http, Wire.Anthropic(Wire.AnthropicBody(Prompt)));
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        var requestId = response.Headers.GetValues("x-gapura-request-id").Single();
        var served = response.Headers.GetValues("x-gapura-model").Single();

        var request = await RequestSpanAsync(requestId);
        Assert.Equal($"chat {Wire.Model}", request.DisplayName);
        Assert.Equal("chat", request.GetTagItem("gen_ai.operation.name"));
        Assert.Equal(Wire.Model, request.GetTagItem("gen_ai.request.model"));
        Assert.Equal(served, request.GetTagItem("gen_ai.response.model"));
        Assert.Equal("kiro", request.GetTagItem("gen_ai.provider.name"));
        Assert.Equal("kiro", request.GetTagItem("gen_ai.system"));
        Assert.Equal(1024, request.GetTagItem("gen_ai.request.max_tokens"));
        Assert.Equal(42, request.GetTagItem("gen_ai.usage.input_tokens"));
        Assert.Equal(5, request.GetTagItem("gen_ai.usage.output_tokens"));
        Assert.NotNull(request.GetTagItem("gapura.client"));
        Assert.Equal(ActivityStatusCode.Unset, request.Status);

        var attempts = _stopped.Where(a => a.ParentSpanId == request.SpanId).ToList();
        var attempt = Assert.Single(attempts);
        Assert.Equal(ActivityKind.Client, attempt.Kind);
        Assert.Equal(request.TraceId, attempt.TraceId);
        Assert.Equal($"chat {served}", attempt.DisplayName);
        Assert.Equal("kiro", attempt.GetTagItem("gen_ai.provider.name"));
        Assert.Equal(served, attempt.GetTagItem("gen_ai.request.model"));
        Assert.Equal(42, attempt.GetTagItem("gen_ai.usage.input_tokens"));
        Assert.Equal(5, attempt.GetTagItem("gen_ai.usage.output_tokens"));
        // The attempt lies within the request.
        Assert.True(attempt.StartTimeUtc >= request.StartTimeUtc && attempt.StartTimeUtc + attempt.Duration <= request.StartTimeUtc + request.Duration);

        AssertNoText(request, Prompt, Answer, GatewayFixture.ApiKey);
        AssertNoText(attempt, Prompt, Answer, GatewayFixture.ApiKey);
    }

    [Fact]
    public async Task A_callers_traceparent_makes_the_request_span_part_of_its_trace()
    {
        Listen();
        gateway.Kiro.Enqueue(KiroScenario.Stream(KiroFrame.Text(Answer), KiroFrame.Metadata(42, 5), KiroFrame.Metering()));
        using var http = gateway.Http();
        var request = Wire.OpenAi(Wire.OpenAiBody(Prompt));
        request.Headers.Add("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        request.Headers.Add("tracestate", "vendor=opaque");
        var (response, body) = await Wire.SendAsync(http, request);
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);

        var span = await RequestSpanAsync(response.Headers.GetValues("x-gapura-request-id").Single());
        Assert.Equal("4bf92f3577b34da6a3ce929d0e0e4736", span.TraceId.ToHexString());
        Assert.Equal("00f067aa0ba902b7", span.ParentSpanId.ToHexString());
        Assert.Equal("vendor=opaque", span.TraceStateString);
    }

    [Fact]
    public async Task A_failed_upstream_marks_both_spans_as_errors()
    {
        Listen();
        gateway.Kiro.Enqueue(KiroScenario.ImproperlyFormed());
        using var http = gateway.Http();
        var (response, _) = await Wire.SendAsync(http, Wire.OpenAi(Wire.OpenAiBody(Prompt)));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var requestId = response.Headers.GetValues("x-gapura-request-id").Single();

        var request = await RequestSpanAsync(requestId);
        Assert.Equal(ActivityStatusCode.Error, request.Status);
        Assert.Equal("invalid_request", request.GetTagItem("error.type"));
        var attempt = Assert.Single(_stopped, a => a.ParentSpanId == request.SpanId);
        Assert.Equal(ActivityStatusCode.Error, attempt.Status);
        Assert.Equal("invalid_request", attempt.GetTagItem("error.type"));
    }

    [Fact]
    public void Without_a_listener_no_span_is_made()
    {
        // Nothing in this test listens; another test's listener may, so only the source's own answer is checked.
        if (GapuraTracing.Source.HasListeners()) return;
        Assert.Null(GapuraTracing.StartRequest("id", "openai-chat"));
    }
}
