using System.Net;
using System.Text;
using System.Text.Json;

namespace Gapura.Tests.Fuzz;

/// <summary>The error body a caller of a path expects: OpenAI's, Anthropic's, or the admin API's (OpenAI-like, with <c>param</c>).</summary>
internal enum ErrorShape
{
    OpenAi,
    Anthropic,
    Admin,
}

/// <summary>One generated request, everything needed to send it again and to say what it was.</summary>
internal sealed record FuzzCase(
    int Index,
    HttpMethod Method,
    string Path,
    FuzzBody? Body,
    string? ContentType,
    IReadOnlyList<KeyValuePair<string, string>> Headers,
    ErrorShape Shape,
    string Credential,
    string Route)
{
    /// <summary>The shape of a 401, where it differs: a refused key is answered before a route reads its body (<c>/v1/route</c>'s door).</summary>
    public ErrorShape? RefusedShape { get; init; }

    public HttpRequestMessage ToRequest()
    {
        var request = new HttpRequestMessage(Method, Path);
        if (Body is not null)
        {
            request.Content = new ByteArrayContent(Body.Bytes);
            if (ContentType is not null) request.Content.Headers.TryAddWithoutValidation("Content-Type", ContentType);
        }
        foreach (var (name, value) in Headers)
            if (!request.Headers.TryAddWithoutValidation(name, value)) request.Content?.Headers.TryAddWithoutValidation(name, value);
        return request;
    }

    public override string ToString()
    {
        var text = new StringBuilder($"#{Index} {Method} {(Path.Length > 200 ? $"{Path[..200]}… ({Path.Length} chars)" : Path)} [{Route}] as {Credential}");
        if (Body is not null) text.Append($"\n    body: {Body.How}; content-type {ContentType ?? "(none)"}; {Body.Bytes.Length} bytes: {JsonMutator.Preview(Body.Bytes[..Math.Min(400, Body.Bytes.Length)])}");
        foreach (var (name, value) in Headers.Where(h => h.Key != "Authorization" && h.Key != "x-api-key" && h.Key != "X-CSRF-Token"))
            text.Append($"\n    header {name}: {(value.Length > 80 ? value[..80] + "…" : value)}");
        return text.ToString();
    }
}

/// <summary>What one case got back, and what was wrong with it (null when nothing).</summary>
internal sealed record FuzzOutcome(FuzzCase Case, int Status, string? Problem, string BodyStart);

/// <summary>The checks every answer must pass: no 5xx (bar an upstream's own failure), and a 4xx in the caller's error shape.</summary>
internal static class FuzzChecks
{
    /// <summary>Null when <paramref name="status"/> and <paramref name="body"/> are what the caller of <paramref name="shape"/> can act on.</summary>
    public static string? Problem(int status, string? mediaType, string body, ErrorShape shape, bool upstreamInvolved)
    {
        if (status >= 500 && !(upstreamInvolved && status is 502 or 503 or 504))
            return status == 500 ? "a 500" : $"a {status} though no upstream was involved";
        if (status < 400) return status >= 300 ? $"a {status} redirect" : null;
        if (mediaType != "application/json") return $"error with content-type {mediaType ?? "(none)"}";
        return ShapeProblem(body, shape);
    }

    public static string? ShapeProblem(string body, ErrorShape shape)
    {
        JsonElement root;
        try
        {
            using var doc = JsonDocument.Parse(body);
            root = doc.RootElement.Clone();
        }
        catch (JsonException)
        {
            return "error body is not JSON";
        }
        if (root.ValueKind != JsonValueKind.Object) return "error body is not an object";
        if (shape == ErrorShape.Anthropic && !(root.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "error"))
            return "Anthropic error without \"type\":\"error\"";
        if (!root.TryGetProperty("error", out var error) || error.ValueKind != JsonValueKind.Object) return $"{shape} error without an \"error\" object";
        foreach (var field in new[] { "message", "type" })
            if (!error.TryGetProperty(field, out var v) || v.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(v.GetString()))
                return $"{shape} error without a string \"error.{field}\"";
        if (shape != ErrorShape.Anthropic && root.TryGetProperty("type", out _)) return $"{shape} error with Anthropic's top-level \"type\"";
        return null;
    }

    /// <summary>A 200 stream must end the way its protocol ends (or carry an error in the caller's shape), never just stop.</summary>
    public static string? StreamProblem(string body, string route)
    {
        var items = Integration.Wire.ParseSse(body);
        var data = items.Where(i => i.Data is not null).ToList();
        if (data.Count == 0) return "a 200 stream with no events";
        if (route.Contains("/messages", StringComparison.Ordinal))
            return items.Any(i => i.Event is "message_stop") ? null
                : items.FirstOrDefault(i => i.Event == "error") is { Data: { } e } ? ShapeProblem(e, ErrorShape.Anthropic)
                : "an Anthropic stream without message_stop or error";
        if (route.Contains("/responses", StringComparison.Ordinal))
            return items.Any(i => i.Event is "response.completed" or "response.incomplete" or "response.failed") ? null
                : items.FirstOrDefault(i => i.Event == "error") is { Data: { } e } ? null
                : "a Responses stream without response.completed/incomplete/failed or error";
        return data[^1].Data == "[DONE]" || data.Any(d => d.Data!.Contains("\"error\"", StringComparison.Ordinal)) ? null : "a chat stream without [DONE]";
    }
}
