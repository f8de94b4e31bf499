using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Formats;

/// <summary>Writing JSON bodies and SSE framing straight into the response pipe.</summary>
internal static class JsonResponses
{
    /// <summary>
    /// Relaxed escaping, for every body the gateway writes to a client or an upstream: they are API JSON, never embedded
    /// in HTML. The default encoder writes every non-ASCII letter, '&lt;', '&amp;' and '+' as a six-byte escape: it would
    /// triple CJK or accented text on the streaming path, and for a base64 image (full of '+') it rents a buffer six
    /// times the image's length to escape into — 200 MB of pooled arrays kept after eight 4 MB screenshots.
    /// </summary>
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static async Task WriteAsync<TState>(HttpResponse response, int status, TState state, Action<Utf8JsonWriter, TState> write, CancellationToken ct)
    {
        response.StatusCode = status;
        response.ContentType = "application/json";
        using (var writer = new Utf8JsonWriter(response.BodyWriter, WriterOptions))
            write(writer, state);
        await response.BodyWriter.FlushAsync(ct);
    }

    /// <summary><c>Retry-After</c> when the error knows when to come back; <c>x-should-retry: false</c> when coming back cannot help.</summary>
    public static void SetRetryAfter(HttpResponse response, GatewayException error)
    {
        if (error.RetryAfter is { } after && after > TimeSpan.Zero)
            response.Headers.RetryAfter = ((long)Math.Ceiling(after.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        if (error.IsFinal) response.Headers["x-should-retry"] = "false";
    }

    /// <summary>
    /// Headers every SSE response needs; call before the first byte. <c>X-Accel-Buffering: no</c> stops
    /// nginx-style reverse proxies in front of the gateway from holding back events.
    /// </summary>
    public static void PrepareEventStream(HttpResponse response)
    {
        response.StatusCode = 200;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
    }

    public static long UnixSeconds(DateTimeOffset time) => time.ToUnixTimeSeconds();
}
