using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// Replaces the value of a top-level field (<c>model</c>, and for stream-only upstreams <c>stream</c> and
/// <c>store</c>) in a JSON body and leaves every other byte as the client sent it: the passthrough promise
/// (unknown fields, key order, number spelling, whitespace all survive). The value is found with
/// <see cref="Utf8JsonReader"/>, reading no further than the field: the front door has already parsed the
/// whole body, so it is known to be valid JSON.
/// </summary>
internal static class ModelNameSplice
{
    public static ReadOnlyMemory<byte> Replace(ReadOnlyMemory<byte> body, string model)
    {
        var (start, length, type) = Find(body.Span, "model"u8);
        if (start < 0) throw GatewayException.BadRequest("model: required");
        if (type != JsonTokenType.String) throw GatewayException.BadRequest("model: expected a string");
        var encoded = JsonEncodedText.Encode(model).EncodedUtf8Bytes;
        var current = body.Span.Slice(start + 1, length - 2);
        // Unchanged name: the client's own bytes go out, not even copied.
        if (current.SequenceEqual(encoded)) return body;
        var value = new byte[encoded.Length + 2];
        value[0] = value[^1] = (byte)'"';
        encoded.CopyTo(value.AsSpan(1));
        return Splice(body, start, length, value);
    }

    /// <summary>
    /// Sets a top-level field to <paramref name="json"/> (a JSON value's text, e.g. <c>false</c>): its current
    /// value is replaced, or the field is added first in the object when absent.
    /// </summary>
    public static ReadOnlyMemory<byte> Set(ReadOnlyMemory<byte> body, string name, ReadOnlySpan<byte> json)
    {
        var (start, length, _) = Find(body.Span, System.Text.Encoding.UTF8.GetBytes(name));
        if (start >= 0) return body.Span.Slice(start, length).SequenceEqual(json) ? body : Splice(body, start, length, json);
        return Insert(body, name, json);
    }

    /// <summary>Adds a top-level field when the body has none of that name; a present one is left as the client wrote it.</summary>
    public static ReadOnlyMemory<byte> SetIfAbsent(ReadOnlyMemory<byte> body, string name, ReadOnlySpan<byte> json)
        => Find(body.Span, System.Text.Encoding.UTF8.GetBytes(name)).Start >= 0 ? body : Insert(body, name, json);

    /// <summary>The field first in the object, so nothing after it moves.</summary>
    private static ReadOnlyMemory<byte> Insert(ReadOnlyMemory<byte> body, string name, ReadOnlySpan<byte> json)
    {
        var open = body.Span.IndexOf((byte)'{');
        var empty = body.Span[(open + 1)..].TrimStart(" \t\r\n"u8)[0] == (byte)'}';
        var field = new List<byte>(name.Length + json.Length + 4) { (byte)'"' };
        field.AddRange(JsonEncodedText.Encode(name).EncodedUtf8Bytes);
        field.AddRange("\":"u8);
        field.AddRange(json);
        if (!empty) field.Add((byte)',');
        return Splice(body, open + 1, 0, field.ToArray());
    }

    private static byte[] Splice(ReadOnlyMemory<byte> body, int start, int length, ReadOnlySpan<byte> value)
    {
        var result = new byte[body.Length - length + value.Length];
        body.Span[..start].CopyTo(result);
        value.CopyTo(result.AsSpan(start));
        body.Span[(start + length)..].CopyTo(result.AsSpan(start + value.Length));
        return result;
    }

    /// <summary>Byte offset and length of a top-level field's value (strings with their quotes), or -1 when absent.</summary>
    private static (int Start, int Length, JsonTokenType Type) Find(ReadOnlySpan<byte> body, ReadOnlySpan<byte> name)
    {
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) throw GatewayException.BadRequest("body: expected a JSON object");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isField = reader.ValueTextEquals(name);
                reader.Read();
                var start = (int)reader.TokenStartIndex;
                var type = reader.TokenType;
                // Containers are skipped to their end; a string token's consumed bytes include its closing quote.
                reader.Skip();
                if (isField) return (start, (int)reader.BytesConsumed - start, type);
            }
        }
        catch (JsonException e)
        {
            throw GatewayException.BadRequest($"body: not valid JSON ({e.Message})");
        }
        return (-1, 0, JsonTokenType.None);
    }
}
