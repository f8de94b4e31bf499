using System.Net;
using System.Text.Json.Nodes;
using Gapura.Simulators.Anthropic;

namespace Gapura.Tests.Integration;

/// <summary>
/// Two real providers in one gateway — Kiro (simulator) and Anthropic (<c>Providers:Anthropic:*</c> pointing at
/// the Anthropic simulator): <c>provider/model</c> names pick one, passthrough keeps the Anthropic dialect
/// byte for byte, and an unprefixed name falls back from Kiro to Anthropic before the first byte.
/// Provider behaviour itself is covered in Providers/Anthropic.
/// </summary>
public sealed class AnthropicGatewayTests : IAsyncLifetime
{
    private AnthropicSimulator _anthropic = null!;
    private GatewayFixture _gateway = null!;

    public async Task InitializeAsync()
    {
        _anthropic = await AnthropicSimulator.StartAsync();
        _gateway = new GatewayFixture();
        _gateway.Settings.Add($"--Providers:Anthropic:ApiKey={_anthropic.ApiKey}");
        _gateway.Settings.Add($"--Providers:Anthropic:BaseUrl={_anthropic.BaseUrl}");
        _gateway.Settings.Add("--Providers:Anthropic:RetryBaseDelayMilliseconds=10");
        await _gateway.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _anthropic.DisposeAsync();
    }

    [Fact]
    public async Task Openai_chat_through_the_anthropic_provider()
    {
        using var http = _gateway.Http();
        var body = """{"model":"anthropic/claude-sonnet-4-5","messages":[{"role":"user","content":"hi there"}],"max_tokens":100}""";
        var (response, text) = await Wire.SendAsync(http, Wire.OpenAi(body));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Echo: hi there", (string?)JsonNode.Parse(text)!["choices"]![0]!["message"]!["content"]);
        Assert.Equal("claude-sonnet-4-5-20250929", response.Headers.GetValues("x-gapura-model").Single());
        var sent = Assert.Single(_anthropic.MessageRequests);
        Assert.Equal(_anthropic.ApiKey, sent.Header("x-api-key"));
        Assert.Equal(0, _gateway.Kiro.ChatCalls);
    }

    [Fact]
    public async Task Anthropic_streaming_through_the_anthropic_provider()
    {
        using var http = _gateway.Http();
        var body = """{"model":"anthropic/claude-haiku-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"stream me"}]}""";
        var (response, text) = await Wire.SendAsync(http, Wire.Anthropic(body));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var items = Wire.ParseSse(text);
        Assert.Equal("Echo: stream me", Wire.AnthropicText(items));
        Assert.Equal("end_turn", Wire.AnthropicStopReason(items));
    }

    [Fact]
    public async Task An_upstream_error_reaches_the_client_with_its_status_and_message()
    {
        _anthropic.Enqueue(AnthropicScenario.Error(400, "invalid_request_error", "messages.0.content: upstream says no"));
        using var http = _gateway.Http();
        var body = """{"model":"anthropic/claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"x"}]}""";
        var (response, text) = await Wire.SendAsync(http, Wire.Anthropic(body));
        Wire.AssertAnthropicError(response, text, HttpStatusCode.BadRequest, "upstream says no");
    }

    [Fact]
    public async Task An_unprefixed_name_falls_back_from_a_throttled_kiro_to_anthropic_and_says_so()
    {
        // Kiro is first by default; throttled on every attempt, it hands over before any byte reached the client.
        for (var i = 0; i < 3; i++) _gateway.Kiro.Enqueue(Gapura.Simulators.Kiro.KiroScenario.Throttled(TimeSpan.FromMilliseconds(10)));
        using var http = _gateway.Http();
        var body = """{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"fall back"}]}""";
        var (response, text) = await Wire.SendAsync(http, Wire.OpenAi(body));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(3, _gateway.Kiro.ChatCalls);
        Assert.Single(_anthropic.MessageRequests);
        Assert.StartsWith("anthropic", response.Headers.GetValues("x-gapura-provider").Single());
        Assert.Equal("Echo: fall back", Wire.OpenAiText(Wire.ParseSse(text)));

        // The throttled provider now cools down: the next request goes to Anthropic first, Kiro is not asked.
        var (second, _) = await Wire.SendAsync(http, Wire.OpenAi(body));
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal(3, _gateway.Kiro.ChatCalls);
        Assert.Equal(2, _anthropic.MessageRequests.Count);
    }

    [Fact]
    public async Task Anthropic_front_door_to_anthropic_passes_the_body_through_unchanged_but_for_the_model()
    {
        using var http = _gateway.Http();
        var body = """{"model":"anthropic/claude-sonnet-4-5","max_tokens":100,"x_unknown_field":{"kept":true},"system":[{"type":"text","text":"sys","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"pass me"}]}""";
        var (response, _) = await Wire.SendAsync(http, Wire.Anthropic(body));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var sent = _anthropic.MessageRequests[^1].Body;
        Assert.Contains("\"x_unknown_field\":{\"kept\":true}", sent);
        Assert.Contains("\"cache_control\":{\"type\":\"ephemeral\"}", sent);
        Assert.Equal(body.Replace("anthropic/claude-sonnet-4-5", JsonNode.Parse(sent)!["model"]!.GetValue<string>()), sent);
    }
}
