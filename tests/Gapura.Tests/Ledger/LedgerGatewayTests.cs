using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Gapura.Identity;
using Gapura.Ledger;
using Gapura.Simulators.Kiro;
using Gapura.Storage;
using Gapura.Tests.Integration;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Ledger;

/// <summary>Through a real gateway in front of the Kiro simulator: what one request leaves in the ledger's database.</summary>
public sealed class LedgerGatewayTests : IAsyncLifetime
{
    private readonly GatewayFixture _gateway = new();

    public Task InitializeAsync()
    {
        // The fixture logs warnings only; the request line is Information, under its own category.
        _gateway.Settings.Add($"--Logging:LogLevel:{RequestLog.Category}=Information");
        return _gateway.InitializeAsync();
    }

    public Task DisposeAsync() => _gateway.DisposeAsync();

    private const string Ask = """{"model":"claude-sonnet-4-5","max_tokens":200,"messages":[{"role":"user","content":"hi"}]}""";

    [Fact]
    public async Task A_claude_code_request_is_stored_with_its_user_key_client_session_and_upstream()
    {
        var store = _gateway.Services.GetRequiredService<IGapuraStore>();
        var alice = await store.Users.CreateAsync(new NewUser("alice@gapura.test", "Alice"));
        var key = ApiKeys.Generate();
        var stored = await store.ApiKeys.CreateAsync(new NewApiKey(alice.Id, "laptop", key.Prefix, key.Hash));
        using var http = _gateway.Http(null);
        http.DefaultRequestHeaders.Add("x-api-key", key.Key);
        await Eventually(async () => (await http.GetAsync("/v1/models")).IsSuccessStatusCode);
        _gateway.Kiro.Enqueue(KiroScenario.Stream(KiroFrame.Text("Hello"), KiroFrame.Text(" there"), KiroFrame.Metering(0.37), KiroFrame.Metadata(321, 7), KiroFrame.ContextUsage(1.5)));

        using var request = Messages(Ask.Replace("\"max_tokens\"", "\"stream\":true,\"max_tokens\""));
        request.Headers.UserAgent.ParseAdd("claude-cli/2.1.197 (external, sdk-cli)");
        request.Headers.Add("x-claude-code-session-id", "9f1c2d3e-session");
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await response.Content.ReadAsStringAsync();
        var id = response.Headers.GetValues(Gapura.Api.ChatPipeline.RequestIdHeader).Single();

        var row = await StoredAsync(id, """
            SELECT user_id || '|' || key_id || '|' || key_prefix || '|' || client || '|' || client_version || '|' || session_id || '|' ||
                   front_door || '|' || requested_model || '|' || model || '|' || provider || '|' || stream || '|' || input_tokens || '|' ||
                   output_tokens || '|' || status || '|' || http_status || '|' || task AS v
            FROM usage_records WHERE request_id = @id
            """);
        Assert.Equal($"{alice.Id}|{stored.Id}|{key.Prefix}|claude-code|2.1.197|9f1c2d3e-session|anthropic-messages|claude-sonnet-4-5|claude-sonnet-4.5|kiro|1|321|7|ok|200|interactiveChat", row); // a plain question with no tools
        var record = await _gateway.UsageRecordOfAsync(response);
        Assert.Equal(0.37, record.Credits);
        Assert.NotNull(record.CostUsd);
        Assert.DoesNotContain(key.Key, string.Join("|", record.KeyPrefix, record.UserAgent, record.SessionId));
    }

    [Fact]
    public async Task A_request_refused_by_the_gateway_is_recorded_as_an_error_of_its_kind()
    {
        using var http = _gateway.Http();
        using var request = Messages(Ask.Replace("claude-sonnet-4-5", "no-such-model"));
        request.Headers.UserAgent.ParseAdd("curl/8.5.0");
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);

        var record = await _gateway.UsageRecordOfAsync(response);
        Assert.Equal((UsageStatus.Error, "invalid_request", 400, "curl", "8.5.0"), (record.Status, record.ErrorKind, record.HttpStatus, record.Client, record.ClientVersion));
        Assert.Null(record.Provider);
        Assert.Null(record.CostUsd);
        Assert.Equal("bootstrap", record.KeyPrefix);
        Assert.Equal("error|invalid_request|400|no-such-model", await StoredAsync(record.RequestId,
            "SELECT status || '|' || error_kind || '|' || http_status || '|' || model AS v FROM usage_records WHERE request_id = @id"));
    }

    [Fact]
    public async Task An_upstream_failing_mid_stream_is_an_error_with_the_tokens_sent_before_it()
    {
        _gateway.Kiro.Enqueue(new KiroScenario { Frames = [KiroFrame.Text("Partial answer that is cut"), KiroFrame.Text(" off"), KiroFrame.Metering()], CutInsideFrame = 2 });
        using var http = _gateway.Http();
        using var response = await http.SendAsync(Messages(Ask.Replace("\"max_tokens\"", "\"stream\":true,\"max_tokens\"")));
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("event: error", body);

        var record = await _gateway.UsageRecordOfAsync(response);
        Assert.Equal(UsageStatus.Error, record.Status);
        Assert.Equal(200, record.HttpStatus);
        Assert.NotNull(record.ErrorKind);
        Assert.True(record.Estimated);
        Assert.True(record.OutputTokens > 0, $"output {record.OutputTokens}");
        Assert.True(record.InputTokens > 0, $"input {record.InputTokens}");
    }

    [Fact]
    public async Task A_client_leaving_mid_stream_is_recorded_as_client_closed_with_what_it_was_sent()
    {
        var frames = Enumerable.Range(0, 40).Select(i => KiroFrame.Text($"word{i} ")).Append(KiroFrame.Metering()).ToList();
        _gateway.Kiro.Enqueue(new KiroScenario { Frames = frames, DelayBetweenFrames = TimeSpan.FromMilliseconds(50) });
        // A raw socket: HttpClient would drain the rest of the answer to reuse the connection instead of leaving.
        var uri = new Uri(_gateway.BaseUrl);
        var body = Ask.Replace("\"max_tokens\"", "\"stream\":true,\"max_tokens\"");
        string id;
        using (var tcp = new System.Net.Sockets.TcpClient())
        {
            await tcp.ConnectAsync(uri.Host, uri.Port);
            var stream = tcp.GetStream();
            var head = $"POST /v1/messages HTTP/1.1\r\nHost: {uri.Authority}\r\nx-api-key: {GatewayFixture.ApiKey}\r\nanthropic-version: 2023-06-01\r\n" +
                       $"Content-Type: application/json\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\n\r\n{body}";
            await stream.WriteAsync(Encoding.UTF8.GetBytes(head));
            var buffer = new byte[4096];
            var seen = "";
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            while (!seen.Contains("word3")) seen += Encoding.UTF8.GetString(buffer, 0, await stream.ReadAsync(buffer, deadline.Token));
            id = System.Text.RegularExpressions.Regex.Match(seen, "x-gapura-request-id: (\\w+)", System.Text.RegularExpressions.RegexOptions.IgnoreCase).Groups[1].Value;
            tcp.Client.LingerState = new System.Net.Sockets.LingerOption(true, 0); // the client goes away: a reset, not a polite close
        }

        var record = await RecordAsync(id);
        Assert.Equal(UsageStatus.ClientClosed, record.Status);
        Assert.True(record.OutputTokens is > 0 and < 40, $"output {record.OutputTokens}");
        Assert.True(record.Estimated);
        Assert.Equal("client_closed", await StoredAsync(id, "SELECT status AS v FROM usage_records WHERE request_id = @id"));
    }

    private async Task<UsageRecord> RecordAsync(string id)
    {
        for (var until = DateTime.UtcNow.AddSeconds(10); DateTime.UtcNow < until; await Task.Delay(20))
            if (_gateway.UsageRecords.TryGetValue(id, out var record)) return record;
        throw new TimeoutException($"no record for {id}");
    }

    [Fact]
    public async Task Every_finished_request_gets_one_log_line_under_Gapura_Requests_written_by_the_ledger()
    {
        const string prompt = "request-line-prompt-5d1e must not be logged";
        _gateway.Kiro.Enqueue(KiroScenario.Stream(KiroFrame.Text("Hello"), KiroFrame.Metering(0.25), KiroFrame.Metadata(321, 7)));
        using var http = _gateway.Http();
        using var served = await http.SendAsync(Messages(Ask.Replace("\"hi\"", $"\"{prompt}\"")));
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        using var refused = await http.SendAsync(Messages(Ask.Replace("claude-sonnet-4-5", "no-such-model")));
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);

        string LineOf(HttpResponseMessage response)
        {
            var id = response.Headers.GetValues(Gapura.Api.ChatPipeline.RequestIdHeader).Single();
            var lines = _gateway.Logs.Lines.Where(l => l.Contains($"id={id}", StringComparison.Ordinal)).ToList();
            return lines.Count == 1 ? lines[0] : throw new Xunit.Sdk.XunitException($"{lines.Count} lines name request {id}");
        }
        string? ok = null, error = null;
        await Eventually(() =>
        {
            try { (ok, error) = (LineOf(served), LineOf(refused)); return Task.FromResult(true); }
            catch (Xunit.Sdk.XunitException) { return Task.FromResult(false); }
        });
        var servedModel = served.Headers.GetValues("x-gapura-model").Single();
        Assert.StartsWith($"Information {RequestLog.Category}: anthropic-messages model=claude-sonnet-4-5 provider=kiro served={servedModel} status=200 ok in=321 out=7 cached=0 credits=0.25 estimated=False ms=", ok);
        Assert.StartsWith($"Information {RequestLog.Category}: anthropic-messages model=no-such-model provider=- served=- status=400 error in=0 out=0 ", error);
        Assert.DoesNotContain(_gateway.Logs.Lines, l => l.Contains("request-line-prompt", StringComparison.Ordinal) || l.Contains(GatewayFixture.ApiKey, StringComparison.Ordinal));
        // The request path itself no longer logs a line per request: only the ledger's category carries one.
        Assert.DoesNotContain(_gateway.Logs.Lines, l => l.Contains("ChatPipeline", StringComparison.Ordinal) && l.StartsWith("Information", StringComparison.Ordinal));
    }

    /// <summary>Waits (bounded) for the writer to store the request's row, then reads column <c>v</c>.</summary>
    private async Task<string?> StoredAsync(string id, string sql)
    {
        var db = _gateway.Services.GetRequiredService<Database>();
        for (var until = DateTime.UtcNow.AddSeconds(10); DateTime.UtcNow < until; await Task.Delay(50))
        {
            await using var connection = await db.OpenAsync(CancellationToken.None);
            var rows = await new DbSession(db, connection, null).Sql(sql).Param("id", id).ListAsync(r => r.StringOrNull("v"), CancellationToken.None);
            if (rows.Count > 0) return rows[0];
        }
        throw new TimeoutException($"request {id} was not stored within 10 s");
    }

    private static HttpRequestMessage Messages(string json)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/messages") { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        request.Headers.Add("anthropic-version", "2023-06-01");
        return request;
    }

    private static async Task Eventually(Func<Task<bool>> condition)
    {
        for (var until = DateTime.UtcNow.AddSeconds(10); !await condition(); await Task.Delay(50))
            if (DateTime.UtcNow > until) Assert.Fail("not true within 10 s");
    }
}
