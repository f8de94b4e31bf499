using System.Text.Json;

namespace Gapura.Providers.Anthropic;

/// <summary>
/// Replaces the value of the top-level <c>model</c> property in a JSON body and keeps every other byte as
/// the client sent it (whitespace, key order, unknown fields, <c>cache_control</c>): the reader only finds
/// the value's span, and the new body is the bytes before it, the new string, and the bytes after it.
/// </summary>
internal static class ModelNameRewriter
{
    /// <exception cref="Conversations.GatewayException">400 when the body is not a JSON object or has no string <c>model</c>.</exception>
    public static ReadOnlyMemory<byte> Rewrite(ReadOnlyMemory<byte> body, string model)
    {
        var spans = new List<(int Start, int End)>(1);
        try
        {
            var reader = new Utf8JsonReader(body.Span, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) throw Conversations.GatewayException.BadRequest("body: expected a JSON object.");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isModel = reader.ValueTextEquals("model"u8);
                reader.Read();
                if (isModel && reader.TokenType == JsonTokenType.String)
                    // TokenStartIndex is the opening quote; BytesConsumed is just past the closing one.
                    spans.Add(((int)reader.TokenStartIndex, (int)reader.BytesConsumed));
                else reader.Skip();
            }
        }
        catch (JsonException e)
        {
            throw Conversations.GatewayException.BadRequest($"body: malformed JSON ({e.Message}).");
        }
        if (spans.Count == 0) throw Conversations.GatewayException.BadRequest("model: a model name is required.");

        var encoded = JsonEncodedText.Encode(model).EncodedUtf8Bytes;
        var source = body.Span;
        // Already the upstream's id: forward the client's bytes without a copy.
        var unchanged = true;
        var size = source.Length;
        foreach (var (start, end) in spans)
        {
            unchanged &= source[(start + 1)..(end - 1)].SequenceEqual(encoded);
            size += encoded.Length + 2 - (end - start);
        }
        if (unchanged) return body;

        var output = new byte[size];
        int read = 0, written = 0;
        foreach (var (start, end) in spans)
        {
            source[read..start].CopyTo(output.AsSpan(written));
            written += start - read;
            output[written++] = (byte)'"';
            encoded.CopyTo(output.AsSpan(written));
            written += encoded.Length;
            output[written++] = (byte)'"';
            read = end;
        }
        source[read..].CopyTo(output.AsSpan(written));
        return output;
    }
}
