using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Gapura.Simulators.Anthropic;

namespace Gapura.Tests.Simulators;

/// <summary>The simulator itself behaves like the Messages API: auth, version, validation, error shapes, SSE order, paging.</summary>
public class AnthropicSimulatorTests : IAsyncLifetime
{
    private AnthropicSimulator _sim = null!;

    public async Task InitializeAsync() => _sim = await AnthropicSimulator.StartAsync();

    public async Task DisposeAsync() => await _sim.DisposeAsync();

    private async Task<(HttpStatusCode Status, string Body, HttpResponseMessage Response)> PostAsync(string path, string body, string? key = "default", string? bearer = null, string? version = "2023-06-01")
    {
        using var http = new HttpClient { BaseAddress = new Uri(_sim.BaseUrl), Timeout = TimeSpan.FromSeconds(20) };
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (key is not null) request.Headers.TryAddWithoutValidation("x-api-key", key == "default" ? _sim.ApiKey : key);
        if (bearer is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
            request.Headers.TryAddWithoutValidation("anthropic-beta", "oauth-2025-04-20");
        }
        if (version is not null) request.Headers.TryAddWithoutValidation("anthropic-version", version);
        var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync(), response);
    }

    private static string Body(string text = "hi", bool stream = false, string extra = "")
        => $$"""{"model":"claude-sonnet-4-5-20250929","max_tokens":200,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":"{{text}}"}]{{extra}}}""";

    private static void AssertError(string body, string type, string mention)
    {
        var json = JsonNode.Parse(body)!;
        Assert.Equal("error", (string?)json["type"]);
        Assert.Equal(type, (string?)json["error"]!["type"]);
        Assert.Contains(mention, (string?)json["error"]!["message"]);
    }

    [Fact]
    public async Task Non_streaming_answer_is_one_message()
    {
        var (status, body, _) = await PostAsync("/v1/messages", Body("ping me"));
        Assert.Equal(HttpStatusCode.OK, status);
        var json = JsonNode.Parse(body)!;
        Assert.Equal("message", (string?)json["type"]);
        Assert.Equal("Echo: ping me", (string?)json["content"]![0]!["text"]);
        Assert.Equal("end_turn", (string?)json["stop_reason"]);
        Assert.NotNull(json["usage"]!["cache_read_input_tokens"]);
    }

    [Fact]
    public async Task Streaming_follows_anthropics_event_order()
    {
        var (status, body, response) = await PostAsync("/v1/messages", Body("stream [[tool:search {\\\"q\\\":\\\"x\\\"}]]", stream: true, extra: ""","thinking":{"type":"enabled","budget_tokens":1024}""").Replace("\"max_tokens\":200", "\"max_tokens\":4000"));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.StartsWith("text/event-stream", response.Content.Headers.ContentType!.ToString());
        var names = body.Split("\n").Where(l => l.StartsWith("event: ")).Select(l => l[7..]).ToList();
        Assert.Equal(["message_start", "ping"], names.Take(2));
        Assert.Equal(["message_delta", "message_stop"], names.TakeLast(2));
        Assert.Contains("thinking_delta", body);
        Assert.Contains("signature_delta", body);
        Assert.Contains("input_json_delta", body);
        Assert.Contains("\"stop_reason\":\"tool_use\"", body);
        Assert.Equal(names.Count(n => n == "content_block_start"), names.Count(n => n == "content_block_stop"));
    }

    [Fact]
    public async Task Auth_by_key_or_oauth_bearer_and_the_version_header_are_required()
    {
        var (s1, b1, _) = await PostAsync("/v1/messages", Body(), key: null);
        Assert.Equal(HttpStatusCode.Unauthorized, s1);
        AssertError(b1, "authentication_error", "x-api-key");
        var (s2, b2, _) = await PostAsync("/v1/messages", Body(), key: "sk-wrong");
        Assert.Equal(HttpStatusCode.Unauthorized, s2);
        AssertError(b2, "authentication_error", "invalid x-api-key");
        var (s3, _, _) = await PostAsync("/v1/messages", Body(), key: null, bearer: "sk-ant-oat01-simulator-token");
        Assert.Equal(HttpStatusCode.OK, s3);
        var (s4, b4, _) = await PostAsync("/v1/messages", Body(), version: null);
        Assert.Equal(HttpStatusCode.BadRequest, s4);
        AssertError(b4, "invalid_request_error", "anthropic-version");
    }

    [Fact]
    public async Task Validation_errors_have_anthropics_shape()
    {
        var (s1, b1, _) = await PostAsync("/v1/messages", """{"model":"claude-nope","max_tokens":5,"messages":[{"role":"user","content":"x"}]}""");
        Assert.Equal(HttpStatusCode.NotFound, s1);
        AssertError(b1, "not_found_error", "claude-nope");
        var (s2, b2, _) = await PostAsync("/v1/messages", """{"model":"claude-sonnet-4-5-20250929","messages":[{"role":"user","content":"x"}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, s2);
        AssertError(b2, "invalid_request_error", "max_tokens");
        var (s3, b3, _) = await PostAsync("/v1/messages", Body(extra: ""","thinking":{"type":"enabled","budget_tokens":5000}"""));
        Assert.Equal(HttpStatusCode.BadRequest, s3);
        AssertError(b3, "invalid_request_error", "budget_tokens");
        var (s4, b4, _) = await PostAsync("/v1/messages", """{"model":"claude-sonnet-4-5-20250929","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_x","content":"r"}]}]}""");
        Assert.Equal(HttpStatusCode.BadRequest, s4);
        AssertError(b4, "invalid_request_error", "tool_use_id");
    }

    [Theory]
    [InlineData(413, "request_too_large")]
    [InlineData(429, "rate_limit_error")]
    [InlineData(500, "api_error")]
    [InlineData(529, "overloaded_error")]
    [InlineData(403, "permission_error")]
    public async Task Scripted_http_errors(int status, string type)
    {
        _sim.Enqueue(AnthropicScenario.Error(status, type, "scripted", retryAfterSeconds: status == 429 ? 7 : null));
        var (code, body, response) = await PostAsync("/v1/messages", Body());
        Assert.Equal(status, (int)code);
        AssertError(body, type, "scripted");
        if (status == 429) Assert.Equal(TimeSpan.FromSeconds(7), response.Headers.RetryAfter!.Delta);
        Assert.True(response.Headers.Contains("request-id"));
    }

    [Fact]
    public async Task Requests_are_recorded_with_headers_and_raw_bytes()
    {
        var body = Body("  spaced  ");
        await PostAsync("/v1/messages", body);
        var recorded = Assert.Single(_sim.MessageRequests);
        Assert.Equal(body, recorded.Body);
        Assert.Equal("2023-06-01", recorded.Header("anthropic-version"));
    }

    [Fact]
    public async Task Count_tokens_and_cache_usage()
    {
        var (status, body, _) = await PostAsync("/v1/messages/count_tokens", """{"model":"claude-sonnet-4-5-20250929","messages":[{"role":"user","content":"count these words"}]}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True((int)JsonNode.Parse(body)!["input_tokens"]! > 0);

        var cached = Body(extra: ""","system":[{"type":"text","text":"long system prompt","cache_control":{"type":"ephemeral"}}]""");
        var first = JsonNode.Parse((await PostAsync("/v1/messages", cached)).Body)!["usage"]!;
        var second = JsonNode.Parse((await PostAsync("/v1/messages", cached)).Body)!["usage"]!;
        Assert.True((int)first["cache_creation_input_tokens"]! > 0);
        Assert.Equal(0, (int)first["cache_read_input_tokens"]!);
        Assert.Equal((int)first["cache_creation_input_tokens"]!, (int)second["cache_read_input_tokens"]!);
    }

    [Fact]
    public async Task Models_are_paged_with_first_and_last_ids()
    {
        using var http = new HttpClient { BaseAddress = new Uri(_sim.BaseUrl) };
        http.DefaultRequestHeaders.TryAddWithoutValidation("x-api-key", _sim.ApiKey);
        http.DefaultRequestHeaders.TryAddWithoutValidation("anthropic-version", "2023-06-01");
        var page1 = JsonNode.Parse(await http.GetStringAsync("/v1/models?limit=4"))!;
        Assert.Equal(4, page1["data"]!.AsArray().Count);
        Assert.True((bool)page1["has_more"]!);
        Assert.Equal((string?)page1["data"]![0]!["id"], (string?)page1["first_id"]);
        var page2 = JsonNode.Parse(await http.GetStringAsync($"/v1/models?limit=4&after_id={page1["last_id"]}"))!;
        Assert.Equal(_sim.Options.Models.Count - 4, page2["data"]!.AsArray().Count);
        Assert.False((bool)page2["has_more"]!);
        Assert.Equal("model", (string?)page2["data"]![0]!["type"]);
    }
}
