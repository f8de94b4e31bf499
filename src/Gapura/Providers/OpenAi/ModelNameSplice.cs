using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// Replaces the value of the top-level <c>model</c> field in a JSON body and leaves every other byte as the
/// client sent it: the passthrough promise (unknown fields, key order, number spelling, whitespace all
/// survive). The value is found with <see cref="Utf8JsonReader"/>, reading no further than the field: the
/// front door has already parsed the whole body, so it is known to be valid JSON.
/// </summary>
internal static class ModelNameSplice
{
    public static ReadOnlyMemory<byte> Replace(ReadOnlyMemory<byte> body, string model)
    {
        var (start, length) = Find(body.Span);
        var encoded = JsonEncodedText.Encode(model).EncodedUtf8Bytes;
        var current = body.Span.Slice(start + 1, length - 2);
        // Unchanged name: the client's own bytes go out, not even copied.
        if (current.SequenceEqual(encoded)) return body;
        var result = new byte[body.Length - length + encoded.Length + 2];
        body.Span[..start].CopyTo(result);
        result[start] = (byte)'"';
        encoded.CopyTo(result.AsSpan(start + 1));
        result[start + 1 + encoded.Length] = (byte)'"';
        body.Span[(start + length)..].CopyTo(result.AsSpan(start + encoded.Length + 2));
        return result;
    }

    /// <summary>Byte offset and length (quotes included) of the top-level <c>model</c> string.</summary>
    private static (int Start, int Length) Find(ReadOnlySpan<byte> body)
    {
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) throw GatewayException.BadRequest("body: expected a JSON object");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isModel = reader.ValueTextEquals("model"u8);
                reader.Read();
                if (isModel)
                {
                    if (reader.TokenType != JsonTokenType.String) throw GatewayException.BadRequest("model: expected a string");
                    // A string token's raw span excludes its quotes (and is escaped text, as in the body).
                    return ((int)reader.TokenStartIndex, reader.ValueSpan.Length + 2);
                }
                reader.Skip();
            }
        }
        catch (JsonException e)
        {
            throw GatewayException.BadRequest($"body: not valid JSON ({e.Message})");
        }
        throw GatewayException.BadRequest("model: required");
    }
}
