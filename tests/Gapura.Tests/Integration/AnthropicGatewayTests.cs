using System.Net;
using System.Text.Json.Nodes;
using Gapura.Simulators.Anthropic;

namespace Gapura.Tests.Integration;

/// <summary>
/// PROVISIONAL end-to-end check of the Anthropic provider inside a real gateway (Kiro simulator plus
/// <c>Providers:Anthropic:*</c> pointing at the Anthropic simulator). Today the chat pipeline calls ONE
/// <c>IChatProvider</c> — the last registered, which with a key configured is Anthropic — so these tests use
/// <c>anthropic/</c>-prefixed names that only the Anthropic catalog resolves. When multi-provider dispatch by
/// <c>ModelInfo.Provider</c> lands, they should pass unchanged; if the dispatch names things differently, the
/// fix is in <see cref="StartAsync"/>. Provider behaviour itself is covered in Providers/Anthropic.
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
}
