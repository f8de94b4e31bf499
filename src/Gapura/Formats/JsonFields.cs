using System.Text;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Formats;

/// <summary>
/// Typed reads of request JSON that fail with a 400 naming the exact path (<c>messages[2].role: …</c>),
/// so a client developer can fix the request without guessing. A JSON <c>null</c> counts as absent:
/// SDKs routinely serialise unset optionals as null.
/// </summary>
internal static class JsonFields
{
    /// <summary>
    /// A message <c>content</c> that is a string or an array of text parts (system, developer and tool messages).
    /// Parts of another type are a 400 naming them; <paramref name="separator"/> joins the parts.
    /// </summary>
    public static string ReadTextContent(JsonElement message, string path, string separator, params string[] textTypes)
    {
        if (!TryGet(message, "content", out var content)) throw Error($"{path}.content", "required");
        if (content.ValueKind == JsonValueKind.String) return content.GetString()!;
        if (content.ValueKind != JsonValueKind.Array) throw Error($"{path}.content", $"expected a string or an array of content parts, got {Describe(content.ValueKind)}");
        var sb = new System.Text.StringBuilder();
        var j = 0;
        foreach (var part in content.EnumerateArray())
        {
            var partPath = $"{path}.content[{j++}]";
            RequireObject(part, partPath);
            var type = RequiredString(part, "type", partPath);
            if (Array.IndexOf(textTypes, type) < 0) throw Error($"{partPath}.type", $"only text parts are allowed here, got '{type}'");
            if (sb.Length > 0) sb.Append(separator);
            sb.Append(RequiredString(part, "text", partPath));
        }
        return sb.ToString();
    }

    public static GatewayException Error(string path, string problem) => GatewayException.BadRequest($"{path}: {problem}");

    public static string Path(string parent, string name) => parent.Length == 0 ? name : parent + "." + name;

    public static bool TryGet(JsonElement obj, string name, out JsonElement value)
    {
        if (obj.TryGetProperty(name, out value) && value.ValueKind != JsonValueKind.Null) return true;
        value = default;
        return false;
    }

    public static void RequireObject(JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Object) throw Error(path, $"expected an object, got {Describe(value.ValueKind)}");
    }

    public static string RequiredString(JsonElement obj, string name, string parent)
    {
        if (!TryGet(obj, name, out var value)) throw Error(Path(parent, name), "required");
        if (value.ValueKind != JsonValueKind.String) throw Error(Path(parent, name), $"expected a string, got {Describe(value.ValueKind)}");
        return value.GetString()!;
    }

    public static string? OptionalString(JsonElement obj, string name, string parent)
    {
        if (!TryGet(obj, name, out var value)) return null;
        if (value.ValueKind != JsonValueKind.String) throw Error(Path(parent, name), $"expected a string, got {Describe(value.ValueKind)}");
        return value.GetString();
    }

    public static JsonElement RequiredArray(JsonElement obj, string name, string parent)
    {
        if (!TryGet(obj, name, out var value)) throw Error(Path(parent, name), "required");
        if (value.ValueKind != JsonValueKind.Array) throw Error(Path(parent, name), $"expected an array, got {Describe(value.ValueKind)}");
        return value;
    }

    public static bool TryGetArray(JsonElement obj, string name, string parent, out JsonElement array)
    {
        if (!TryGet(obj, name, out array)) return false;
        if (array.ValueKind != JsonValueKind.Array) throw Error(Path(parent, name), $"expected an array, got {Describe(array.ValueKind)}");
        return true;
    }

    public static bool TryGetObject(JsonElement obj, string name, string parent, out JsonElement value)
    {
        if (!TryGet(obj, name, out value)) return false;
        RequireObject(value, Path(parent, name));
        return true;
    }

    public static int? OptionalPositiveInt(JsonElement obj, string name, string parent)
    {
        if (!TryGet(obj, name, out var value)) return null;
        // 32000.0 is still a whole number; some JSON encoders emit integers that way.
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var d) || d != Math.Floor(d))
            throw Error(Path(parent, name), $"expected an integer, got {Describe(value.ValueKind)}");
        // 1e400 reads as infinity, which would otherwise pass as "the largest integer".
        if (!double.IsFinite(d)) throw Error(Path(parent, name), $"must be a finite integer, got {value.GetRawText()}");
        if (d <= 0) throw Error(Path(parent, name), $"must be a positive integer, got {value.GetRawText()}");
        return d >= int.MaxValue ? int.MaxValue : (int)d;
    }

    /// <param name="min">The smallest value the API documents for the field; with <paramref name="max"/>, the range checked.</param>
    public static double? OptionalNumber(JsonElement obj, string name, string parent, double min = double.MinValue, double max = double.MaxValue)
    {
        if (!TryGet(obj, name, out var value)) return null;
        if (value.ValueKind != JsonValueKind.Number) throw Error(Path(parent, name), $"expected a number, got {Describe(value.ValueKind)}");
        var number = value.GetDouble();
        if (!double.IsFinite(number)) throw Error(Path(parent, name), $"must be a finite number, got {value.GetRawText()}");
        if (number < min || number > max) throw Error(Path(parent, name), $"must be from {min} to {max}, got {value.GetRawText()}");
        return number;
    }

    public static bool? OptionalBool(JsonElement obj, string name, string parent)
    {
        if (!TryGet(obj, name, out var value)) return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Error(Path(parent, name), $"expected a boolean, got {Describe(value.ValueKind)}"),
        };
    }

    /// <summary>A string or an array of strings (OpenAI <c>stop</c>, Anthropic <c>stop_sequences</c>).</summary>
    public static IReadOnlyList<string> StringOrStrings(JsonElement obj, string name, string parent, bool allowSingleString)
    {
        if (!TryGet(obj, name, out var value)) return [];
        if (allowSingleString && value.ValueKind == JsonValueKind.String) return [value.GetString()!];
        if (value.ValueKind != JsonValueKind.Array)
            throw Error(Path(parent, name), allowSingleString ? $"expected a string or an array of strings, got {Describe(value.ValueKind)}" : $"expected an array of strings, got {Describe(value.ValueKind)}");
        var list = new List<string>(value.GetArrayLength());
        var i = 0;
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String) throw Error($"{Path(parent, name)}[{i}]", $"expected a string, got {Describe(item.ValueKind)}");
            list.Add(item.GetString()!);
            i++;
        }
        return list;
    }

    /// <summary>
    /// Detaches an element from the request's <see cref="JsonDocument"/>: the caller may dispose the
    /// body document while the canonical request (tool inputs, schemas) lives on in a provider.
    /// </summary>
    public static JsonElement Detach(JsonElement value) => value.Clone();

    /// <summary>Parses tool-call arguments text into a JSON object; empty text means no arguments.</summary>
    public static JsonElement ParseArgumentsObject(string arguments, string path)
    {
        if (string.IsNullOrWhiteSpace(arguments)) return EmptyObject;
        try
        {
            using var doc = JsonDocument.Parse(arguments);
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw Error(path, $"must be a JSON object, got {Describe(doc.RootElement.ValueKind)}");
            return doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw Error(path, $"is not valid JSON ({e.Message})");
        }
    }

    public static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement;

    /// <summary>The schema used when a function tool declares no parameters.</summary>
    public static readonly JsonElement EmptyObjectSchema = JsonDocument.Parse("""{"type":"object","properties":{}}""").RootElement;

    public static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    /// <summary>Joins system text pieces the way both dialects' system prompts read naturally.</summary>
    public static void AppendSystem(ref StringBuilder? system, string text)
    {
        if (text.Length == 0) return;
        system ??= new StringBuilder(text.Length);
        if (system.Length > 0) system.Append("\n\n");
        system.Append(text);
    }
}
