using System.Text;
using Gapura.Conversations;
using Gapura.Formats;
using Gapura.Providers;
using Gapura.Providers.Anthropic;
using Gapura.Simulators.Anthropic;
using static Gapura.Tests.Providers.Anthropic.AnthropicTestKit;

namespace Gapura.Tests.Providers.Anthropic;

/// <summary>Anthropic front door → Anthropic upstream: the body goes up with only the model changed, the answer comes back as sent.</summary>
public class AnthropicPassthroughTests : IAsyncLifetime
{
    // Odd spacing, key order, unknown fields, cache_control, a server tool and metadata: all must survive byte for byte.
    private const string ClientBody = """
        {  "model" : "claude-sonnet-4-5",
          "max_tokens": 1024, "stream": STREAM,
          "system": [{"type":"text","text":"You are terse.","cache_control":{"type":"ephemeral","ttl":"1h"}}],
          "metadata": {"user_id": "u-1"},
          "future_field": {"nested": [1, 2.50, "\u00e9"]},
          "tools": [{"type":"web_search_20250305","name":"web_search","max_uses":2},
                    {"name":"get_weather","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}],
          "messages": [{"role":"user","content":[{"type":"text","text":"Hello \ud83d\ude00 there","cache_control":{"type":"ephemeral"}}]}]
        }
        """;

    private AnthropicSimulator _sim = null!;

    public async Task InitializeAsync() => _sim = await AnthropicSimulator.StartAsync();

    public async Task DisposeAsync() => await _sim.DisposeAsync();

    private static PassthroughRequest Request(string body, bool stream, Dictionary<string, string>? headers = null, string upstreamId = Model) => new(
        FrontDoors.AnthropicMessages,
        Encoding.UTF8.GetBytes(body),
        headers ?? new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["anthropic-version"] = "2023-06-01",
            ["anthropic-beta"] = "prompt-caching-2024-07-31,context-1m-2025-08-07",
            ["x-api-key"] = "the-callers-gateway-key",
        },
        Resolved(upstreamId),
        new ChatContext(),
        stream);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task The_body_arrives_byte_for_byte_except_the_model_value(bool stream)
    {
        var body = ClientBody.Replace("STREAM", stream ? "true" : "false");
        await using var response = await Provider(_sim).SendAsync(Request(body, stream), CancellationToken.None);

        var received = Encoding.UTF8.GetString(Assert.Single(_sim.MessageRequests).BodyBytes);
        Assert.Equal(body.Replace("\"model\" : \"claude-sonnet-4-5\"", $"\"model\" : \"{Model}\""), received);
        Assert.Equal(200, response.Status);
        Assert.StartsWith(stream ? "text/event-stream" : "application/json", response.ContentType);
    }

    [Fact]
    public async Task Version_and_betas_come_from_the_client_and_auth_is_replaced_by_the_configured_key()
    {
        await using var _ = await Provider(_sim).SendAsync(Request(ClientBody.Replace("STREAM", "false"), false), CancellationToken.None);
        var sent = Assert.Single(_sim.MessageRequests);
        Assert.Equal(_sim.ApiKey, sent.Header("x-api-key"));
        Assert.Equal("2023-06-01", sent.Header("anthropic-version"));
        Assert.Equal("prompt-caching-2024-07-31,context-1m-2025-08-07", sent.Header("anthropic-beta"));
        Assert.DoesNotContain(sent.Headers.Values, v => v.Contains("the-callers-gateway-key"));
    }

    [Fact]
    public async Task The_answer_is_relayed_byte_for_byte()
    {
        // A scripted stream with a ping between events and an unknown event: the client must see them exactly.
        var message = new AnthropicSimMessage { Content = [new AnthropicSimThinking("hm", "sig-1"), new AnthropicSimText("héllo")], CacheReadInputTokens = 7 };
        var events = message.ToEvents();
        events.Insert(3, new AnthropicSseEvent("brand_new_event", """{"type":"brand_new_event","x":1}"""));
        _sim.Enqueue(AnthropicScenario.Stream([.. events]));
        var expected = events.SelectMany(e => e.Encode()).ToArray();

        await using var response = await Provider(_sim).SendAsync(Request(ClientBody.Replace("STREAM", "true"), true), CancellationToken.None);
        using var copy = new MemoryStream();
        await response.Body.CopyToAsync(copy);
        Assert.Equal(expected, copy.ToArray());
        Assert.StartsWith("req_sim_", response.Headers[AnthropicProvider.UpstreamRequestIdHeader]);
    }

    [Fact]
    public async Task Without_a_client_version_the_configured_one_is_sent()
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        await using var _ = await Provider(_sim).SendAsync(Request(ClientBody.Replace("STREAM", "false"), false, headers), CancellationToken.None);
        var sent = Assert.Single(_sim.MessageRequests);
        Assert.Equal("2023-06-01", sent.Header("anthropic-version"));
        Assert.Null(sent.Header("anthropic-beta"));
    }

    [Fact]
    public async Task Errors_before_the_first_byte_are_gateway_exceptions_with_the_upstreams_status_and_message()
    {
        _sim.Enqueue(AnthropicScenario.Error(400, "invalid_request_error", "tools.0: unknown tool type"));
        var error = await Assert.ThrowsAsync<GatewayException>(() => Provider(_sim).SendAsync(Request(ClientBody.Replace("STREAM", "true"), true), CancellationToken.None));
        Assert.Equal(400, error.Status);
        Assert.Contains("tools.0: unknown tool type", error.Message);
        Assert.Equal(1, _sim.MessageCalls);
    }

    [Fact]
    public async Task Overload_is_retried_and_the_identical_body_is_sent_again()
    {
        _sim.Enqueue(AnthropicScenario.Overloaded());
        await using var response = await Provider(_sim).SendAsync(Request(ClientBody.Replace("STREAM", "false"), false), CancellationToken.None);
        Assert.Equal(200, response.Status);
        var sent = _sim.MessageRequests;
        Assert.Equal(2, sent.Count);
        Assert.Equal(sent[0].BodyBytes, sent[1].BodyBytes);
    }

    [Fact]
    public void Passes_through_only_the_anthropic_front_door()
    {
        var provider = Provider(_sim);
        Assert.True(provider.CanPassThrough(FrontDoors.AnthropicMessages));
        Assert.False(provider.CanPassThrough(FrontDoors.OpenAiChat));
        Assert.False(provider.CanPassThrough(FrontDoors.OpenAiResponses));
    }

    [Theory]
    [InlineData("""{"model":"a","x":1}""", "claude-x", """{"model":"claude-x","x":1}""")]
    [InlineData("""{ "x": {"model":"keep"}, "model" :"a" , "y":[{"model":"keep"}]}""", "b", """{ "x": {"model":"keep"}, "model" :"b" , "y":[{"model":"keep"}]}""")]
    [InlineData("""{"m\u006fdel":"a"}""", "z", """{"m\u006fdel":"z"}""")]
    [InlineData("""{"model":"claude\"odd"}""", "new\"id", """{"model":"new\u0022id"}""")]
    [InlineData("""{"model":"same","a":"\u00e9"}""", "same", """{"model":"same","a":"\u00e9"}""")]
    public void The_model_rewrite_touches_only_the_top_level_model_value(string body, string model, string expected)
        => Assert.Equal(expected, Encoding.UTF8.GetString(ModelNameRewriter.Rewrite(Encoding.UTF8.GetBytes(body), model).Span));

    [Fact]
    public void An_unchanged_model_forwards_the_clients_bytes_without_a_copy()
    {
        var body = new ReadOnlyMemory<byte>(Encoding.UTF8.GetBytes("""{"model":"same"}"""));
        Assert.True(ModelNameRewriter.Rewrite(body, "same").Equals(body));
    }

    [Theory]
    [InlineData("[1,2]")]
    [InlineData("""{"messages":[]}""")]
    [InlineData("""{"model":5}""")]
    [InlineData("""{"model":"a",""")]
    public void Bodies_without_a_string_model_are_a_400(string body)
    {
        var error = Assert.Throws<GatewayException>(() => ModelNameRewriter.Rewrite(Encoding.UTF8.GetBytes(body), "x"));
        Assert.Equal(400, error.Status);
    }
}
