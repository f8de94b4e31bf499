using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Gapura.Tests.Integration;

/// <summary>One server-sent event as a client sees it: the event name (if any), its data, or a comment line.</summary>
public sealed record SseItem(string? Event, string? Data, string? Comment)
{
    public JsonNode? Json => Data is null or "[DONE]" ? null : JsonNode.Parse(Data);
}

/// <summary>
/// Raw-HTTP helpers for the integration tests: bodies in each dialect, the two error shapes, and an SSE
/// reader. Deliberately not the SDKs: these tests check the exact bytes a client receives.
/// </summary>
public static class Wire
{
    public const string Model = "claude-sonnet-4-5";

    public static string OpenAiBody(string text = "hi", bool stream = false, string? extra = null)
        => $$"""{"model":"{{Model}}","stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":{{JsonSerializer.Serialize(text)}}}]{{(extra is null ? "" : "," + extra)}}}""";

    public static string AnthropicBody(string text = "hi", bool stream = false, string? extra = null)
        => $$"""{"model":"{{Model}}","max_tokens":1024,"stream":{{(stream ? "true" : "false")}},"messages":[{"role":"user","content":{{JsonSerializer.Serialize(text)}}}]{{(extra is null ? "" : "," + extra)}}}""";

    public static HttpRequestMessage Post(string path, string body, bool anthropic = false)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (anthropic) request.Headers.TryAddWithoutValidation("anthropic-version", "2023-06-01");
        return request;
    }

    public static HttpRequestMessage OpenAi(string body) => Post("/v1/chat/completions", body);

    public static HttpRequestMessage Anthropic(string body) => Post("/v1/messages", body, anthropic: true);

    public static async Task<(HttpResponseMessage Response, string Body)> SendAsync(HttpClient http, HttpRequestMessage request)
    {
        using (request)
        {
            var response = await http.SendAsync(request);
            return (response, await response.Content.ReadAsStringAsync());
        }
    }

    /// <summary>Asserts OpenAI's <c>{"error":{"message","type",...}}</c> and returns the error object.</summary>
    public static JsonObject AssertOpenAiError(HttpResponseMessage response, string body, HttpStatusCode status, params string[] mentions)
    {
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.MediaType);
        var error = AssertOpenAiErrorJson(body, mentions);
        return error;
    }

    public static JsonObject AssertOpenAiErrorJson(string json, params string[] mentions)
    {
        var root = JsonNode.Parse(json)!.AsObject();
        Assert.False(root.ContainsKey("choices"), json);
        var error = Assert.IsType<JsonObject>(root["error"]);
        var message = error["message"]!.GetValue<string>();
        Assert.False(string.IsNullOrWhiteSpace(error["type"]?.GetValue<string>()), json);
        foreach (var m in mentions) Assert.Contains(m, message, StringComparison.OrdinalIgnoreCase);
        return error;
    }

    /// <summary>Asserts Anthropic's <c>{"type":"error","error":{"type","message"}}</c> and returns the error object.</summary>
    public static JsonObject AssertAnthropicError(HttpResponseMessage response, string body, HttpStatusCode status, params string[] mentions)
    {
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.MediaType);
        return AssertAnthropicErrorJson(body, mentions);
    }

    public static JsonObject AssertAnthropicErrorJson(string json, params string[] mentions)
    {
        var root = JsonNode.Parse(json)!.AsObject();
        Assert.Equal("error", root["type"]?.GetValue<string>());
        var error = Assert.IsType<JsonObject>(root["error"]);
        Assert.False(string.IsNullOrWhiteSpace(error["type"]?.GetValue<string>()), json);
        var message = error["message"]!.GetValue<string>();
        foreach (var m in mentions) Assert.Contains(m, message, StringComparison.OrdinalIgnoreCase);
        return error;
    }

    /// <summary>Parses an SSE body into events and comments, in order.</summary>
    public static List<SseItem> ParseSse(string text)
    {
        var items = new List<SseItem>();
        string? name = null;
        StringBuilder? data = null;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0)
            {
                if (data is not null || name is not null) items.Add(new SseItem(name, data?.ToString(), null));
                name = null;
                data = null;
            }
            else if (line.StartsWith(':')) items.Add(new SseItem(null, null, line[1..].Trim()));
            else if (line.StartsWith("event:", StringComparison.Ordinal)) name = line["event:".Length..].Trim();
            else if (line.StartsWith("data:", StringComparison.Ordinal))
            {
                var value = line["data:".Length..].TrimStart();
                if (data is null) data = new StringBuilder(value);
                else data.Append('\n').Append(value);
            }
        }
        if (data is not null || name is not null) items.Add(new SseItem(name, data?.ToString(), null));
        return items;
    }

    /// <summary>The data payloads of an OpenAI stream, <c>[DONE]</c> included.</summary>
    public static List<string> OpenAiData(List<SseItem> items) => [.. items.Where(i => i.Data is not null).Select(i => i.Data!)];

    /// <summary>Concatenated <c>delta.content</c> of an OpenAI stream.</summary>
    public static string OpenAiText(List<SseItem> items)
    {
        var text = new StringBuilder();
        foreach (var item in items)
        {
            if (item.Data is null or "[DONE]") continue;
            if (item.Json?["choices"] is JsonArray { Count: > 0 } choices && choices[0]?["delta"]?["content"] is JsonValue v) text.Append(v.GetValue<string>());
        }
        return text.ToString();
    }

    /// <summary>The finish_reason of an OpenAI stream, or null when none was sent.</summary>
    public static string? OpenAiFinishReason(List<SseItem> items)
    {
        foreach (var item in items)
        {
            if (item.Data is null or "[DONE]") continue;
            if (item.Json?["choices"] is JsonArray { Count: > 0 } choices && choices[0]?["finish_reason"] is JsonValue v) return v.GetValue<string>();
        }
        return null;
    }

    /// <summary>Concatenated text_delta of an Anthropic stream.</summary>
    public static string AnthropicText(List<SseItem> items)
    {
        var text = new StringBuilder();
        foreach (var item in items.Where(i => i.Event == "content_block_delta"))
        {
            if (item.Json?["delta"] is JsonObject delta && delta["type"]?.GetValue<string>() == "text_delta") text.Append(delta["text"]!.GetValue<string>());
        }
        return text.ToString();
    }

    public static string? AnthropicStopReason(List<SseItem> items)
        => items.LastOrDefault(i => i.Event == "message_delta")?.Json?["delta"]?["stop_reason"]?.GetValue<string>();

    /// <summary>Reads a stream event by event as it arrives, with the time each one was read.</summary>
    public static async Task<(HttpResponseMessage Response, List<(TimeSpan At, SseItem Item)> Items)> StreamTimedAsync(HttpClient http, HttpRequestMessage request)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var items = new List<(TimeSpan, SseItem)>();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var block = new StringBuilder();
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length > 0)
            {
                block.Append(line).Append('\n');
                continue;
            }
            foreach (var item in ParseSse(block.ToString())) items.Add((clock.Elapsed, item));
            block.Clear();
        }
        foreach (var item in ParseSse(block.ToString())) items.Add((clock.Elapsed, item));
        return (response, items);
    }

    /// <summary>Reads a streamed response whole; fails when the stream is not SSE with status 200.</summary>
    public static async Task<(HttpResponseMessage Response, List<SseItem> Items, string Raw)> StreamAsync(HttpClient http, HttpRequestMessage request)
    {
        var (response, body) = await SendAsync(http, request);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"expected a 200 stream, got {(int)response.StatusCode}: {body}");
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return (response, ParseSse(body), body);
    }
}
