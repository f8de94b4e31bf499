using System.Net;

namespace Gapura.Tests.Integration;

/// <summary>
/// Values are checked before anything goes upstream (issue 15, item 3): image data that is not base64 or of a media type
/// no upstream takes, and numbers that are not finite or out of the API's range, are a 400 naming the field, on every door.
/// </summary>
public sealed class BadValueTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private const string Png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

    private static string AnthropicImage(string mediaType, string data) =>
        $$$"""{"model":"claude-sonnet-4-5","max_tokens":50,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"{{{mediaType}}}","data":"{{{data}}}"}},{"type":"text","text":"what is this?"}]}]}""";

    private static string OpenAiImage(string url) =>
        $$$"""{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"{{{url}}}"}},{"type":"text","text":"what is this?"}]}]}""";

    private static string ResponsesImage(string url) =>
        $$"""{"model":"claude-sonnet-4-5","input":[{"role":"user","content":[{"type":"input_image","image_url":"{{url}}"},{"type":"input_text","text":"what is this?"}]}]}""";

    public static TheoryData<string, string, string> AnthropicCases => new()
    {
        { "not base64", AnthropicImage("image/png", "!!!notb64"), "messages[0].content[0].source.data" },
        { "bmp", AnthropicImage("image/bmp", Png), "messages[0].content[0].source.media_type" },
        { "max_tokens 1e400", """{"model":"claude-sonnet-4-5","max_tokens":1e400,"messages":[{"role":"user","content":"hi"}]}""", "max_tokens" },
        { "temperature 1e400", """{"model":"claude-sonnet-4-5","max_tokens":5,"temperature":1e400,"messages":[{"role":"user","content":"hi"}]}""", "temperature" },
        { "temperature 1.5", """{"model":"claude-sonnet-4-5","max_tokens":5,"temperature":1.5,"messages":[{"role":"user","content":"hi"}]}""", "temperature" },
        { "top_p -1", """{"model":"claude-sonnet-4-5","max_tokens":5,"top_p":-1,"messages":[{"role":"user","content":"hi"}]}""", "top_p" },
    };

    [Theory]
    [MemberData(nameof(AnthropicCases))]
    public async Task Anthropic_door_refuses_bad_values_naming_the_field(string label, string body, string field)
    {
        using var http = gateway.Http();
        var calls = gateway.Kiro.ChatCalls;
        var (response, text) = await Wire.SendAsync(http, Wire.Anthropic(body));
        Wire.AssertAnthropicError(response, text, HttpStatusCode.BadRequest, field);
        Assert.True(calls == gateway.Kiro.ChatCalls, label);
    }

    public static TheoryData<string, string, string, string> OpenAiCases => new()
    {
        { "chat", "not base64", OpenAiImage("data:image/png;base64,@@@"), "messages[0].content[0].image_url.url" },
        { "chat", "svg", OpenAiImage("data:image/svg+xml;base64," + Png), "messages[0].content[0].image_url.url" },
        { "chat", "max_tokens 1e400", """{"model":"claude-sonnet-4-5","max_tokens":1e400,"messages":[{"role":"user","content":"hi"}]}""", "max_tokens" },
        { "chat", "temperature 3", """{"model":"claude-sonnet-4-5","temperature":3,"messages":[{"role":"user","content":"hi"}]}""", "temperature" },
        { "responses", "not base64", ResponsesImage("data:image/png;base64,!!!notb64"), "image_url" },
        { "responses", "max_output_tokens 1e400", """{"model":"claude-sonnet-4-5","max_output_tokens":1e400,"input":"hi"}""", "max_output_tokens" },
        { "responses", "top_p 2", """{"model":"claude-sonnet-4-5","top_p":2,"input":"hi"}""", "top_p" },
    };

    [Theory]
    [MemberData(nameof(OpenAiCases))]
    public async Task OpenAi_doors_refuse_bad_values_naming_the_field(string door, string label, string body, string field)
    {
        using var http = gateway.Http();
        var calls = gateway.Kiro.ChatCalls;
        var (response, text) = await Wire.SendAsync(http, Wire.Post(door == "chat" ? "/v1/chat/completions" : "/v1/responses", body));
        Wire.AssertOpenAiError(response, text, HttpStatusCode.BadRequest, field);
        Assert.True(calls == gateway.Kiro.ChatCalls, label);
    }

    [Fact]
    public async Task Good_images_pass_and_image_jpg_is_read_as_jpeg()
    {
        using var http = gateway.Http();
        var (response, text) = await Wire.SendAsync(http, Wire.Anthropic(AnthropicImage("image/jpg", Png)));
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var (chat, chatText) = await Wire.SendAsync(http, Wire.OpenAi(OpenAiImage("data:image/png;base64," + Png)));
        Assert.True(chat.StatusCode == HttpStatusCode.OK, chatText);
        Assert.Contains(gateway.Kiro.ChatRequests, r => r.Body.Contains("\"format\":\"jpeg\"", StringComparison.Ordinal));
    }
}
