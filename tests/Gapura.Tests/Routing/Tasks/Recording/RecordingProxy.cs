using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Gapura.Tests.Routing.Tasks.Recording;

/// <summary>
/// A recording HTTP proxy on 127.0.0.1 (port 0) between a real client and the gateway: every POST it sees is written
/// to <see cref="Directory"/> as one JSON file (client, situation, the label the recorder gave it, door, path, headers
/// without credentials, body), then forwarded unchanged; the answer streams back as it arrives. Part of the recorder
/// tool (<see cref="ClientRecorder"/>), never of the test run.
/// </summary>
internal sealed class RecordingProxy(string target, string directory) : IAsyncDisposable
{
    /// <summary>Headers that carry credentials or are the proxy's own business; never stored.</summary>
    private static readonly HashSet<string> Dropped = new(StringComparer.OrdinalIgnoreCase)
        { "authorization", "x-api-key", "cookie", "set-cookie", "proxy-authorization", "host", "content-length", "connection", "transfer-encoding" };

    private readonly HttpClient _http = new(new SocketsHttpHandler { AutomaticDecompression = System.Net.DecompressionMethods.None })
        { Timeout = TimeSpan.FromSeconds(150) };
    private WebApplication? _app;
    private int _sequence;

    public string Directory { get; } = directory;
    public string BaseUrl { get; private set; } = "";

    /// <summary>What the next requests are: set by the recorder before it runs a client.</summary>
    public (string Client, string Situation, string ExpectedTask) Current { get; set; } = ("unknown", "unknown", "unknown");

    public List<string> Written { get; } = [];

    public async Task StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        _app = builder.Build();
        _app.Run(ForwardAsync);
        await _app.StartAsync();
        BaseUrl = _app.Urls.First();
    }

    private async Task ForwardAsync(HttpContext context)
    {
        var request = context.Request;
        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, context.RequestAborted);
        var body = buffer.ToArray();
        var pathAndQuery = request.Path + request.QueryString;

        if (HttpMethods.IsPost(request.Method) && body.Length > 0) Save(request, pathAndQuery, body);

        using var forward = new HttpRequestMessage(new HttpMethod(request.Method), target.TrimEnd('/') + pathAndQuery);
        if (body.Length > 0) forward.Content = new ByteArrayContent(body);
        foreach (var (name, values) in request.Headers)
        {
            if (name.Equals("host", StringComparison.OrdinalIgnoreCase) || name.Equals("content-length", StringComparison.OrdinalIgnoreCase)) continue;
            if (!forward.Headers.TryAddWithoutValidation(name, (IEnumerable<string>)values!)) forward.Content?.Headers.TryAddWithoutValidation(name, (IEnumerable<string>)values!);
        }
        using var answer = await _http.SendAsync(forward, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted);
        context.Response.StatusCode = (int)answer.StatusCode;
        foreach (var (name, values) in answer.Headers.Concat(answer.Content.Headers))
        {
            if (name.Equals("transfer-encoding", StringComparison.OrdinalIgnoreCase)) continue;
            context.Response.Headers[name] = values.ToArray();
        }
        await using var stream = await answer.Content.ReadAsStreamAsync(context.RequestAborted);
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, context.RequestAborted)) > 0)
        {
            await context.Response.Body.WriteAsync(chunk.AsMemory(0, read), context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
        }
    }

    private void Save(HttpRequest request, string pathAndQuery, byte[] body)
    {
        JsonNode? parsed;
        try { parsed = JsonNode.Parse(body); }
        catch (JsonException) { return; }
        var headers = new JsonObject();
        foreach (var (name, values) in request.Headers.OrderBy(h => h.Key, StringComparer.OrdinalIgnoreCase))
            if (!Dropped.Contains(name)) headers[name.ToLowerInvariant()] = values.ToString();
        var path = request.Path.Value ?? "";
        var door = path.EndsWith("/messages", StringComparison.Ordinal) ? "anthropic-messages"
            : path.EndsWith("/chat/completions", StringComparison.Ordinal) ? "openai-chat"
            : path.EndsWith("/responses", StringComparison.Ordinal) ? "openai-responses" : "other";
        var (client, situation, expected) = Current;
        var seq = Interlocked.Increment(ref _sequence);
        var record = new JsonObject
        {
            ["client"] = client,
            ["situation"] = situation,
            ["expected_task"] = expected,
            ["door"] = door,
            ["path"] = pathAndQuery,
            ["headers"] = headers,
            ["body"] = parsed,
        };
        var file = Path.Combine(Directory, $"{client}--{situation}--{seq:000}.json");
        lock (Written)
        {
            File.WriteAllText(file, record.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
            Written.Add(file);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync();
        _http.Dispose();
    }
}
