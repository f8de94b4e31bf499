using System.Buffers;
using System.Text.Json;
using Gapura.Conversations;
using Gapura.Conversations.Stored;

namespace Gapura.Formats.Responses;

/// <summary>
/// The kept items a request refers to, looked up before it is parsed: the previous response's input and output items
/// (<see cref="Prefix"/>, in order) and every item an <c>item_reference</c> names, by id.
/// </summary>
internal sealed class ResolvedInput(string? previousResponseId, IReadOnlyList<JsonElement> prefix, IReadOnlyDictionary<string, JsonElement> items)
{
    public string? PreviousResponseId { get; } = previousResponseId;
    public IReadOnlyList<JsonElement> Prefix { get; } = prefix;
    public IReadOnlyDictionary<string, JsonElement> Items { get; } = items;
}

/// <summary>
/// What a kept Responses answer holds: <c>{"input":[items…],"response":{the response object}}</c>. The input is the whole
/// conversation the answer was given — the previous response's items first, references replaced by the items they
/// named, every item with an id — so continuing from it needs that one answer, never a chain.
/// </summary>
internal static class ResponsesState
{
    /// <summary>
    /// Reads the kept answers <paramref name="body"/> refers to, or null when it refers to none. An unknown previous
    /// response is a 400 (<c>previous_response_not_found</c>, as OpenAI answers), an unknown item a 404; another user's
    /// answers are unknown.
    /// </summary>
    public static async Task<ResolvedInput?> ResolveAsync(ResponseStore store, JsonElement body, long userId, CancellationToken ct)
    {
        if (body.ValueKind != JsonValueKind.Object) return null;
        string? previousId = null;
        if (body.TryGetProperty("previous_response_id", out var previous) && previous.ValueKind == JsonValueKind.String) previousId = previous.GetString();
        List<string>? referenced = null;
        if (body.TryGetProperty("input", out var input) && input.ValueKind == JsonValueKind.Array)
            foreach (var item in input.EnumerateArray())
                if (item.ValueKind == JsonValueKind.Object && item.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.ValueEquals("item_reference")
                    && item.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String)
                    (referenced ??= []).Add(id.GetString()!);
        if (previousId is null && referenced is null) return null;

        var answers = new Dictionary<string, JsonElement?>(StringComparer.Ordinal);
        List<JsonElement> prefix = [];
        if (previousId is not null)
        {
            var answer = await ReadAsync(store, previousId, userId, answers, ct)
                ?? throw new GatewayException(ErrorKind.InvalidRequest, $"Previous response with id '{previousId}' not found.") { Code = "previous_response_not_found" };
            prefix.AddRange(InputItems(answer));
            prefix.AddRange(OutputItems(answer));
        }
        var items = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var itemId in referenced ?? [])
        {
            if (items.ContainsKey(itemId)) continue;
            var responseId = ResponsesWire.ResponseIdOf(itemId);
            var answer = responseId is null ? null : await ReadAsync(store, responseId, userId, answers, ct);
            var found = answer is { } a ? FindItem(a, itemId) : null;
            items[itemId] = found ?? throw new GatewayException(ErrorKind.NotFound, $"Item with id '{itemId}' not found.");
        }
        return new ResolvedInput(previousId, prefix, items);
    }

    private static async Task<JsonElement?> ReadAsync(ResponseStore store, string id, long userId, Dictionary<string, JsonElement?> read, CancellationToken ct)
    {
        if (read.TryGetValue(id, out var known)) return known;
        var turn = await store.FindAsync(id, userId, waitForInFlight: true, ct);
        JsonElement? payload = turn is null ? null : JsonElement.Parse(turn.Payload);
        read[id] = payload;
        return payload;
    }

    public static IEnumerable<JsonElement> InputItems(JsonElement payload) => payload.GetProperty("input").EnumerateArray();

    public static IEnumerable<JsonElement> OutputItems(JsonElement payload) => payload.GetProperty("response").GetProperty("output").EnumerateArray();

    private static JsonElement? FindItem(JsonElement payload, string id)
    {
        foreach (var item in InputItems(payload).Concat(OutputItems(payload)))
            if (item.TryGetProperty("id", out var itemId) && itemId.ValueEquals(id)) return item;
        return null;
    }

    /// <summary>
    /// The kept payload of an answer: the conversation it was given, then the response object. Runs on the background
    /// writer (or the first follow-up), not on the request that produced the answer.
    /// </summary>
    public static byte[] BuildPayload(byte[] rawBody, ResolvedInput? resolved, ResponseContext context, IReadOnlyList<OutputItem> output,
        string status, Usage usage, string? incompleteReason)
    {
        var buffer = new ArrayBufferWriter<byte>(rawBody.Length + 1024);
        using (var w = new Utf8JsonWriter(buffer))
        {
            using var body = JsonDocument.Parse(rawBody);
            w.WriteStartObject();
            w.WriteStartArray("input");
            if (resolved is not null) foreach (var item in resolved.Prefix) item.WriteTo(w);
            var input = body.RootElement.GetProperty("input");
            if (input.ValueKind == JsonValueKind.String)
                WriteUserText(w, ResponsesWire.NewItemId("msg_", context.ResponseId), input.GetString()!);
            else
                foreach (var item in input.EnumerateArray())
                    WriteInputItem(w, item, resolved, context.ResponseId);
            w.WriteEndArray();
            w.WritePropertyName("response");
            ResponsesWire.WriteResponse(w, context, status, output, usage, incompleteReason);
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteUserText(Utf8JsonWriter w, string id, string text)
    {
        w.WriteStartObject();
        w.WriteString("id", id);
        w.WriteString("type", "message");
        w.WriteString("role", "user");
        w.WriteStartArray("content");
        w.WriteStartObject();
        w.WriteString("type", "input_text");
        w.WriteString("text", text);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>An input item as kept: a reference becomes the item it named; an item without an id gets one naming this response.</summary>
    private static void WriteInputItem(Utf8JsonWriter w, JsonElement item, ResolvedInput? resolved, string responseId)
    {
        var type = item.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "message";
        if (type == "item_reference" && resolved is not null && item.TryGetProperty("id", out var refId) && refId.ValueKind == JsonValueKind.String && resolved.Items.TryGetValue(refId.GetString()!, out var named))
        {
            named.WriteTo(w);
            return;
        }
        w.WriteStartObject();
        if (!item.TryGetProperty("id", out _))
            w.WriteString("id", ResponsesWire.NewItemId(type switch
            {
                "message" => "msg_",
                "function_call" => "fc_",
                "function_call_output" => "fco_",
                "reasoning" => "rs_",
                _ => "item_",
            }, responseId));
        if (!item.TryGetProperty("type", out _)) w.WriteString("type", "message");
        foreach (var property in item.EnumerateObject()) property.WriteTo(w);
        w.WriteEndObject();
    }
}

/// <summary>A Responses request that is kept, continues a kept answer, or both.</summary>
internal sealed class ResponsesTurn(ResponseStore store, long userId, byte[] rawBody, ResolvedInput? resolved, bool keeps) : ConversationTurn
{
    /// <summary>Whether the answer is kept (<c>store</c> is not false and retention is on).</summary>
    public bool Keeps => keeps;

    public string? PreviousResponseId => resolved?.PreviousResponseId;

    /// <summary>The answer is complete: hand it to the store (memory at once, the database in the background).</summary>
    public void Completed(ResponseContext context, IReadOnlyList<OutputItem> output, string status, Usage usage, string? incompleteReason)
    {
        if (!keeps) return;
        store.Keep(new PendingResponse(context, userId, store.Time.GetUtcNow() + store.Retention, rawBody, resolved, output, status, usage, incompleteReason));
    }

    private sealed class PendingResponse(ResponseContext context, long userId, DateTimeOffset expiresAt, byte[] rawBody, ResolvedInput? resolved,
        IReadOnlyList<OutputItem> output, string status, Usage usage, string? incompleteReason)
        : StoredTurn(context.ResponseId, userId, context.Created, expiresAt)
    {
        public override long Size => rawBody.Length + 512 + output.Sum(o => (long)o.Text.Length * 2);

        protected override byte[] Build() => ResponsesState.BuildPayload(rawBody, resolved, context, output, status, usage, incompleteReason);
    }
}
