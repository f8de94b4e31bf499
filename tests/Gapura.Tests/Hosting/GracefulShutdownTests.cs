using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.ServerSentEvents;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using Gapura.Api;
using Gapura.Cli;
using Gapura.Simulators.Anthropic;
using Gapura.Simulators.Kiro;
using Gapura.Tests.Integration;
using Microsoft.Data.Sqlite;

namespace Gapura.Tests.Hosting;

/// <summary>
/// Graceful shutdown of the real <c>gapura serve</c> process, stopped the way an operator or an orchestrator stops it:
/// SIGTERM through kill(2). A child process rather than <c>StopAsync</c> on an in-process host, because the path
/// differs: the signal goes through the command-line layer and the host's console lifetime (System.CommandLine's own
/// handler used to end the process 2 s after the signal), and the usage ledger is read from the database after the
/// process has exited, so what the writer flushed at shutdown is what is checked. The Kiro simulator is the upstream;
/// it streams slowly on request.
/// </summary>
public sealed partial class GracefulShutdownTests : IAsyncLifetime
{
    private const double DrainSeconds = 3;
    private static readonly TimeSpan Frame = TimeSpan.FromMilliseconds(200);

    private readonly string _dir = Directory.CreateTempSubdirectory("gapura-shutdown-").FullName;
    private KiroSimulator _kiro = null!;

    public enum Door { Anthropic, OpenAiChat, Responses }

    public async Task InitializeAsync()
    {
        _kiro = await KiroSimulator.StartAsync();
        await GatewayFixture.WriteKiroLoginAsync(_kiro, Path.Combine(_dir, "kiro-auth-token.json"));
    }

    public async Task DisposeAsync()
    {
        await _kiro.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    [Theory]
    [InlineData(Door.Anthropic)]
    [InlineData(Door.OpenAiChat)]
    [InlineData(Door.Responses)]
    public async Task On_SIGTERM_open_requests_finish_within_the_drain_and_the_rest_end_with_the_format_error_logged_and_recorded(Door door)
    {
        await using var gateway = await ServeAsync();
        var finishing = await gateway.OpenStreamAsync(door, Slow(frames: 5)); // about a second
        var outliving = await gateway.OpenStreamAsync(door, Slow(frames: 500)); // 100 s
        var waiting = await gateway.SendWholeAsync(door, new KiroScenario { Frames = [KiroFrame.Text("late"), KiroFrame.Metering()], DelayBeforeFirstByte = TimeSpan.FromSeconds(60) });

        var signalled = Stopwatch.StartNew();
        gateway.Terminate();

        // The listener closes at once: a newcomer is refused at the TCP level, a clear signal for a client or a balancer to go elsewhere.
        await AssertRefusesConnectionsAsync(gateway.Port);

        var finished = await finishing.Ended.WaitAsync(TimeSpan.FromSeconds(DrainSeconds + 10));
        Assert.True(finishing.EndedAfter < TimeSpan.FromSeconds(DrainSeconds), $"the short stream ended only after {finishing.EndedAfter}");
        AssertCompleted(door, finished);

        var cut = await outliving.Ended.WaitAsync(TimeSpan.FromSeconds(DrainSeconds + 10));
        Assert.InRange(signalled.Elapsed.TotalSeconds, DrainSeconds - 0.5, DrainSeconds + 5);
        AssertEndedByShutdown(door, cut);

        var (status, body) = await waiting.WaitAsync(TimeSpan.FromSeconds(DrainSeconds + 10));
        AssertWholeAnswerRefused(door, status, body);

        var exitCode = await gateway.WaitForExitAsync(TimeSpan.FromSeconds(DrainSeconds + 15));
        Assert.Equal(0, exitCode);
        Assert.True(signalled.Elapsed < TimeSpan.FromSeconds(DrainSeconds + 8), $"the process exited {signalled.Elapsed} after SIGTERM");

        // One line per ended request, naming it; none for the one that finished.
        var lines = gateway.Output.Where(l => l.Contains("Shutdown ended request", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, lines.Count);
        var streamLine = Assert.Single(lines, l => l.Contains(outliving.RequestId, StringComparison.Ordinal));
        Assert.Contains(PathOf(door), streamLine);
        Assert.Contains("model=" + Wire.Model, streamLine);
        Assert.Matches(@"user=\d+", streamLine);
        Assert.Matches(@"after \d+\.\d s", streamLine);
        Assert.Contains("error event", streamLine);
        Assert.True(lines.Exists(l => l.Contains(waiting.RequestId, StringComparison.Ordinal) && l.Contains("answered 503", StringComparison.Ordinal)), string.Join('\n', lines));
        Assert.DoesNotContain(GatewayFixture.ApiKey, string.Join('\n', gateway.Output));

        // The ledger has every request, written before the process exited.
        var usage = ReadUsage();
        Assert.Equal(("ok", null, 200), (usage[finishing.RequestId].Status, usage[finishing.RequestId].ErrorKind, usage[finishing.RequestId].HttpStatus));
        var ended = usage[outliving.RequestId];
        Assert.Equal(("error", "shutting_down", 200), (ended.Status, ended.ErrorKind, ended.HttpStatus));
        Assert.True(ended.OutputTokens > 0, "the ended stream is charged what it was sent");
        Assert.True(ended.InputTokens > 0);
        var refused = usage[waiting.RequestId];
        Assert.Equal(("error", "shutting_down", 503), (refused.Status, refused.ErrorKind, refused.HttpStatus));
    }

    [Fact]
    public async Task A_relayed_anthropic_stream_cut_in_odd_chunks_still_ends_after_a_whole_event_with_the_error_event()
    {
        // Passthrough relays the upstream's bytes; the simulator splits them at random every few bytes, so a read often ends mid-event.
        await using var anthropic = await AnthropicSimulator.StartAsync(new AnthropicSimulatorOptions { Split = AnthropicSplit.Random, MaxChunkBytes = 7 });
        await using var gateway = await ServeAsync(DrainSeconds, $"--Providers:Anthropic:ApiKey={anthropic.ApiKey}", $"--Providers:Anthropic:BaseUrl={anthropic.BaseUrl}");
        anthropic.Enqueue(new AnthropicScenario
        {
            Events =
            [
                new("message_start", """{"type":"message_start","message":{"model":"claude-sonnet-4-5-20250929","id":"msg_1","type":"message","role":"assistant","content":[],"stop_reason":null,"usage":{"output_tokens":1,"input_tokens":12}}}"""),
                new("content_block_start", """{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"""),
                .. Enumerable.Range(0, 500).Select(i => new AnthropicSseEvent("content_block_delta", $$$"""{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"word{{{i}}} "}}""")),
                new("message_stop", """{"type":"message_stop"}"""),
            ],
            DelayBetweenEvents = Frame,
        });
        var body = """{"model":"anthropic/claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"relay me"}]}""";
        var relayed = await gateway.OpenStreamAsync(Wire.Post(new Uri(gateway.BaseUrl, "/v1/messages").ToString(), body, anthropic: true));

        gateway.Terminate();
        var cut = await relayed.Ended.WaitAsync(TimeSpan.FromSeconds(DrainSeconds + 10));
        AssertEndedByShutdown(Door.Anthropic, cut);
        Assert.Equal(0, await gateway.WaitForExitAsync(TimeSpan.FromSeconds(DrainSeconds + 15)));

        Assert.Contains(gateway.Output, l => l.Contains("Shutdown ended request " + relayed.RequestId, StringComparison.Ordinal));
        var record = ReadUsage()[relayed.RequestId];
        Assert.Equal(("error", "shutting_down", 200), (record.Status, record.ErrorKind, record.HttpStatus));
        Assert.Equal(12, record.InputTokens); // as the relayed message_start reported it
    }

    [Fact]
    public async Task Without_open_requests_SIGTERM_exits_at_once()
    {
        await using var gateway = await ServeAsync(drainSeconds: 30);
        var signalled = Stopwatch.StartNew();
        gateway.Terminate();
        Assert.Equal(0, await gateway.WaitForExitAsync(TimeSpan.FromSeconds(15)));
        Assert.True(signalled.Elapsed < TimeSpan.FromSeconds(5), $"exited {signalled.Elapsed} after SIGTERM with nothing open");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("3601")]
    [InlineData("soon")]
    public async Task A_shutdown_timeout_out_of_range_is_refused_at_start_in_one_line(string value)
    {
        var error = new StringWriter();
        var code = await GapuraCli.RunAsync(["serve", "--urls=http://127.0.0.1:0", $"--Storage:Path={Path.Combine(_dir, "gapura.db")}", $"--Gateway:ShutdownTimeoutSeconds={value}"],
            new StringWriter(), error);
        Assert.Equal(2, code);
        var line = Assert.Single(error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("Gateway:ShutdownTimeoutSeconds", line);
        Assert.Contains($"'{value}'", line);
    }

    // ---- the gateway process ---------------------------------------------------------------------------------------

    private async Task<GatewayProcess> ServeAsync(double drainSeconds = DrainSeconds, params string[] settings)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = _dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])
        [
            typeof(GatewayHost).Assembly.Location, "serve",
            "--urls=http://127.0.0.1:0",
            $"--Gateway:ApiKey={GatewayFixture.ApiKey}",
            $"--Gateway:AdminEmail={GatewayFixture.AdminEmail}",
            $"--Gateway:AdminPassword={GatewayFixture.AdminPassword}",
            $"--Gateway:ShutdownTimeoutSeconds={drainSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)}",
            $"--Storage:Path={Path.Combine(_dir, "gapura.db")}",
            $"--Kiro:Endpoint={_kiro.BaseUrl}",
            $"--Kiro:AuthEndpoint={_kiro.BaseUrl}",
            $"--Kiro:OidcEndpoint={_kiro.BaseUrl}",
            $"--Kiro:CredentialsFile={Path.Combine(_dir, "kiro-auth-token.json")}",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information",
            "--Logging:LogLevel:Gapura=Information",
            .. settings,
        ]) start.ArgumentList.Add(arg);
        start.Environment.Remove("ASPNETCORE_URLS");
        var gateway = new GatewayProcess(Process.Start(start)!, _kiro);
        await gateway.WaitUntilListeningAsync(TimeSpan.FromSeconds(60));
        return gateway;
    }

    private sealed partial class GatewayProcess : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly KiroSimulator _kiro;
        private readonly ConcurrentQueue<string> _output = new();
        private readonly TaskCompletionSource<string> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly HttpClient _http;
        private Stopwatch? _signalled;

        public GatewayProcess(Process process, KiroSimulator kiro)
        {
            _process = process;
            _kiro = kiro;
            _process.OutputDataReceived += (_, e) => Line(e.Data);
            _process.ErrorDataReceived += (_, e) => Line(e.Data);
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
            // No connection reuse: each request on its own connection, as separate clients would be.
            _http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero }) { Timeout = TimeSpan.FromSeconds(60) };
            _http.DefaultRequestHeaders.Authorization = new("Bearer", GatewayFixture.ApiKey);
        }

        public IReadOnlyList<string> Output => [.. _output];

        public Uri BaseUrl { get; private set; } = null!;

        public int Port => BaseUrl.Port;

        private void Line(string? line)
        {
            if (line is null) return;
            _output.Enqueue(line);
            if (ListeningLine().Match(line) is { Success: true } m) _listening.TrySetResult(m.Groups[1].Value);
        }

        [System.Text.RegularExpressions.GeneratedRegex(@"Now listening on: (http://\S+)")]
        private static partial System.Text.RegularExpressions.Regex ListeningLine();

        public async Task WaitUntilListeningAsync(TimeSpan timeout)
        {
            var exited = _process.WaitForExitAsync();
            var first = await Task.WhenAny(_listening.Task, exited).WaitAsync(timeout);
            if (first == exited) throw new InvalidOperationException("gapura serve exited at start:\n" + string.Join('\n', Output));
            BaseUrl = new Uri(await _listening.Task);
        }

        /// <summary>SIGTERM, as <c>kill</c>, systemd or Kubernetes send it.</summary>
        public void Terminate()
        {
            _signalled = Stopwatch.StartNew();
            Assert.Equal(0, SendSignal(_process.Id, SigTerm));
        }

        public async Task<int> WaitForExitAsync(TimeSpan timeout)
        {
            try { await _process.WaitForExitAsync().WaitAsync(timeout); }
            catch (TimeoutException) { throw new TimeoutException($"gapura serve still running {timeout} after SIGTERM:\n" + string.Join('\n', Output)); }
            _process.WaitForExit(); // the redirected output is read to its end
            return _process.ExitCode;
        }

        /// <summary>Starts a streamed request and returns once its first event has arrived; the rest is read in the background.</summary>
        public Task<OpenStream> OpenStreamAsync(Door door, KiroScenario scenario)
        {
            _kiro.Enqueue(scenario);
            return OpenStreamAsync(Request(door, stream: true));
        }

        public async Task<OpenStream> OpenStreamAsync(HttpRequestMessage request)
        {
            var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var open = new OpenStream(response.Headers.GetValues(ChatPipeline.RequestIdHeader).Single(), this);
            var firstEvent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            open.Ended = ReadAllAsync(response, firstEvent, open);
            await Task.WhenAny(firstEvent.Task, open.Ended).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.False(open.Ended.IsCompleted, "the stream ended before shutdown");
            return open;
        }

        private async Task<byte[]> ReadAllAsync(HttpResponseMessage response, TaskCompletionSource firstEvent, OpenStream open)
        {
            using (response)
            {
                var body = new MemoryStream();
                await using var stream = await response.Content.ReadAsStreamAsync();
                var buffer = new byte[4096];
                int read;
                while ((read = await stream.ReadAsync(buffer)) > 0)
                {
                    body.Write(buffer, 0, read);
                    if (body.GetBuffer().AsSpan(0, (int)body.Length).IndexOf("\n\n"u8) >= 0) firstEvent.TrySetResult();
                }
                open.EndedAfter = _signalled?.Elapsed ?? TimeSpan.Zero;
                return body.ToArray();
            }
        }

        /// <summary>Sends a whole-answer request and returns once the upstream has it; the answer is awaited by the caller.</summary>
        public async Task<WholeRequest> SendWholeAsync(Door door, KiroScenario scenario)
        {
            _kiro.Enqueue(scenario);
            var calls = _kiro.ChatCalls;
            var pending = _http.SendAsync(Request(door, stream: false));
            for (var until = DateTime.UtcNow.AddSeconds(30); _kiro.ChatCalls == calls; await Task.Delay(20))
                if (DateTime.UtcNow > until) throw new TimeoutException("The whole-answer request never reached the upstream.");
            return new WholeRequest(pending);
        }

        private HttpRequestMessage Request(Door door, bool stream) => door switch
        {
            Door.Anthropic => Wire.Post(new Uri(BaseUrl, "/v1/messages").ToString(), Wire.AnthropicBody(stream: stream), anthropic: true),
            Door.OpenAiChat => Wire.Post(new Uri(BaseUrl, "/v1/chat/completions").ToString(), Wire.OpenAiBody(stream: stream)),
            _ => Wire.Post(new Uri(BaseUrl, "/v1/responses").ToString(), $$"""{"model":"{{Wire.Model}}","stream":{{(stream ? "true" : "false")}},"input":"hi"}"""),
        };

        public async ValueTask DisposeAsync()
        {
            _http.Dispose();
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }
            _process.Dispose();
        }
    }

    private sealed class OpenStream(string requestId, GatewayProcess gateway)
    {
        public string RequestId { get; } = requestId;
        public GatewayProcess Gateway { get; } = gateway;
        public Task<byte[]> Ended { get; set; } = null!;
        /// <summary>How long after SIGTERM the stream's last byte came.</summary>
        public TimeSpan EndedAfter { get; set; }
    }

    private sealed class WholeRequest(Task<HttpResponseMessage> pending)
    {
        public string RequestId { get; private set; } = "";

        public async Task<(HttpStatusCode Status, string Body)> WaitAsync(TimeSpan timeout)
        {
            using var response = await pending.WaitAsync(timeout);
            RequestId = response.Headers.GetValues(ChatPipeline.RequestIdHeader).Single();
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }
    }

    private const int SigTerm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    // ---- what the caller received --------------------------------------------------------------------------------------

    private static KiroScenario Slow(int frames) => new()
    {
        Frames = [.. Enumerable.Range(0, frames).Select(i => KiroFrame.Text($"word{i} ")), KiroFrame.Metering(), KiroFrame.ContextUsage(1.5)],
        DelayBetweenFrames = Frame,
    };

    /// <summary>Parsed by the framework's own SSE parser, after checking that the body ends at an event boundary.</summary>
    private static List<SseItem<string>> Events(byte[] body)
    {
        var text = Encoding.UTF8.GetString(body);
        Assert.True(text.EndsWith("\n\n", StringComparison.Ordinal), "the stream was cut mid-event: ..." + text[^Math.Min(200, text.Length)..]);
        return [.. SseParser.Create(new MemoryStream(body)).Enumerate()];
    }

    private static void AssertCompleted(Door door, byte[] body)
    {
        var events = Events(body);
        switch (door)
        {
            case Door.Anthropic:
                Assert.Equal("message_stop", events[^1].EventType);
                Assert.DoesNotContain(events, e => e.EventType == "error");
                break;
            case Door.OpenAiChat:
                Assert.Equal("[DONE]", events[^1].Data);
                Assert.DoesNotContain(events, e => e.Data.StartsWith("{\"error\"", StringComparison.Ordinal));
                break;
            default:
                Assert.Equal("response.completed", events[^1].EventType);
                Assert.Equal("completed", JsonNode.Parse(events[^1].Data)!["response"]!["status"]!.GetValue<string>());
                break;
        }
    }

    private static void AssertEndedByShutdown(Door door, byte[] body)
    {
        var events = Events(body);
        Assert.True(events.Count > 3, "the long stream had sent text before the deadline");
        var last = events[^1];
        var json = JsonNode.Parse(last.Data)!;
        switch (door)
        {
            case Door.Anthropic:
                Assert.Equal("error", last.EventType);
                Assert.Equal("error", json["type"]!.GetValue<string>());
                Assert.Equal("overloaded_error", json["error"]!["type"]!.GetValue<string>());
                Assert.Contains("shutting down", json["error"]!["message"]!.GetValue<string>());
                Assert.DoesNotContain(events, e => e.EventType == "message_stop");
                break;
            case Door.OpenAiChat:
                // The gateway's mid-stream error contract: the error chunk is the last event, with no [DONE] that could read as a clean end.
                Assert.Equal("shutting_down", json["error"]!["code"]!.GetValue<string>());
                Assert.Equal("server_error", json["error"]!["type"]!.GetValue<string>());
                Assert.Contains("shutting down", json["error"]!["message"]!.GetValue<string>());
                Assert.DoesNotContain(events, e => e.Data == "[DONE]");
                break;
            default:
                Assert.Equal("response.failed", last.EventType);
                var response = json["response"]!;
                Assert.Equal("failed", response["status"]!.GetValue<string>());
                Assert.Equal("shutting_down", response["error"]!["code"]!.GetValue<string>());
                Assert.Contains("shutting down", response["error"]!["message"]!.GetValue<string>());
                Assert.False(string.IsNullOrEmpty(response["id"]?.GetValue<string>()));
                break;
        }
        // Every event before it is whole: each data line parses.
        foreach (var e in events.Where(e => e.Data != "[DONE]")) JsonNode.Parse(e.Data);
    }

    private static void AssertWholeAnswerRefused(Door door, HttpStatusCode status, string body)
    {
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        if (door == Door.Anthropic)
            Assert.Equal("overloaded_error", Wire.AssertAnthropicErrorJson(body, "shutting down")["type"]!.GetValue<string>());
        else
            Assert.Equal("shutting_down", Wire.AssertOpenAiErrorJson(body, "shutting down")["code"]!.GetValue<string>());
    }

    private static string PathOf(Door door) => door switch
    {
        Door.Anthropic => "/v1/messages",
        Door.OpenAiChat => "/v1/chat/completions",
        _ => "/v1/responses",
    };

    private static async Task AssertRefusesConnectionsAsync(int port)
    {
        for (var until = DateTime.UtcNow.AddSeconds(2); ; await Task.Delay(50))
        {
            using var client = new TcpClient();
            try
            {
                await client.ConnectAsync(IPAddress.Loopback, port).WaitAsync(TimeSpan.FromSeconds(2));
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
                return;
            }
            Assert.True(DateTime.UtcNow < until, "the gateway still accepted connections 2 s after SIGTERM");
        }
    }

    private sealed record UsageRow(string Status, string? ErrorKind, int HttpStatus, long InputTokens, long OutputTokens);

    private Dictionary<string, UsageRow> ReadUsage()
    {
        using var db = new SqliteConnection($"Data Source={Path.Combine(_dir, "gapura.db")};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var command = db.CreateCommand();
        command.CommandText = "SELECT request_id, status, error_kind, http_status, input_tokens, output_tokens FROM usage_records";
        using var reader = command.ExecuteReader();
        var rows = new Dictionary<string, UsageRow>();
        while (reader.Read())
            rows[reader.GetString(0)] = new UsageRow(reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetInt32(3), reader.GetInt64(4), reader.GetInt64(5));
        return rows;
    }
}
