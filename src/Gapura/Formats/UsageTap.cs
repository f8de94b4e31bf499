using System.Buffers;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Formats;

/// <summary>
/// Reads token usage out of an upstream answer that is relayed byte for byte (passthrough), without changing
/// a byte of it: SSE <c>data:</c> lines with a <c>"usage"</c> object are parsed (other lines only scanned), and a
/// non-streamed JSON body is parsed once at the end. Understands the three dialects' field names — OpenAI chat
/// (<c>prompt_tokens</c>, <c>completion_tokens</c>, <c>prompt_tokens_details.cached_tokens</c>), Responses
/// (<c>input_tokens</c>, <c>output_tokens</c>, <c>input_tokens_details.cached_tokens</c>) and Anthropic
/// (<c>input_tokens</c>, <c>output_tokens</c>, <c>cache_read_input_tokens</c>, <c>cache_creation_input_tokens</c>,
/// split over <c>message_start</c> and <c>message_delta</c>) — keeping the largest figure seen for each.
/// OpenAI's input counts (both dialects) include the cached tokens; they are taken out of the canonical input
/// count, which excludes them, so cached tokens are not counted twice.
/// </summary>
internal sealed class UsageTap(bool streaming)
{
    /// <summary>Beyond this a line or a non-streamed body is not kept for parsing (the relay itself is unaffected).</summary>
    private const int MaxHeld = 8 * 1024 * 1024;

    private readonly ArrayBufferWriter<byte> _held = new();
    private bool _overflow;
    private int _input, _output, _cacheRead, _cacheWrite;
    private bool _seen;
    private bool _inputIncludesCached;

    /// <summary>Usage found so far; null when the answer carried none.</summary>
    public Usage? Usage => _seen ? new Usage(_inputIncludesCached ? Math.Max(0, _input - _cacheRead) : _input, _output, _cacheRead, _cacheWrite) : null;

    public void Observe(ReadOnlySpan<byte> chunk)
    {
        if (!streaming)
        {
            Hold(chunk);
            return;
        }
        while (!chunk.IsEmpty)
        {
            var newline = chunk.IndexOf((byte)'\n');
            if (newline < 0)
            {
                Hold(chunk);
                return;
            }
            if (_held.WrittenCount > 0)
            {
                Hold(chunk[..newline]);
                if (!_overflow) Line(_held.WrittenSpan);
                _held.ResetWrittenCount();
                _overflow = false;
            }
            else Line(chunk[..newline]);
            chunk = chunk[(newline + 1)..];
        }
    }

    /// <summary>The answer is over: parses a non-streamed body, or a last line without its newline.</summary>
    public void Complete()
    {
        if (_held.WrittenCount == 0 || _overflow) return;
        if (streaming) Line(_held.WrittenSpan);
        else Json(_held.WrittenSpan);
        _held.ResetWrittenCount();
    }

    private void Hold(ReadOnlySpan<byte> bytes)
    {
        if (_overflow) return;
        if (_held.WrittenCount + bytes.Length > MaxHeld) { _overflow = true; return; }
        _held.Write(bytes);
    }

    private void Line(ReadOnlySpan<byte> line)
    {
        if (!line.StartsWith("data:"u8) || !HasUsageObject(line)) return;
        Json(line[5..].Trim(" \r"u8));
    }

    /// <summary>
    /// Whether a <c>"usage"</c> key with an object value appears: OpenAI chat chunks carry <c>"usage":null</c>
    /// in every chunk when usage is asked for, and parsing each of them would cost the relay as much as
    /// translating the stream.
    /// </summary>
    private static bool HasUsageObject(ReadOnlySpan<byte> line)
    {
        while (line.IndexOf("\"usage\""u8) is var at and >= 0)
        {
            line = line[(at + 7)..];
            var rest = line.TrimStart(" \t"u8);
            if (rest.StartsWith(":"u8) && rest[1..].TrimStart(" \t"u8).StartsWith("{"u8)) return true;
        }
        return false;
    }

    private void Json(ReadOnlySpan<byte> json)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            using var doc = JsonDocument.ParseValue(ref reader);
            Find(doc.RootElement, depth: 0);
        }
        catch (JsonException)
        {
            // Not JSON after all ([DONE], a comment): nothing to count.
        }
    }

    private void Find(JsonElement element, int depth)
    {
        if (element.ValueKind != JsonValueKind.Object || depth > 4) return;
        foreach (var property in element.EnumerateObject())
        {
            if (property.NameEquals("usage") && property.Value.ValueKind == JsonValueKind.Object) Read(property.Value);
            else if (property.Value.ValueKind == JsonValueKind.Object) Find(property.Value, depth + 1); // message_start.message.usage, response.usage
        }
    }

    private void Read(JsonElement usage)
    {
        _seen = true;
        Max(ref _input, usage, "input_tokens");
        Max(ref _input, usage, "prompt_tokens");
        Max(ref _output, usage, "output_tokens");
        Max(ref _output, usage, "completion_tokens");
        Max(ref _cacheRead, usage, "cache_read_input_tokens");
        Max(ref _cacheWrite, usage, "cache_creation_input_tokens");
        foreach (var details in new[] { "prompt_tokens_details", "input_tokens_details" })
            if (usage.TryGetProperty(details, out var d) && d.ValueKind == JsonValueKind.Object)
            {
                _inputIncludesCached = true;
                Max(ref _cacheRead, d, "cached_tokens");
            }
    }

    private static void Max(ref int field, JsonElement usage, string name)
    {
        if (usage.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var n) && n > field) field = n;
    }
}
