using System.Net;
using System.Text;
using Gapura.Simulators.Anthropic;
using Gapura.Simulators.OpenAi;

namespace Gapura.Tests.Integration;

/// <summary>
/// Passthrough end to end: a client at the door that speaks the upstream's own dialect gets the upstream's
/// answer exactly as it was sent — odd spacing, key order, unknown fields and unknown events included, cut
/// into random writes by the simulator — through a real gateway on 127.0.0.1. Any re-serialisation on the
/// way (parsing the events and writing them again) would normalise the spacing and drop the unknown parts.
/// </summary>
public sealed class PassthroughRelayTests : IAsyncLifetime
{
    private AnthropicSimulator _anthropic = null!;
    private OpenAiSimulator _openAi = null!;
    private GatewayFixture _gateway = null!;

    public async Task InitializeAsync()
    {
        _anthropic = await AnthropicSimulator.StartAsync(new AnthropicSimulatorOptions { Split = AnthropicSplit.Random, MaxChunkBytes = 7 });
        _openAi = await OpenAiSimulator.StartAsync(new OpenAiSimulatorOptions { Split = OpenAiSplit.Random, MaxChunkBytes = 7 });
        _gateway = new GatewayFixture();
        _gateway.Settings.AddRange(
        [
            $"--Providers:Anthropic:ApiKey={_anthropic.ApiKey}",
            $"--Providers:Anthropic:BaseUrl={_anthropic.BaseUrl}",
            $"--Providers:OpenAI:ApiKey={OpenAiSimulatorOptions.DefaultApiKey}",
            $"--Providers:OpenAI:BaseUrl={_openAi.ApiBaseUrl}",
        ]);
        await _gateway.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _openAi.DisposeAsync();
        await _anthropic.DisposeAsync();
    }

    [Fact]
    public async Task Anthropic_stream_arrives_byte_for_byte()
    {
        AnthropicSseEvent[] events =
        [
            new("message_start", """{ "type" : "message_start","message":{"model":"claude-sonnet-4-5-20250929","id":"msg_1","type":"message","role":"assistant","content":[],"stop_reason":null,"usage":{"output_tokens":1,  "input_tokens":12}},"x_future":[1, 2.50, "\u00e9"]}"""),
            new("ping", """{"type": "ping"}"""),
            new("brand_new_event", """{"type":"brand_new_event",  "payload":{"z":1,"a":[true,null]}}"""),
            new("content_block_start", """{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"""),
            new("content_block_delta", """{"index":0,"type":"content_block_delta","delta":{"type":"text_delta","text":"caf\u00e9 ☃ 🚀"}}"""),
            new("content_block_stop", """{"type":"content_block_stop","index":0 }"""),
            new("message_delta", """{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}"""),
            new("message_stop", """{"type":"message_stop"}"""),
        ];
        _anthropic.Enqueue(AnthropicScenario.Stream(events));
        var expected = events.SelectMany(e => e.Encode()).ToArray();

        var body = """{"model":"anthropic/claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"relay me"}]}""";
        var (status, relayed) = await PostAsync(Wire.Anthropic(body));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(Encoding.UTF8.GetString(expected), Encoding.UTF8.GetString(relayed));
        Assert.Equal(expected, relayed);
        Assert.Equal(0, _gateway.Kiro.ChatCalls);
    }

    [Fact]
    public async Task Openai_chat_stream_arrives_byte_for_byte()
    {
        string[] payloads =
        [
            """{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}""",
            """{ "choices":[{"delta":{"content":"caf\u00e9 ☃"},"index":0,"finish_reason":null}],  "model":"gpt-4o","id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"x_unknown":{"b":1,"a":2.50},"usage":null}""",
            """{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":" 🚀"},"finish_reason":"stop"}],"usage":null}""",
            """{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{ "prompt_tokens":12,"completion_tokens":3, "total_tokens":15}}""",
        ];
        _openAi.Enqueue(OpenAiScenario.Raw(payloads));
        var expected = Encoding.UTF8.GetBytes(string.Concat(payloads.Select(p => $"data: {p}\n\n")) + "data: [DONE]\n\n");

        var body = """{"model":"openai/gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"relay me"}]}""";
        var (status, relayed) = await PostAsync(Wire.OpenAi(body));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(Encoding.UTF8.GetString(expected), Encoding.UTF8.GetString(relayed));
        Assert.Equal(expected, relayed);
        Assert.Equal(1, _openAi.ChatCalls);
    }

    private async Task<(HttpStatusCode Status, byte[] Body)> PostAsync(HttpRequestMessage request)
    {
        using var http = _gateway.Http();
        using (request)
        {
            using var response = await http.SendAsync(request);
            return (response.StatusCode, await response.Content.ReadAsByteArrayAsync());
        }
    }
}
