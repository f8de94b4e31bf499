using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Formats;
using Microsoft.AspNetCore.Http;


namespace Gapura.Tests.Formats;

/// <summary>One SSE frame as a client would see it: an optional event name, the data, or a comment.</summary>
internal sealed record SseFrame(string? Event, string? Data, string? Comment)
{
    public JsonElement Json => JsonDocument.Parse(Data ?? throw new InvalidOperationException("frame has no data")).RootElement;
}

internal static class FormatTestKit
{
    public static JsonElement Json(string json) => JsonDocument.Parse(json).RootElement;

    public static ResponseContext Context(ChatRequest? request = null, int estimatedInput = 42)
        => new("resp_1", "test-model", DateTimeOffset.FromUnixTimeSeconds(1_700_000_000), request ?? Request(), estimatedInput);

    public static ChatRequest Request(bool includeUsage = false)
        => new() { Model = "test-model", Messages = [Message.Text(Role.User, "hi")], Stream = true, IncludeUsage = includeUsage };

    /// <summary>Runs a stream writer over a real pipe and parses what came out back into SSE frames.</summary>
    public static async Task<List<SseFrame>> RunAsync(Func<PipeWriter, SseWriter> create, params object[] steps)
        => ParseSse(await RunRawAsync(create, steps));

    /// <summary>Runs a stream writer over a real pipe and returns the exact text a client would receive.</summary>
    public static async Task<string> RunRawAsync(Func<PipeWriter, SseWriter> create, params object[] steps)
    {
        var pipe = new Pipe();
        var writer = create(pipe.Writer);
        foreach (var step in steps)
        {
            switch (step)
            {
                case StreamEvent e: await writer.WriteEventAsync(e, CancellationToken.None); break;
                case GatewayException error: await writer.WriteErrorAsync(error, CancellationToken.None); break;
                case "keep-alive": await writer.WriteKeepAliveAsync(CancellationToken.None); break;
                default: throw new ArgumentException($"unknown step {step}");
            }
        }
        await pipe.Writer.CompleteAsync();
        return await ReadAllAsync(pipe.Reader);
    }

    /// <summary>
    /// Runs a stream writer step by step and returns what a client could read after each step, before the next:
    /// events must leave when written, not when the stream ends.
    /// </summary>
    public static async Task<List<string>> ReadAfterEachStepAsync(Func<PipeWriter, SseWriter> create, params object[] steps)
    {
        var pipe = new Pipe();
        var writer = create(pipe.Writer);
        var received = new List<string>();
        foreach (var step in steps)
        {
            switch (step)
            {
                case StreamEvent e: await writer.WriteEventAsync(e, CancellationToken.None); break;
                case GatewayException error: await writer.WriteErrorAsync(error, CancellationToken.None); break;
                case "keep-alive": await writer.WriteKeepAliveAsync(CancellationToken.None); break;
                default: throw new ArgumentException($"unknown step {step}");
            }
            if (pipe.Reader.TryRead(out var result))
            {
                received.Add(Encoding.UTF8.GetString(result.Buffer));
                pipe.Reader.AdvanceTo(result.Buffer.End);
            }
            else received.Add("");
        }
        return received;
    }

    private static async Task<string> ReadAllAsync(PipeReader reader)
    {
        var ms = new MemoryStream();
        await reader.CopyToAsync(ms);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    public static List<SseFrame> ParseSse(string text)
    {
        Assert.EndsWith("\n\n", text);
        var frames = new List<SseFrame>();
        foreach (var block in text.Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            string? ev = null, data = null, comment = null;
            foreach (var line in block.Split('\n'))
            {
                if (line.StartsWith(':')) comment = line[1..].Trim();
                else if (line.StartsWith("event: ")) ev = line["event: ".Length..];
                else if (line.StartsWith("data: ")) data = data is null ? line["data: ".Length..] : data + "\n" + line["data: ".Length..];
                else throw new InvalidOperationException($"unexpected SSE line '{line}'");
            }
            frames.Add(new SseFrame(ev, data, comment));
        }
        return frames;
    }

    public static DefaultHttpContext HttpContext()
    {
        var context = new DefaultHttpContext();
        context.Response.Body = new MemoryStream();
        return context;
    }

    public static JsonElement Body(HttpResponse response)
    {
        var ms = (MemoryStream)response.Body;
        return JsonDocument.Parse(ms.ToArray()).RootElement;
    }

    public static GatewayException AssertBadRequest(Action parse, string expectedFragment)
    {
        var e = Assert.Throws<GatewayException>(parse);
        Assert.Equal(400, e.Status);
        Assert.Equal(ErrorKind.InvalidRequest, e.Kind);
        Assert.Contains(expectedFragment, e.Message);
        return e;
    }
}
