using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Gapura.Tests.Integration;

/// <summary>
/// Text that is not text: invalid UTF-8 bytes, or an escaped lone surrogate, inside a JSON string. JSON parsers
/// accept both until the string is read; the gateway must answer a 400 in the caller's format, never a 500 (the
/// only cause of server errors a 24,000-request fuzz run found).
/// </summary>
public class TextEncodingTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    public static TheoryData<string, string, bool> Cases => new()
    {
        { "/v1/chat/completions", "surrogate", false },
        { "/v1/chat/completions", "bytes", false },
        { "/v1/responses", "surrogate", false },
        { "/v1/responses", "bytes", false },
        { "/v1/messages", "surrogate", true },
        { "/v1/messages", "bytes", true },
        { "/v1/messages/count_tokens", "surrogate", true },
        { "/v1/messages/count_tokens", "bytes", true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_string_that_is_not_valid_text_is_a_400_in_the_callers_format(string path, string flaw, bool anthropic)
    {
        var text = flaw == "surrogate" ? Encoding.UTF8.GetBytes("\\ud800x") : [(byte)'a', 0xFF, (byte)'b'];
        var head = path == "/v1/responses"
            ? "{\"model\":\"claude-sonnet-4.5\",\"input\":\""u8.ToArray()
            : "{\"model\":\"claude-sonnet-4.5\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\""u8.ToArray();
        var tail = path == "/v1/responses" ? "\"}"u8.ToArray() : "\"}]}"u8.ToArray();
        var content = new ByteArrayContent([.. head, .. text, .. tail]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var http = gateway.Http();
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        if (anthropic) request.Headers.Add("anthropic-version", "2023-06-01");

        using var response = await http.SendAsync(request);

        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {body}");
        using var doc = JsonDocument.Parse(body);
        if (anthropic) Assert.Equal("invalid_request_error", doc.RootElement.GetProperty("error").GetProperty("type").GetString());
        else Assert.Equal("invalid_request_error", doc.RootElement.GetProperty("error").GetProperty("type").GetString());
        // The message names the field, so the client's developer can find the bad text.
        var message = doc.RootElement.GetProperty("error").GetProperty("message").GetString()!;
        Assert.StartsWith(path == "/v1/responses" ? "input: " : "messages[0].content: ", message);
        Assert.Contains("UTF-8", message);
    }
}
