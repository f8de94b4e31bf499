using System.Net;
using System.Net.Http.Headers;

namespace Gapura.Tests.Integration;

/// <summary>Client authentication over real HTTP: every /v1 endpoint, both key headers, each format's 401.</summary>
public class AuthTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    public static TheoryData<string, string, bool> Endpoints => new()
    {
        { "POST", "/v1/chat/completions", false },
        { "POST", "/v1/messages", true },
        { "POST", "/v1/messages/count_tokens", true },
        { "GET", "/v1/models", false },
    };

    private static HttpRequestMessage Request(string method, string path, bool anthropic)
    {
        var body = anthropic ? Wire.AnthropicBody() : Wire.OpenAiBody();
        if (method == "GET")
        {
            var get = new HttpRequestMessage(HttpMethod.Get, path);
            if (anthropic) get.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
            return get;
        }
        return Wire.Post(path, body, anthropic);
    }

    private static void AssertUnauthorized(bool anthropic, HttpResponseMessage response, string body, string mention)
    {
        if (anthropic)
        {
            var error = Wire.AssertAnthropicError(response, body, HttpStatusCode.Unauthorized, mention);
            Assert.Equal("authentication_error", error["type"]!.GetValue<string>());
        }
        else Wire.AssertOpenAiError(response, body, HttpStatusCode.Unauthorized, mention);
    }

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task Missing_key_is_401_in_the_endpoints_format(string method, string path, bool anthropic)
    {
        using var http = gateway.Http(apiKey: null);
        var calls = gateway.Kiro.ChatCalls;
        var (response, body) = await Wire.SendAsync(http, Request(method, path, anthropic));
        AssertUnauthorized(anthropic, response, body, "missing");
        Assert.Equal(calls, gateway.Kiro.ChatCalls);
    }

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task Wrong_key_is_401_in_the_endpoints_format(string method, string path, bool anthropic)
    {
        using var http = gateway.Http(apiKey: "not-the-gateway-key-at-all");
        var calls = gateway.Kiro.ChatCalls;
        var (response, body) = await Wire.SendAsync(http, Request(method, path, anthropic));
        AssertUnauthorized(anthropic, response, body, "invalid");
        Assert.Equal(calls, gateway.Kiro.ChatCalls);
    }

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task Wrong_key_in_x_api_key_is_401(string method, string path, bool anthropic)
    {
        using var http = gateway.Http(apiKey: null);
        var request = Request(method, path, anthropic);
        request.Headers.TryAddWithoutValidation("x-api-key", GatewayFixture.ApiKey + "x");
        var (response, body) = await Wire.SendAsync(http, request);
        AssertUnauthorized(anthropic, response, body, "invalid");
    }

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task Key_in_x_api_key_is_accepted(string method, string path, bool anthropic)
    {
        using var http = gateway.Http(apiKey: null);
        var request = Request(method, path, anthropic);
        request.Headers.TryAddWithoutValidation("x-api-key", GatewayFixture.ApiKey);
        var (response, body) = await Wire.SendAsync(http, request);
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
    }

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task Key_in_authorization_bearer_is_accepted(string method, string path, bool anthropic)
    {
        using var http = gateway.Http(apiKey: null);
        var request = Request(method, path, anthropic);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", GatewayFixture.ApiKey);
        var (response, body) = await Wire.SendAsync(http, request);
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
    }

    [Theory]
    [InlineData("POST", "/v1/chat/completions?api_key=", false)]
    [InlineData("POST", "/v1/chat/completions?key=", false)]
    [InlineData("POST", "/v1/messages?beta=true&x-api-key=", true)]
    [InlineData("GET", "/v1/models?api_key=", false)]
    public async Task Key_in_the_query_string_is_not_accepted(string method, string pathAndParameter, bool anthropic)
    {
        // Query strings end up in proxy and access logs: a key there must not work, or clients will leak it.
        using var http = gateway.Http(apiKey: null);
        var calls = gateway.Kiro.ChatCalls;
        var (response, body) = await Wire.SendAsync(http, Request(method, pathAndParameter + GatewayFixture.ApiKey, anthropic));
        AssertUnauthorized(anthropic, response, body, "missing");
        Assert.Equal(calls, gateway.Kiro.ChatCalls);
    }

    [Fact]
    public async Task Claude_codes_beta_query_parameter_is_harmless()
    {
        // Claude Code posts to /v1/messages?beta=true.
        using var http = gateway.Http();
        var (response, body) = await Wire.SendAsync(http, Wire.Post("/v1/messages?beta=true", Wire.AnthropicBody(), anthropic: true));
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
    }
}
