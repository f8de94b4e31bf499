using System.Net;
using System.Text;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Fuzz;

/// <summary>What the fuzz suites found, one focused test per finding, each failing before its fix.</summary>
public sealed class FuzzFindingsTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private static HttpRequestMessage Raw(string path, byte[] body, bool anthropic = false)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new("application/json");
        if (anthropic) request.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
        return request;
    }

    private static byte[] WithInvalidUtf8(string json, string marker)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var at = bytes.AsSpan().IndexOf(Encoding.UTF8.GetBytes(marker));
        return [.. bytes.AsSpan(0, at), 0xFF, .. bytes.AsSpan(at + marker.Length)];
    }

    // Finding 1: a lone surrogate inside a tool's JSON schema passed the front door (schemas are kept as raw JSON, not
    // read as strings) and made the Kiro request builder throw while copying the schema: a 500 on every chat door.
    [Theory]
    [InlineData("/v1/chat/completions", """{"model":"@M","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"city":{"type":"\udc00x"}}}}}]}""", "tools[0].function.parameters.properties.city.type")]
    [InlineData("/v1/responses", """{"model":"@M","input":"hi","tools":[{"type":"function","name":"f","parameters":{"type":"\ud800"}}]}""", "tools[0].parameters.type")]
    [InlineData("/v1/messages", """{"model":"@M","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f","input_schema":{"type":"object","description":"a\udfff"}}]}""", "tools[0].input_schema.description")]
    public async Task A_lone_surrogate_in_a_tool_schema_is_a_400_naming_it_and_never_reaches_kiro(string path, string body, string field)
    {
        using var http = gateway.Http();
        var calls = gateway.Kiro.ChatCalls;
        var anthropic = path == "/v1/messages";
        var (response, text) = await Wire.SendAsync(http, Raw(path, Encoding.UTF8.GetBytes(body.Replace("@M", Wire.Model, StringComparison.Ordinal)), anthropic));
        if (anthropic) Wire.AssertAnthropicError(response, text, HttpStatusCode.BadRequest, field);
        else Wire.AssertOpenAiError(response, text, HttpStatusCode.BadRequest, field);
        Assert.Equal(calls, gateway.Kiro.ChatCalls);
    }

    // Finding 2: invalid UTF-8 in metadata.user_id (where Claude Code puts its session id) was read for the session id
    // before the body was checked: a 500 on /v1/messages and /v1/route.
    [Theory]
    [InlineData("/v1/messages")]
    [InlineData("/v1/route/v1/messages")]
    public async Task Invalid_utf8_in_the_session_metadata_is_a_400_naming_it(string path)
    {
        using var http = gateway.Http();
        var body = WithInvalidUtf8($$"""{"model":"{{Wire.Model}}","max_tokens":10,"metadata":{"user_id":"user_abc_session_@BAD"},"messages":[{"role":"user","content":"hi"}]}""", "@BAD");
        var (response, text) = await Wire.SendAsync(http, Raw(path, body, anthropic: true));
        Wire.AssertAnthropicError(response, text, HttpStatusCode.BadRequest, "metadata.user_id");
    }

    // Finding 6 (after kept Responses answers landed): an input item whose type or id is not a string was compared as a
    // string while looking for item references: a 500 before the parser could name the field.
    [Theory]
    [InlineData("""{"model":"@M","input":[{"type":["string",null]},{"type":"message","role":"user","content":"hi"}]}""", "input[0].type")]
    [InlineData("""{"model":"@M","input":[{"type":"item_reference","id":7}]}""", "input[0].id")]
    public async Task An_input_item_type_or_reference_id_that_is_not_a_string_is_a_400_naming_it(string body, string field)
    {
        using var http = gateway.Http();
        var (response, text) = await Wire.SendAsync(http, Raw("/v1/responses", Encoding.UTF8.GetBytes(body.Replace("@M", Wire.Model, StringComparison.Ordinal))));
        Wire.AssertOpenAiError(response, text, HttpStatusCode.BadRequest, field);
    }
}

/// <summary>Findings of the admin API fuzz suite.</summary>
public sealed class AdminFuzzFindingsTests(GatewayFixture gateway) : IClassFixture<GatewayFixture>
{
    private async Task<(HttpResponseMessage Response, string Body)> SendAsync(HttpMethod method, string path, byte[]? body = null)
    {
        using var http = gateway.Http();
        var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = new("application/json");
        }
        return await Wire.SendAsync(http, request);
    }

    // Finding 3: the {id:long} routes of budgets and rate limits accept "-1" (the route constraint allows a sign), but the
    // handler parsed the id without one: an empty 500 instead of an answer about key or user -1.
    [Theory]
    [InlineData("GET", "/admin/api/rate-limits/keys/-1")]
    [InlineData("DELETE", "/admin/api/rate-limits/users/-1")]
    [InlineData("GET", "/admin/api/budgets/keys/-1")]
    [InlineData("POST", "/admin/api/budgets/keys/-1/reset")]
    public async Task A_negative_id_on_a_budget_route_is_answered_in_the_admin_shape_not_a_500(string method, string path)
    {
        var (response, body) = await SendAsync(new HttpMethod(method), path);
        Assert.True((int)response.StatusCode < 500, $"{method} {path}: {(int)response.StatusCode} {body}");
        if ((int)response.StatusCode >= 400) Assert.Null(FuzzChecks.ShapeProblem(body, ErrorShape.Admin));
    }

    // Finding 4: invalid UTF-8 in a budget or rate-limit body (a string where a number goes) made the error message's
    // quoting of the value throw: an empty 500 instead of a 400.
    [Theory]
    [InlineData("/admin/api/budgets/users/default", """{"budget":{"daily":{"input_tokens":"@BAD"}}}""")]
    [InlineData("/admin/api/rate-limits/users/default", """{"requests_per_minute":60,"concurrent_requests":"@BAD"}""")]
    public async Task Invalid_utf8_in_a_budget_body_is_a_400_naming_the_field(string path, string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var at = bytes.AsSpan().IndexOf("@BAD"u8);
        byte[] body = [.. bytes.AsSpan(0, at), 0xC3, 0x28, .. bytes.AsSpan(at + 4)];
        var (response, text) = await SendAsync(HttpMethod.Put, path, body);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode} {text}");
        Assert.Null(FuzzChecks.ShapeProblem(text, ErrorShape.Admin));
        Assert.Contains("not valid text", text, StringComparison.Ordinal);
    }

    // Finding 5: a lone-surrogate escape in a routing body ("mode":"\ud800") was read as a string by the handler: an empty 500.
    [Theory]
    [InlineData("/admin/api/routing/mode", """{"mode":"\ud800"}""")]
    [InlineData("/admin/api/routing/tasks/chat", """{"profile":"\udc00"}""")]
    public async Task A_lone_surrogate_in_a_routing_body_is_a_400_naming_the_field(string path, string json)
    {
        var (response, text) = await SendAsync(HttpMethod.Put, path, Encoding.UTF8.GetBytes(json));
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode} {text}");
        Assert.Null(FuzzChecks.ShapeProblem(text, ErrorShape.Admin));
        Assert.Contains("not valid text", text, StringComparison.Ordinal);
    }
}
