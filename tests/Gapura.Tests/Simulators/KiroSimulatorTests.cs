using System.Net;
using System.Text.Json.Nodes;
using Gapura.Simulators.Kiro;

namespace Gapura.Tests.Simulators;

public sealed class KiroSimulatorTests : IAsyncLifetime
{
    private static readonly HttpClient Http = new();
    private KiroSimulator _simulator = null!;
    private KiroIssuedCredentials _login = null!;

    public async Task InitializeAsync()
    {
        _simulator = await KiroSimulator.StartAsync();
        _login = _simulator.IssueCredentials();
    }

    public async Task DisposeAsync() => await _simulator.DisposeAsync();

    private async Task<(HttpResponseMessage Response, byte[] Bytes)> SendAsync(string body, string? token = null)
    {
        var response = await Http.SendAsync(KiroWire.Chat(_simulator, token ?? _login.AccessToken, body));
        return (response, await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public void Frames_match_the_documented_test_vectors()
    {
        var hi = KiroFrame.Text("Hi").Encode();
        Assert.Equal(124, hi.Length);
        Assert.Equal("0000007c0000005c3bddcf78", Convert.ToHexStringLower(hi.AsSpan(0, 12)));
        Assert.Equal("b02babdc", Convert.ToHexStringLower(hi.AsSpan(120, 4)));

        var usage = KiroFrame.Event("contextUsageEvent", """{"contextUsagePercentage":12.5}""").Encode();
        Assert.Equal(134, usage.Length);
        Assert.Equal("ae8b5e0c", Convert.ToHexStringLower(usage.AsSpan(8, 4)));
        Assert.Equal("775490df", Convert.ToHexStringLower(usage.AsSpan(130, 4)));
    }

    [Fact]
    public async Task Default_answer_echoes_the_user_and_decodes_with_the_AWS_parser()
    {
        var (response, bytes) = await SendAsync(KiroWire.Body(KiroWire.User("Grüße aus Köln 🌍 — wie geht's?")));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/vnd.amazon.eventstream", response.Content.Headers.ContentType?.MediaType);
        var messages = KiroWire.Decode(bytes);
        Assert.All(messages, m => Assert.Equal("event", m.Header(":message-type")));
        Assert.Equal(KiroDefaultResponder.Greeting + "Grüße aus Köln 🌍 — wie geht's?", KiroWire.Text(messages));
        Assert.True(messages.Count(m => m.Header(":event-type") == "assistantResponseEvent") > 1);
        var types = messages.Select(m => m.Header(":event-type")).ToList();
        Assert.Equal("contextUsageEvent", types[^1]);
        Assert.Equal("meteringEvent", types[^2]);
        var metering = JsonNode.Parse(messages[^2].Payload)!;
        Assert.Equal("credit", metering["unit"]!.GetValue<string>());
        Assert.Equal(0.1, metering["usage"]!.GetValue<double>());
        Assert.Single(_simulator.ChatRequests);
        Assert.Equal("Bearer " + _login.AccessToken, _simulator.ChatRequests[0].Header("Authorization"));
    }

    [Fact]
    public async Task One_byte_writes_still_form_valid_frames()
    {
        await using var simulator = await KiroSimulator.StartAsync(new KiroSimulatorOptions { Split = KiroSplit.OneByte });
        var login = simulator.IssueCredentials();
        var response = await Http.SendAsync(KiroWire.Chat(simulator, login.AccessToken, KiroWire.Body(KiroWire.User("日本語のテキスト"))));
        var messages = KiroWire.Decode(await response.Content.ReadAsByteArrayAsync());
        Assert.EndsWith("日本語のテキスト", KiroWire.Text(messages));
    }

    [Fact]
    public async Task Thinking_mode_prefixes_a_thinking_block()
    {
        var (_, bytes) = await SendAsync(KiroWire.Body(KiroWire.User("<thinking_mode>enabled</thinking_mode><max_thinking_length>2000</max_thinking_length>Why?")));
        var text = KiroWire.Text(KiroWire.Decode(bytes));
        Assert.StartsWith("<thinking>", text);
        Assert.Contains("</thinking>\n\n" + KiroDefaultResponder.Greeting, text);
    }

    [Fact]
    public async Task Tool_directive_streams_a_fragmented_tool_use()
    {
        var (_, bytes) = await SendAsync(KiroWire.Body(KiroWire.User("""Please [[tool:read_file {"path":"/etc/hosts","lines":[1,2]}]] now""", KiroWire.Tools("read_file"))));
        var uses = KiroWire.Decode(bytes).Where(m => m.Header(":event-type") == "toolUseEvent").Select(m => JsonNode.Parse(m.Payload)!).ToList();

        Assert.True(uses.Count >= 4);
        Assert.Null(uses[0]["input"]);
        Assert.True(uses[^1]["stop"]!.GetValue<bool>());
        Assert.Single(uses.Select(u => u["toolUseId"]!.GetValue<string>()).Distinct());
        var input = string.Concat(uses.Where(u => u["input"] is not null).Select(u => u["input"]!.GetValue<string>()));
        Assert.Equal("""{"path":"/etc/hosts","lines":[1,2]}""", input);
    }

    [Fact]
    public async Task Undeclared_tool_directive_is_plain_text()
    {
        var (_, bytes) = await SendAsync(KiroWire.Body(KiroWire.User("[[tool:nope {}]]")));
        Assert.StartsWith(KiroDefaultResponder.Greeting, KiroWire.Text(KiroWire.Decode(bytes)));
    }

    [Fact]
    public async Task Tool_results_are_quoted_back()
    {
        var uses = new JsonArray(new JsonObject { ["toolUseId"] = "tooluse_1", ["name"] = "read_file", ["input"] = new JsonObject() });
        var results = new JsonArray(new JsonObject
        {
            ["toolUseId"] = "tooluse_1",
            ["content"] = new JsonArray(new JsonObject { ["text"] = "127.0.0.1 localhost" }),
            ["status"] = "success",
        });
        var body = KiroWire.Body(KiroWire.User("Tool results", KiroWire.Tools("read_file"), results), KiroWire.User("read it"), KiroWire.Assistant("Reading.", uses));
        var (response, bytes) = await SendAsync(body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(KiroDefaultResponder.ToolEcho + "127.0.0.1 localhost", KiroWire.Text(KiroWire.Decode(bytes)));
    }

    [Fact]
    public async Task Non_alternating_history_is_improperly_formed()
    {
        var body = KiroWire.Body(KiroWire.User("third"), KiroWire.User("first"), KiroWire.User("second"));
        var (response, bytes) = await SendAsync(body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonNode.Parse(bytes)!;
        Assert.Equal("Improperly formed request.", error["message"]!.GetValue<string>());
        Assert.Null(error["reason"]);
    }

    [Theory]
    [InlineData("history ends with user")]
    [InlineData("empty content")]
    [InlineData("orphan tool result")]
    [InlineData("long tool name")]
    [InlineData("bad image format")]
    [InlineData("history starts with assistant")]
    public async Task Service_rules_are_enforced(string violation)
    {
        var body = violation switch
        {
            "history ends with user" => KiroWire.Body(KiroWire.User("now"), KiroWire.User("a"), KiroWire.Assistant("b"), KiroWire.User("c")),
            "empty content" => KiroWire.Body(KiroWire.User("")),
            "orphan tool result" => KiroWire.Body(KiroWire.User("x", toolResults: new JsonArray(new JsonObject
            {
                ["toolUseId"] = "nobody_asked",
                ["content"] = new JsonArray(new JsonObject { ["text"] = "r" }),
                ["status"] = "success",
            })), KiroWire.User("a"), KiroWire.Assistant("b")),
            "long tool name" => KiroWire.Body(KiroWire.User("x", KiroWire.Tools(new string('t', 65)))),
            "bad image format" => WithImage("bmp"),
            "history starts with assistant" => KiroWire.Body(KiroWire.User("x"), KiroWire.Assistant("a"), KiroWire.User("b")),
            _ => throw new ArgumentOutOfRangeException(nameof(violation)),
        };
        var (response, bytes) = await SendAsync(body);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("Improperly formed request.", JsonNode.Parse(bytes)!["message"]!.GetValue<string>());

        static string WithImage(string format)
        {
            var user = KiroWire.User("look");
            user["userInputMessage"]!["images"] = new JsonArray(new JsonObject { ["format"] = format, ["source"] = new JsonObject { ["bytes"] = Convert.ToBase64String([1, 2, 3]) } });
            return KiroWire.Body(user);
        }
    }

    [Fact]
    public async Task Oversized_bodies_are_too_long()
    {
        var (response, bytes) = await SendAsync(KiroWire.Body(KiroWire.User(new string('x', 600_001))));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("Input is too long.", JsonNode.Parse(bytes)!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Unknown_or_expired_bearer_is_refused()
    {
        var (response, bytes) = await SendAsync(KiroWire.Body(KiroWire.User("hi")), token: "aoa-made-up");
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(KiroSimulator.BearerInvalidMessage, JsonNode.Parse(bytes)!["message"]!.GetValue<string>());

        _simulator.ExpireAccessToken(_login.AccessToken);
        (response, _) = await SendAsync(KiroWire.Body(KiroWire.User("hi")));
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task Scripted_errors_come_back_with_status_and_headers()
    {
        _simulator.Enqueue(KiroScenario.Throttled(TimeSpan.FromSeconds(7)));
        _simulator.Enqueue(KiroScenario.MonthlyQuota(402));
        _simulator.Enqueue(KiroScenario.Stream(KiroFrame.Text("a"), KiroFrame.Exception("ContentLengthExceededException", "too long"), KiroFrame.Error("InternalFailure", "boom")));

        var (throttled, _) = await SendAsync(KiroWire.Body(KiroWire.User("1")));
        Assert.Equal((HttpStatusCode)429, throttled.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(7), throttled.Headers.RetryAfter?.Delta);

        var (quota, quotaBody) = await SendAsync(KiroWire.Body(KiroWire.User("2")));
        Assert.Equal((HttpStatusCode)402, quota.StatusCode);
        Assert.Equal("MONTHLY_REQUEST_COUNT", JsonNode.Parse(quotaBody)!["reason"]!.GetValue<string>());

        var (_, stream) = await SendAsync(KiroWire.Body(KiroWire.User("3")));
        var messages = KiroWire.Decode(stream);
        Assert.Equal("exception", messages[1].Header(":message-type"));
        Assert.Equal("ContentLengthExceededException", messages[1].Header(":exception-type"));
        Assert.Equal("error", messages[2].Header(":message-type"));
        Assert.Equal("InternalFailure", messages[2].Header(":error-code"));
        Assert.Equal(0, _simulator.PendingScenarios);
    }

    [Fact]
    public async Task A_cut_connection_fails_the_read()
    {
        _simulator.Enqueue(new KiroScenario { Frames = [KiroFrame.Text("one"), KiroFrame.Text("two"), KiroFrame.Metering()], CutInsideFrame = 1 });
        var first = KiroFrame.Text("one").Encode().Length;
        var response = await Http.SendAsync(KiroWire.Chat(_simulator, _login.AccessToken, KiroWire.Body(KiroWire.User("x"))), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var stream = await response.Content.ReadAsStreamAsync();
        var received = 0;
        var buffer = new byte[1024];
        await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0) received += read;
        });
        Assert.InRange(received, first + 1, first + KiroFrame.Text("two").Encode().Length - 1);
    }

    [Fact]
    public async Task Models_are_paged_with_next_token()
    {
        var ids = new List<string>();
        string? next = null;
        var pages = 0;
        do
        {
            var url = _simulator.BaseUrl + "/ListAvailableModels?origin=AI_EDITOR" + (next is null ? "" : "&nextToken=" + Uri.EscapeDataString(next));
            using var request = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { Authorization = new("Bearer", _login.AccessToken) } };
            var page = JsonNode.Parse(await (await Http.SendAsync(request)).Content.ReadAsStringAsync())!;
            ids.AddRange(page["models"]!.AsArray().Select(m => m!["modelId"]!.GetValue<string>()));
            Assert.Equal("auto", page["defaultModel"]!["modelId"]!.GetValue<string>());
            next = page["nextToken"]?.GetValue<string>();
            pages++;
        }
        while (next is not null);

        Assert.True(pages > 1);
        Assert.Contains("claude-sonnet-4.5", ids);
        Assert.Contains("qwen3-coder-next", ids);
        Assert.Equal(ids.Count, ids.Distinct().Count());
    }

    [Fact]
    public async Task Frames_split_across_reads_reassemble_byte_for_byte()
    {
        _simulator.Enqueue(KiroScenario.Text("€uro ", "ünïcödé ", "👍"));
        var (_, bytes) = await SendAsync(KiroWire.Body(KiroWire.User("x")));
        var expected = new[] { KiroFrame.Text("€uro "), KiroFrame.Text("ünïcödé "), KiroFrame.Text("👍") }.SelectMany(f => f.Encode()).ToArray();
        Assert.Equal(expected, bytes.Take(expected.Length).ToArray());
        Assert.Equal("€uro ünïcödé 👍", KiroWire.Text(KiroWire.Decode(bytes)));
    }
}
