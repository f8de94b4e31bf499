using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace Gapura.Tests.Integration;

/// <summary>
/// Requests the gateway must refuse on its own: a 4xx in the caller's format naming the problem, and not
/// a single call to Kiro. Also the things that must never fail a request (unknown fields, betas, versions).
/// </summary>
public class BadInputTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private static string B(string json) => json.Replace("@M", Wire.Model, StringComparison.Ordinal);

    public static TheoryData<string, string, string[]> OpenAiBadBodies => new()
    {
        { "malformed JSON", """{"model":"x","messages":[""", ["JSON"] },
        { "JSON array", """[{"role":"user","content":"hi"}]""", ["object"] },
        { "JSON string", "\"hello\"", ["object"] },
        { "empty body", "", ["empty"] },
        { "messages not an array", """{"model":"@M","messages":"hi"}""", ["messages", "array"] },
        { "messages missing", """{"model":"@M"}""", ["messages", "required"] },
        { "model a number", """{"model":42,"messages":[{"role":"user","content":"hi"}]}""", ["model", "string"] },
        { "content a number", """{"model":"@M","messages":[{"role":"user","content":42}]}""", ["messages[0].content"] },
        { "empty messages", """{"model":"@M","messages":[]}""", ["messages", "at least one"] },
        { "max_tokens 0", """{"model":"@M","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}""", ["max_tokens"] },
        { "max_tokens negative", """{"model":"@M","max_tokens":-5,"messages":[{"role":"user","content":"hi"}]}""", ["max_tokens"] },
        { "max_tokens a string", """{"model":"@M","max_tokens":"10","messages":[{"role":"user","content":"hi"}]}""", ["max_tokens"] },
        { "max_completion_tokens 0", """{"model":"@M","max_completion_tokens":0,"messages":[{"role":"user","content":"hi"}]}""", ["max_completion_tokens"] },
        { "unknown role", """{"model":"@M","messages":[{"role":"wizard","content":"hi"}]}""", ["messages[0].role", "wizard"] },
        { "message not an object", """{"model":"@M","messages":["hi"]}""", ["messages[0]"] },
    };

    public static TheoryData<string, string, string[]> AnthropicBadBodies => new()
    {
        { "malformed JSON", """{"model":"x","max_tokens":10,"messages":[{""", ["JSON"] },
        { "JSON array", """[{"role":"user","content":"hi"}]""", ["object"] },
        { "empty body", "", ["empty"] },
        { "messages not an array", """{"model":"@M","max_tokens":10,"messages":{"role":"user"}}""", ["messages", "array"] },
        { "content a number", """{"model":"@M","max_tokens":10,"messages":[{"role":"user","content":7}]}""", ["messages[0].content"] },
        { "empty messages", """{"model":"@M","max_tokens":10,"messages":[]}""", ["messages", "at least one"] },
        { "max_tokens 0", """{"model":"@M","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}""", ["max_tokens"] },
        { "max_tokens negative", """{"model":"@M","max_tokens":-1,"messages":[{"role":"user","content":"hi"}]}""", ["max_tokens"] },
        { "max_tokens fractional", """{"model":"@M","max_tokens":1.5,"messages":[{"role":"user","content":"hi"}]}""", ["max_tokens"] },
        { "unknown role", """{"model":"@M","max_tokens":10,"messages":[{"role":"tool","content":"hi"}]}""", ["messages[0].role", "tool"] },
        { "system a number", """{"model":"@M","max_tokens":10,"system":3,"messages":[{"role":"user","content":"hi"}]}""", ["system"] },
        { "stream a string", """{"model":"@M","max_tokens":10,"stream":"yes","messages":[{"role":"user","content":"hi"}]}""", ["stream"] },
    };

    [Theory]
    [MemberData(nameof(OpenAiBadBodies))]
    public async Task OpenAi_bad_input_is_a_400_naming_the_problem_and_never_reaches_kiro(string label, string body, string[] mentions)
    {
        _ = label;
        body = B(body);
        using var http = gateway.Http();
        var calls = gateway.Kiro.ChatCalls;
        foreach (var stream in new[] { false, true })
        {
            // The same body with "stream":true must fail the same way: nothing may be committed before validation.
            var sent = stream && body.StartsWith('{') && body.EndsWith('}') ? body[..^1] + (body.Length > 2 ? "," : "") + "\"stream\":true}" : body;
            var (response, text) = await Wire.SendAsync(http, Wire.OpenAi(sent));
            var error = Wire.AssertOpenAiError(response, text, HttpStatusCode.BadRequest, mentions);
            Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        }
        Assert.Equal(calls, gateway.Kiro.ChatCalls);
    }

    [Theory]
    [MemberData(nameof(AnthropicBadBodies))]
    public async Task Anthropic_bad_input_is_a_400_naming_the_problem_and_never_reaches_kiro(string label, string body, string[] mentions)
    {
        _ = label;
        body = B(body);
        using var http = gateway.Http();
        var calls = gateway.Kiro.ChatCalls;
        var (response, text) = await Wire.SendAsync(http, Wire.Anthropic(body));
        var error = Wire.AssertAnthropicError(response, text, HttpStatusCode.BadRequest, mentions);
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());

        // count_tokens parses the same body and must refuse it the same way.
        var (countResponse, countText) = await Wire.SendAsync(http, Wire.Post("/v1/messages/count_tokens", body, anthropic: true));
        if (label.StartsWith("max_tokens", StringComparison.Ordinal) || label.StartsWith("stream", StringComparison.Ordinal))
            Assert.True(countResponse.StatusCode is HttpStatusCode.OK or HttpStatusCode.BadRequest, countText);
        else
            Wire.AssertAnthropicError(countResponse, countText, HttpStatusCode.BadRequest, mentions);
        Assert.Equal(calls, gateway.Kiro.ChatCalls);
    }

    [Fact]
    public async Task Openai_system_message_in_the_middle_is_folded_not_refused()
    {
        using var http = gateway.Http();
        var body = """{"model":"@M","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"system","content":"be brief"},{"role":"user","content":"again"}]}""";
        var (response, text) = await Wire.SendAsync(http, Wire.OpenAi(B(body)));
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
    }

    [Fact]
    public async Task Anthropic_system_message_in_the_middle_is_folded_not_refused()
    {
        // Claude Code sends role:"system" inside messages (clients.md): it must be folded, never rejected.
        using var http = gateway.Http();
        var body = """{"model":"@M","max_tokens":100,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"},{"role":"system","content":"be brief"},{"role":"user","content":"again"}]}""";
        var (response, text) = await Wire.SendAsync(http, Wire.Anthropic(B(body)));
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
    }

    [Fact]
    public async Task Unknown_fields_never_fail_an_openai_request()
    {
        using var http = gateway.Http();
        var calls = gateway.Kiro.ChatCalls;
        var body = Wire.OpenAiBody(extra: "\"frobnicate\":{\"deep\":[1,2,{\"x\":null}]},\"user\":\"u-1\",\"seed\":7,\"logprobs\":false,\"service_tier\":\"auto\",\"store\":false,\"metadata\":{\"a\":\"b\"},\"prediction\":null");
        var (response, text) = await Wire.SendAsync(http, Wire.OpenAi(body));
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal("chat.completion", JsonNode.Parse(text)!["object"]!.GetValue<string>());
        Assert.Equal(calls + 1, gateway.Kiro.ChatCalls);
    }

    [Theory]
    [InlineData("2023-06-01", "claude-code-20250219,context-1m-2025-08-07,interleaved-thinking-2025-05-14,made-up-beta-2099-12-31")]
    [InlineData("2026-10-21", "structured-outputs-2025-11-13")]
    [InlineData("1999-01-01", "not a beta at all, ,,")]
    [InlineData("banana", null)]
    [InlineData(null, "something-new-2030-01-01")]
    public async Task Unknown_fields_betas_and_any_version_never_fail_an_anthropic_request(string? version, string? beta)
    {
        using var http = gateway.Http();
        var calls = gateway.Kiro.ChatCalls;
        var body = Wire.AnthropicBody(extra: "\"context_management\":{\"edits\":[]},\"metadata\":{\"user_id\":\"{\\\"device_id\\\":\\\"d\\\"}\"},\"output_config\":{\"effort\":\"high\"},\"container\":null,\"brand_new_field\":{\"x\":[1]}");
        var request = Wire.Post("/v1/messages", body);
        if (version is not null) request.Headers.TryAddWithoutValidation("anthropic-version", version);
        if (beta is not null) request.Headers.TryAddWithoutValidation("anthropic-beta", beta);
        var (response, text) = await Wire.SendAsync(http, request);
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        Assert.Equal("message", JsonNode.Parse(text)!["type"]!.GetValue<string>());
        Assert.Equal(calls + 1, gateway.Kiro.ChatCalls);
    }

    [Fact]
    public async Task Unknown_model_is_a_400_naming_the_available_models_in_both_formats()
    {
        using var http = gateway.Http();
        var calls = gateway.Kiro.ChatCalls;
        var (o, oText) = await Wire.SendAsync(http, Wire.OpenAi(Wire.OpenAiBody().Replace(Wire.Model, "gpt-nonexistent-9")));
        // Named as a client types them (Kiro's dotted ids in Anthropic's dashed spelling, which resolves to them).
        Wire.AssertOpenAiError(o, oText, HttpStatusCode.BadRequest, "gpt-nonexistent-9", "claude-sonnet-4-5", "claude-haiku-4-5");
        var (a, aText) = await Wire.SendAsync(http, Wire.Anthropic(Wire.AnthropicBody(stream: true).Replace(Wire.Model, "claude-imaginary-9")));
        Wire.AssertAnthropicError(a, aText, HttpStatusCode.BadRequest, "claude-imaginary-9", "claude-sonnet-4-5", "claude-haiku-4-5");
        Assert.Equal(calls, gateway.Kiro.ChatCalls);
    }

    [Fact]
    public async Task Count_tokens_answers_a_positive_count_without_calling_kiro()
    {
        using var http = gateway.Http();
        var calls = gateway.Kiro.ChatCalls;
        var requests = gateway.Kiro.Requests.Count;
        var body = """{"model":"@M","system":"You are terse.","messages":[{"role":"user","content":"How many tokens is this sentence, roughly?"}],"tools":[{"name":"get_weather","description":"Weather for a city","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}]}""";
        var (response, text) = await Wire.SendAsync(http, Wire.Post("/v1/messages/count_tokens", B(body), anthropic: true));
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        var tokens = JsonNode.Parse(text)!["input_tokens"]!.GetValue<int>();
        Assert.True(tokens > 10, text);
        Assert.Equal(calls, gateway.Kiro.ChatCalls);
        Assert.DoesNotContain(gateway.Kiro.Requests.Skip(requests), r => r.Path == "/generateAssistantResponse");
    }

    [Fact]
    public async Task Wrong_content_type_with_a_json_body_is_still_read_or_refused_cleanly()
    {
        // Some clients send JSON as text/plain; whatever the gateway decides, it must not be a 5xx.
        using var http = gateway.Http();
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(Wire.OpenAiBody(), Encoding.UTF8, "text/plain") };
        var (response, text) = await Wire.SendAsync(http, request);
        Assert.True((int)response.StatusCode < 500, text);
    }
}

/// <summary>Bodies over <c>Gateway:MaxRequestBodyBytes</c>: refused before parsing, with or without a Content-Length.</summary>
public class BodyLimitTests(SmallBodyGateway fixture) : IClassFixture<SmallBodyGateway>
{
    private readonly GatewayFixture _gateway = fixture.Gateway;

    private static string Big(bool anthropic) => anthropic
        ? Wire.AnthropicBody(new string('x', SmallBodyGateway.Limit + 100))
        : Wire.OpenAiBody(new string('x', SmallBodyGateway.Limit + 100));

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public async Task Body_over_the_limit_is_refused_in_the_callers_format(bool anthropic, bool chunked)
    {
        using var http = _gateway.Http();
        var calls = _gateway.Kiro.ChatCalls;
        var request = anthropic ? Wire.Anthropic(Big(anthropic)) : Wire.OpenAi(Big(anthropic));
        if (chunked)
        {
            request.Content = new ChunkedContent(Big(anthropic));
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Headers.TransferEncodingChunked = true;
        }
        var (response, text) = await Wire.SendAsync(http, request);
        if (anthropic) Wire.AssertAnthropicError(response, text, HttpStatusCode.RequestEntityTooLarge, "4096", "MaxRequestBodyBytes");
        else Wire.AssertOpenAiError(response, text, HttpStatusCode.RequestEntityTooLarge, "4096", "MaxRequestBodyBytes");
        Assert.Equal(calls, _gateway.Kiro.ChatCalls);
    }

    [Fact]
    public async Task Count_tokens_body_over_the_limit_is_refused()
    {
        using var http = _gateway.Http();
        var (response, text) = await Wire.SendAsync(http, Wire.Post("/v1/messages/count_tokens", Big(true), anthropic: true));
        Wire.AssertAnthropicError(response, text, HttpStatusCode.RequestEntityTooLarge, "4096");
    }

    [Fact]
    public async Task Body_under_the_limit_passes()
    {
        using var http = _gateway.Http();
        var (response, text) = await Wire.SendAsync(http, Wire.OpenAi(Wire.OpenAiBody(new string('y', 3000))));
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
    }
}
