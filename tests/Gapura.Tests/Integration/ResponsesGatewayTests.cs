using System.Net;
using System.Text.Json;
using Gapura.Simulators.Kiro;

namespace Gapura.Tests.Integration;

/// <summary><c>POST /v1/responses</c> over real HTTP through the gateway to the Kiro simulator: how it ends when things go wrong.</summary>
public class ResponsesGatewayTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private static HttpRequestMessage Post(string body) => Wire.Post("/v1/responses", body);

    private static string Body(bool stream, string? extra = null)
        => $$"""{"model":"{{Wire.Model}}","stream":{{(stream ? "true" : "false")}},"store":false,"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}]{{(extra is null ? "" : "," + extra)}}}""";

    private static List<JsonElement> Events(List<SseItem> items)
        => [.. items.Where(i => i.Data is not null).Select(i => JsonDocument.Parse(i.Data!).RootElement)];

    [Fact]
    public async Task Upstream_failure_after_text_ends_with_response_failed_never_completed()
    {
        gateway.Kiro.Enqueue(KiroScenario.Stream(KiroFrame.Text("Hello "), KiroFrame.Text("world"), KiroFrame.Exception("InternalServerException", "Model went away.")));
        using var http = gateway.Http();
        var (_, items, _) = await Wire.StreamAsync(http, Post(Body(stream: true)));

        var events = Events(items);
        Assert.Equal("Hello world", string.Concat(events.Where(e => e.GetProperty("type").GetString() == "response.output_text.delta").Select(e => e.GetProperty("delta").GetString())));
        var last = events[^1];
        Assert.Equal("response.failed", last.GetProperty("type").GetString());
        Assert.Equal("failed", last.GetProperty("response").GetProperty("status").GetString());
        Assert.False(string.IsNullOrEmpty(last.GetProperty("response").GetProperty("error").GetProperty("message").GetString()));
        Assert.DoesNotContain(events, e => e.GetProperty("type").GetString() == "response.completed");
    }

    [Fact]
    public async Task Output_cap_ends_a_stream_with_response_incomplete()
    {
        gateway.Kiro.Enqueue(KiroScenario.Text("one two three four five six seven eight nine ten eleven twelve thirteen fourteen"));
        using var http = gateway.Http();
        var (_, items, _) = await Wire.StreamAsync(http, Post(Body(stream: true, extra: "\"max_output_tokens\":3")));

        var last = Events(items)[^1];
        Assert.Equal("response.incomplete", last.GetProperty("type").GetString());
        Assert.Equal("max_output_tokens", last.GetProperty("response").GetProperty("incomplete_details").GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Upstream_refusal_before_the_first_byte_is_an_http_error_in_openai_shape()
    {
        for (var i = 0; i < 3; i++) gateway.Kiro.Enqueue(KiroScenario.Throttled());
        using var http = gateway.Http();
        var (response, body) = await Wire.SendAsync(http, Post(Body(stream: true)));
        Wire.AssertOpenAiError(response, body, HttpStatusCode.TooManyRequests);
    }

    [Fact]
    public async Task Non_streamed_answer_is_the_response_object()
    {
        gateway.Kiro.Enqueue(KiroScenario.Stream(KiroFrame.Text("Hi "), KiroFrame.Text("there"), KiroFrame.Metadata(9, 2), KiroFrame.Metering()));
        using var http = gateway.Http();
        var (response, body) = await Wire.SendAsync(http, Post(Body(stream: false)));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var root = JsonDocument.Parse(body).RootElement;
        Assert.Equal(("response", "completed"), (root.GetProperty("object").GetString(), root.GetProperty("status").GetString()));
        Assert.Equal("Hi there", root.GetProperty("output")[0].GetProperty("content")[0].GetProperty("text").GetString());
        Assert.Equal(11, root.GetProperty("usage").GetProperty("total_tokens").GetInt32());
        Assert.True(response.Headers.Contains("x-gapura-provider"));
    }
}
