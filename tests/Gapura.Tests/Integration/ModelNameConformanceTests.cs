using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Gapura.Tests.Integration;

/// <summary>
/// What the SDKs do with model names: percent-encoded ids in <c>GET /v1/models/{id}</c>, and count_tokens refusing
/// a model that <c>/v1/messages</c> refuses (issue 14, items 4 and 5).
/// </summary>
public sealed class ModelNameConformanceTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    [Theory]
    [InlineData("kiro%2Fclaude-sonnet-4.5", "kiro/claude-sonnet-4.5")]
    [InlineData("kiro%2fclaude-haiku-4.5", "kiro/claude-haiku-4.5")]
    [InlineData("kiro/claude-sonnet-4.5", "kiro/claude-sonnet-4.5")]
    [InlineData("claude-opus-4.6", "claude-opus-4.6")]
    public async Task A_percent_encoded_model_id_is_found_in_both_dialects(string path, string id)
    {
        using var http = gateway.Http();
        using var openAi = await http.GetAsync("/v1/models/" + path);
        var text = await openAi.Content.ReadAsStringAsync();
        Assert.True(openAi.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal(id, JsonNode.Parse(text)!["id"]!.GetValue<string>());

        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models/" + path);
        request.Headers.Add("anthropic-version", "2023-06-01");
        using var anthropic = await http.SendAsync(request);
        var anthropicText = await anthropic.Content.ReadAsStringAsync();
        Assert.True(anthropic.StatusCode == HttpStatusCode.OK, anthropicText);
        Assert.Equal(id, JsonNode.Parse(anthropicText)!["id"]!.GetValue<string>());
    }

    [Fact]
    public async Task An_unknown_model_is_still_a_404()
    {
        using var http = gateway.Http();
        using var response = await http.GetAsync("/v1/models/kiro%2Fgpt-9-ultra");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    private async Task<(HttpStatusCode Status, string Body)> CountAsync(string model)
    {
        using var http = gateway.Http();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages/count_tokens")
        {
            Content = new StringContent($$"""{"model":"{{model}}","messages":[{"role":"user","content":"How many tokens is this?"}]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("anthropic-version", "2023-06-01");
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("claude-sonnet-4-5")]
    [InlineData("kiro/claude-haiku-4.5")]
    [InlineData("claude-opus-5-5")]   // a newer name: served by the newest Opus, so counted too
    [InlineData("auto")]
    [InlineData("primary")]
    public async Task Count_tokens_counts_for_every_model_messages_would_serve(string model)
    {
        var (status, body) = await CountAsync(model);
        Assert.True(status == HttpStatusCode.OK, body);
        Assert.True(JsonNode.Parse(body)!["input_tokens"]!.GetValue<int>() > 0, body);
    }

    [Fact]
    public async Task Count_tokens_refuses_a_model_messages_refuses_in_the_same_words()
    {
        var calls = gateway.Kiro.ChatCalls;
        var (status, body) = await CountAsync("gpt-9-ultra");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = JsonNode.Parse(body)!;
        Assert.Equal("error", error["type"]!.GetValue<string>());
        Assert.Equal("invalid_request_error", error["error"]!["type"]!.GetValue<string>());
        Assert.Contains("gpt-9-ultra", error["error"]!["message"]!.GetValue<string>());
        Assert.Equal(calls, gateway.Kiro.ChatCalls);
    }
}
