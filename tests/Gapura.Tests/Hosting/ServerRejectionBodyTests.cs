using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Hosting;

/// <summary>
/// Requests the web server itself refuses before any endpoint runs (headers over its limit, a NUL in the target, a
/// malformed header line, a request line over its limit, an unknown HTTP version), sent as raw bytes to a real gateway: each answer has its
/// status and a small JSON error in the shape of the door the path names.
/// </summary>
public sealed class ServerRejectionBodyTests : IClassFixture<GatewayFixture>
{
    private readonly GatewayFixture _gateway;

    public ServerRejectionBodyTests(GatewayFixture gateway) => _gateway = gateway;

    [Theory]
    [InlineData("/v1/messages", "anthropic")]
    [InlineData("/v1/chat/completions", "openai")]
    [InlineData("/admin/api/users", "admin")]
    public async Task Headers_over_the_limit_are_a_431_with_a_json_body(string path, string shape)
    {
        var request = $"POST {path} HTTP/1.1\r\nHost: x\r\nX-Big: {new string('a', 40 * 1024)}\r\nContent-Length: 0\r\n\r\n";

        var (status, headers, body) = await SendRawAsync(Encoding.ASCII.GetBytes(request));

        Assert.Equal(431, status);
        AssertErrorShape(shape, headers, body);
    }

    [Theory]
    [InlineData("/v1/messages", "anthropic")]
    [InlineData("/v1/responses", "openai")]
    [InlineData("/admin/api/me", "admin")]
    [InlineData("/elsewhere", "openai")]
    public async Task A_nul_byte_in_the_path_is_a_400_with_a_json_body(string path, string shape)
    {
        var bytes = Encoding.ASCII.GetBytes($"GET {path}\0x HTTP/1.1\r\nHost: x\r\n\r\n");

        var (status, headers, body) = await SendRawAsync(bytes);

        Assert.Equal(400, status);
        AssertErrorShape(shape, headers, body);
    }

    [Fact]
    public async Task A_malformed_header_line_is_a_400_with_a_json_body()
    {
        var (status, headers, body) = await SendRawAsync(Encoding.ASCII.GetBytes("POST /v1/messages HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"));

        Assert.Equal(400, status);
        AssertErrorShape("anthropic", headers, body);
    }

    [Fact]
    public async Task An_unsupported_http_version_is_refused_with_a_json_body()
    {
        var (status, headers, body) = await SendRawAsync(Encoding.ASCII.GetBytes("GET /v1/models HTTP/1.7\r\nHost: x\r\n\r\n"));

        Assert.Equal(505, status);
        AssertErrorShape("openai", headers, body);
    }

    [Fact]
    public async Task A_request_line_over_the_limit_is_a_414_with_a_json_body()
    {
        var request = $"GET /v1/messages?q={new string('a', 16 * 1024)} HTTP/1.1\r\nHost: x\r\n\r\n";

        var (status, headers, body) = await SendRawAsync(Encoding.ASCII.GetBytes(request));

        Assert.Equal(414, status);
        AssertErrorShape("anthropic", headers, body);
    }

    [Fact]
    public async Task A_rejection_after_a_good_request_on_the_same_connection_still_has_its_body()
    {
        var good = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        var bad = $"GET /admin/api/me\0 HTTP/1.1\r\nHost: x\r\n\r\n";

        var text = await SendRawTextAsync(Encoding.ASCII.GetBytes(good + bad));

        var second = text.IndexOf("HTTP/1.1 400", StringComparison.Ordinal);
        Assert.True(second > 0, text);
        var (status, headers, body) = Parse(text[second..]);
        Assert.Equal(400, status);
        AssertErrorShape("admin", headers, body);
    }

    [Fact]
    public async Task Ordinary_answers_pass_through_unchanged()
    {
        using var http = _gateway.Http(apiKey: null);
        using var missing = await http.GetAsync("/v1/models");
        var body = await missing.Content.ReadAsStringAsync();

        Assert.Equal(401, (int)missing.StatusCode);
        Assert.Equal("authentication_error", JsonNode.Parse(body)!["error"]!["type"]!.GetValue<string>());
        using var health = await http.GetAsync("/health");
        Assert.True(health.IsSuccessStatusCode, $"{(int)health.StatusCode} {string.Join("\n", _gateway.Logs.Lines.Where(l => l.Contains("Exception")).Take(2))}");
    }

    private static void AssertErrorShape(string shape, IReadOnlyDictionary<string, string> headers, string body)
    {
        Assert.StartsWith("application/json", headers.GetValueOrDefault("content-type", ""));
        Assert.Equal(Encoding.UTF8.GetByteCount(body).ToString(System.Globalization.CultureInfo.InvariantCulture), headers.GetValueOrDefault("content-length"));
        var json = JsonNode.Parse(body)!.AsObject();
        var error = json["error"]!.AsObject();
        Assert.False(string.IsNullOrWhiteSpace(error["message"]!.GetValue<string>()));
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        switch (shape)
        {
            case "anthropic":
                Assert.Equal("error", json["type"]!.GetValue<string>());
                break;
            case "openai":
                Assert.False(json.ContainsKey("type"));
                Assert.True(error.ContainsKey("code") && error.ContainsKey("param"), body);
                break;
            default:
                Assert.False(json.ContainsKey("type"));
                Assert.False(error.ContainsKey("code"), body);
                break;
        }
    }

    private async Task<(int Status, IReadOnlyDictionary<string, string> Headers, string Body)> SendRawAsync(byte[] request)
        => Parse(await SendRawTextAsync(request));

    /// <summary>Sends the bytes on a fresh connection and reads until the server closes it (bounded at 10 s).</summary>
    private async Task<string> SendRawTextAsync(byte[] request)
    {
        var uri = new Uri(_gateway.BaseUrl);
        using var client = new TcpClient();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await client.ConnectAsync(uri.Host, uri.Port, timeout.Token);
        var stream = client.GetStream();
        try
        {
            await stream.WriteAsync(request, timeout.Token);
        }
        catch (IOException)
        {
            // The server may answer and close before it has read everything; the answer is still there to read.
        }
        var received = new MemoryStream();
        var buffer = new byte[8192];
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, timeout.Token)) > 0) received.Write(buffer, 0, n);
        }
        catch (IOException) when (received.Length > 0)
        {
            // A reset after the answer (unread request bytes) ends the read.
        }
        return Encoding.UTF8.GetString(received.ToArray());
    }

    private static (int Status, IReadOnlyDictionary<string, string> Headers, string Body) Parse(string text)
    {
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.True(end > 0, "no complete response head: " + text);
        var lines = text[..end].Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).ToDictionary(p => p[0].Trim().ToLowerInvariant(), p => p[1].Trim());
        var rest = text[(end + 4)..];
        var length = headers.TryGetValue("content-length", out var cl) ? int.Parse(cl, System.Globalization.CultureInfo.InvariantCulture) : rest.Length;
        return (status, headers, rest[..Math.Min(length, rest.Length)]);
    }
}
