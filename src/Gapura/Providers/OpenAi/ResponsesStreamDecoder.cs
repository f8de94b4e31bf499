using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gapura.Conversations;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// Decodes a Responses API answer into canonical events: the SSE stream of semantic events
/// (<c>response.output_text.delta</c> …, each event's JSON <c>type</c> decides) or a whole
/// <c>response</c> object when the upstream answered with JSON. Text and refusals become text, reasoning
/// summaries (and raw reasoning text where a server sends it) become thinking, <c>function_call</c> items
/// become tool calls keyed by their <c>call_id</c>. <c>response.completed</c> ends the answer,
/// <c>response.incomplete</c> for <c>max_output_tokens</c> ends it with <see cref="StopReason.MaxTokens"/>,
/// and <c>response.failed</c> or an <c>error</c> event is a <see cref="GatewayException"/> carrying the
/// upstream's message.
/// </summary>
internal sealed class ResponsesStreamDecoder(string label, int estimatedInputTokens) : SseStreamDecoder(label)
{
    private sealed class Call(int index)
    {
        public int Index { get; } = index;
        public bool ArgumentsSeen { get; set; }
    }

    /// <summary>Function calls by item id; a call stays open until its <c>output_item.done</c>.</summary>
    private readonly Dictionary<string, Call> _calls = new(StringComparer.Ordinal);
    private Call? _openCall;
    private bool _emitted;
    private int _outputEstimate;

    protected override void OnEvent(string? eventName, ReadOnlyMemory<byte> data, List<StreamEvent> output)
    {
        using var doc = ParseJson(data);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) return;
        var type = Str(root, "type") ?? eventName;
        switch (type)
        {
            case "response.output_item.added":
                if (root.TryGetProperty("item", out var added) && Str(added, "type") == "function_call") StartCall(added, ItemKey(root, added), output);
                break;
            case "response.output_text.delta" or "response.refusal.delta":
                Text(Str(root, "delta"), output);
                break;
            case "response.reasoning_summary_part.added":
                // Summary parts are separate paragraphs; the canonical reasoning is one text.
                if (root.TryGetProperty("summary_index", out var part) && part.ValueKind == JsonValueKind.Number && part.GetInt32() > 0)
                    Reasoning("\n\n", output);
                break;
            case "response.reasoning_summary_text.delta" or "response.reasoning_text.delta":
                Reasoning(Str(root, "delta"), output);
                break;
            case "response.function_call_arguments.delta":
                if (_calls.TryGetValue(ItemKey(root, default), out var call)) Arguments(call, Str(root, "delta"), output);
                break;
            case "response.function_call_arguments.done":
                // Servers that send only the whole arguments still deliver them.
                if (_calls.TryGetValue(ItemKey(root, default), out var done) && !done.ArgumentsSeen) Arguments(done, Str(root, "arguments"), output);
                break;
            case "response.output_item.done":
                if (root.TryGetProperty("item", out var item) && Str(item, "type") == "function_call") EndCall(item, ItemKey(root, item), output);
                break;
            case "response.completed" or "response.incomplete" or "response.failed":
                if (!root.TryGetProperty("response", out var response) || response.ValueKind != JsonValueKind.Object)
                    throw new GatewayException(ErrorKind.UpstreamUnavailable, $"{Label} sent {type} without its response object.", 502);
                Finish(response, output);
                break;
            case "error":
                throw OpenAiErrors.FromStream(Label, root);
        }
    }

    protected override void EndOfBody(List<StreamEvent> output) => throw BrokenOff();

    /// <summary>A whole <c>response</c> object (a non-streamed answer): its output items, then its end.</summary>
    public void DecodeWhole(JsonElement response, List<StreamEvent> output)
    {
        if (response.ValueKind != JsonValueKind.Object)
            throw new GatewayException(ErrorKind.UpstreamUnavailable, $"{Label} answered with something other than a response object.", 502);
        Finish(response, output);
    }

    /// <summary>
    /// Ends the answer from the final <c>response</c> object. When nothing was streamed before it (a whole JSON
    /// answer, or a server that sends only the final event), its <c>output</c> items are the answer.
    /// </summary>
    private void Finish(JsonElement response, List<StreamEvent> output)
    {
        var status = Str(response, "status");
        if (status == "failed") throw Failure(Label, response);
        if (!_emitted && response.TryGetProperty("output", out var items) && items.ValueKind == JsonValueKind.Array)
            foreach (var item in items.EnumerateArray()) DecodeItem(item, output);
        CloseCall(output);
        IsDone = true;
        var stop = status switch
        {
            "incomplete" when response.TryGetProperty("incomplete_details", out var d) && d.ValueKind == JsonValueKind.Object
                              && Str(d, "reason") == "max_output_tokens" => StopReason.MaxTokens,
            _ when _calls.Count > 0 => StopReason.ToolUse,
            _ => StopReason.EndTurn,
        };
        var usage = response.TryGetProperty("usage", out var u) && u.ValueKind == JsonValueKind.Object
            ? ReadUsage(u)
            : new Usage(estimatedInputTokens, _outputEstimate, Estimated: true);
        output.Add(new MessageEnd(stop, usage));
    }

    private void DecodeItem(JsonElement item, List<StreamEvent> output)
    {
        switch (Str(item, "type"))
        {
            case "reasoning":
                // The summary when asked for, else raw reasoning text where a server sends it.
                foreach (var field in (ReadOnlySpan<string>)["summary", "content"])
                {
                    if (!item.TryGetProperty(field, out var parts) || parts.ValueKind != JsonValueKind.Array) continue;
                    var first = true;
                    foreach (var part in parts.EnumerateArray())
                    {
                        if (!first) Reasoning("\n\n", output);
                        Reasoning(Str(part, "text"), output);
                        first = false;
                    }
                }
                break;
            case "message":
                if (item.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Array)
                    foreach (var part in content.EnumerateArray()) Text(Str(part, "text") ?? Str(part, "refusal"), output);
                break;
            case "function_call":
                var key = Str(item, "id") ?? Str(item, "call_id") ?? _calls.Count.ToString(System.Globalization.CultureInfo.InvariantCulture);
                StartCall(item, key, output);
                EndCall(item, key, output);
                break;
        }
    }

    private void Text(string? text, List<StreamEvent> output)
    {
        if (string.IsNullOrEmpty(text)) return;
        CloseCall(output);
        _emitted = true;
        _outputEstimate += TokenEstimator.Count(text);
        output.Add(new TextDelta(text));
    }

    private void Reasoning(string? text, List<StreamEvent> output)
    {
        if (string.IsNullOrEmpty(text)) return;
        CloseCall(output);
        _emitted = true;
        _outputEstimate += TokenEstimator.Count(text);
        output.Add(new ReasoningDelta(text));
    }

    private void StartCall(JsonElement item, string key, List<StreamEvent> output)
    {
        if (_calls.ContainsKey(key)) return;
        CloseCall(output);
        _emitted = true;
        var call = new Call(_calls.Count);
        _calls[key] = call;
        _openCall = call;
        var id = Str(item, "call_id") is { Length: > 0 } given ? given : "call_" + Guid.NewGuid().ToString("N")[..24];
        output.Add(new ToolCallStart(call.Index, id, Str(item, "name") ?? ""));
    }

    private void Arguments(Call call, string? fragment, List<StreamEvent> output)
    {
        if (string.IsNullOrEmpty(fragment)) return;
        if (call != _openCall)
            throw new GatewayException(ErrorKind.UpstreamUnavailable,
                $"{Label} interleaved the arguments of several function calls, which the gateway cannot relay in order.", 502);
        call.ArgumentsSeen = true;
        _outputEstimate += TokenEstimator.Count(fragment);
        output.Add(new ToolCallDelta(call.Index, fragment));
    }

    private void EndCall(JsonElement item, string key, List<StreamEvent> output)
    {
        if (!_calls.TryGetValue(key, out var call))
        {
            StartCall(item, key, output);
            call = _calls[key];
        }
        if (call != _openCall) return;
        if (!call.ArgumentsSeen) Arguments(call, Str(item, "arguments"), output);
        CloseCall(output);
    }

    private void CloseCall(List<StreamEvent> output)
    {
        if (_openCall is null) return;
        output.Add(new ToolCallEnd(_openCall.Index));
        _openCall = null;
    }

    /// <summary>Events name their item by <c>item_id</c> (or the item's own <c>id</c>); the output index is the fallback.</summary>
    private static string ItemKey(JsonElement evt, JsonElement item)
    {
        if (Str(evt, "item_id") is { } id) return id;
        if (item.ValueKind == JsonValueKind.Object && Str(item, "id") is { } own) return own;
        return evt.TryGetProperty("output_index", out var i) && i.ValueKind == JsonValueKind.Number ? "#" + i.GetRawText() : "#";
    }

    /// <summary>Responses usage: <c>input_tokens</c> includes the cached ones; the canonical input count does not.</summary>
    internal static Usage ReadUsage(JsonElement usage)
    {
        static int Int(JsonElement obj, string name)
            => obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n : 0;
        var input = Int(usage, "input_tokens");
        var cached = usage.TryGetProperty("input_tokens_details", out var inDetails) ? Int(inDetails, "cached_tokens") : 0;
        var reasoning = usage.TryGetProperty("output_tokens_details", out var outDetails) ? Int(outDetails, "reasoning_tokens") : 0;
        return new Usage(Math.Max(0, input - cached), Int(usage, "output_tokens"), CacheReadTokens: cached, ReasoningTokens: reasoning);
    }

    /// <summary>A <c>response.failed</c>: the upstream's error code and message.</summary>
    internal static GatewayException Failure(string label, JsonElement response)
        => response.TryGetProperty("error", out var error) && error.ValueKind == JsonValueKind.Object
            ? OpenAiErrors.FromStream(label, error)
            : new GatewayException(ErrorKind.UpstreamUnavailable, $"{label} reported that the response failed, without saying why.", 502);

    private static string? Str(JsonElement obj, string name)
        => obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>
    /// Decodes an upstream answer as it arrives: SSE, or a whole JSON <c>response</c> when the upstream answered
    /// without streaming. The response is left for its owner to dispose.
    /// </summary>
    public static async IAsyncEnumerable<StreamEvent> ReadAsync(HttpResponseMessage response, ResponsesStreamDecoder decoder,
        [EnumeratorCancellation] CancellationToken ct = default)
    {
        var body = await response.Content.ReadAsStreamAsync(ct);
        if (!IsJson(response.Content.Headers.ContentType))
        {
            await foreach (var e in ReadAsync(body, decoder, ct)) yield return e;
            yield break;
        }
        JsonDocument doc;
        try
        {
            doc = await JsonDocument.ParseAsync(body, cancellationToken: ct);
        }
        catch (JsonException e)
        {
            throw new GatewayException(ErrorKind.UpstreamUnavailable, $"{decoder.Label} sent a response that is not JSON: {e.Message}", 502, inner: e);
        }
        var events = new List<StreamEvent>();
        using (doc) decoder.DecodeWhole(doc.RootElement, events);
        foreach (var e in events) yield return e;
    }

    internal static bool IsJson(MediaTypeHeaderValue? contentType)
        => contentType?.MediaType is { } media && media.EndsWith("json", StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// Reads a streamed Responses answer to its end and keeps the final <c>response</c> object: how a
/// non-streaming client is served by a stream-only upstream (the ChatGPT Codex backend) on the passthrough
/// path. Should the final object leave its <c>output</c> empty, the items sent one by one
/// (<c>response.output_item.done</c>) fill it, so the client never gets an answer without its output.
/// </summary>
internal sealed class ResponsesStreamCollector(string label) : SseStreamDecoder(label)
{
    private readonly SortedDictionary<int, JsonNode> _items = [];
    private JsonObject? _response;

    protected override void OnEvent(string? eventName, ReadOnlyMemory<byte> data, List<StreamEvent> output)
    {
        using var doc = ParseJson(data);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) return;
        var type = root.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : eventName;
        switch (type)
        {
            case "response.output_item.done"
                when root.TryGetProperty("output_index", out var index) && index.TryGetInt32(out var i) && root.TryGetProperty("item", out var item):
                _items[i] = JsonNode.Parse(item.GetRawText())!;
                break;
            case "response.completed" or "response.incomplete" or "response.failed":
                if (!root.TryGetProperty("response", out var response) || response.ValueKind != JsonValueKind.Object)
                    throw new GatewayException(ErrorKind.UpstreamUnavailable, $"{Label} sent {type} without its response object.", 502);
                if (type == "response.failed") throw ResponsesStreamDecoder.Failure(Label, response);
                _response = JsonNode.Parse(response.GetRawText())!.AsObject();
                IsDone = true;
                break;
            case "error":
                throw OpenAiErrors.FromStream(Label, root);
        }
    }

    protected override void EndOfBody(List<StreamEvent> output) => throw BrokenOff();

    /// <summary>The final response object as JSON; call once the stream is done.</summary>
    public byte[] Result()
    {
        var response = _response ?? throw BrokenOff();
        if (response["output"] is not JsonArray { Count: > 0 })
            response["output"] = new JsonArray([.. _items.Values.Select(v => v.DeepClone())]);
        return System.Text.Encoding.UTF8.GetBytes(response.ToJsonString());
    }

    /// <summary>Reads <paramref name="body"/> to the final event and returns the whole response.</summary>
    public static async Task<byte[]> CollectAsync(Stream body, string label, CancellationToken ct)
    {
        var collector = new ResponsesStreamCollector(label);
        await foreach (var _ in ReadAsync(body, collector, ct)) { }
        return collector.Result();
    }
}
