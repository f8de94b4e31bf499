using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using CsCheck;

namespace Gapura.Tests.Fuzz;

/// <summary>A request body as bytes, with one line saying how it was made (printed when a case fails).</summary>
internal sealed record FuzzBody(byte[] Bytes, string How);

/// <summary>
/// Mutates a valid request body one place at a time: a field replaced by typed garbage, removed, duplicated,
/// an unknown field added, an array grown; or the whole text truncated, bit-flipped or replaced. One change per
/// case keeps the rest of the request valid, so the change reaches the code that reads that field.
/// </summary>
internal static class JsonMutator
{
    private const string RawMarker = "@@FUZZ-RAW@@";
    private const string DuplicateMarker = "@@FUZZ-DUP@@";
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static readonly Gen<int> Operation = Gen.Frequency<int>((50, Gen.Const(0)), (10, Gen.Const(1)), (8, Gen.Const(2)), (7, Gen.Const(3)),
        (6, Gen.Const(4)), (6, Gen.Const(5)), (4, Gen.Const(6)), (4, Gen.Const(7)), (3, Gen.Const(8)), (2, Gen.Const(9)));

    private static readonly Gen<string> UnknownName = Gen.OneOf(Gen.OneOf("x", "", " ", "__proto__", "constructor", "$type", "model ", "MODEL", "messages\u0000",
        "\u00e9", "stream", "max_tokens", "a.b", "[0]"), Gen.String[Gen.Char.AlphaNumeric, 1, 40]);

    public static T Draw<T>(this PCG pcg, Gen<T> gen) => gen.Generate(pcg, null!, out _);

    public static FuzzBody Mutate(PCG pcg, string validJson)
    {
        var op = pcg.Draw(Operation);
        var bytes = Encoding.UTF8.GetBytes(validJson);
        switch (op)
        {
            case 6:
                var cut = (int)pcg.Next((uint)bytes.Length);
                return new(bytes[..cut], $"truncated at byte {cut} of {bytes.Length}");
            case 7:
                var flipped = (byte[])bytes.Clone();
                var at = (int)pcg.Next((uint)flipped.Length);
                flipped[at] = (byte)pcg.Next(256);
                return new(flipped, $"byte {at} set to 0x{flipped[at]:x2}");
            case 8:
                var body = pcg.Draw(Garbage.Body);
                return new(body, $"whole body replaced by {Preview(body)}");
        }

        var root = JsonNode.Parse(validJson)!;
        var places = new List<(JsonNode Node, string Path)>();
        Collect(root, "$", places);
        var (node, path) = places[(int)pcg.Next((uint)places.Count)];
        var raw = pcg.Draw(Garbage.Value);
        string how;
        switch (op)
        {
            case 0 when node.Parent is not null:
                Replace(node, JsonValue.Create(RawMarker));
                how = $"{path} replaced by {Preview(raw)}";
                break;
            case 1 when node.Parent is JsonObject parent:
                parent.Remove(node.GetPropertyName());
                return new(Serialize(root, null, null), $"{path} removed");
            case 2 when node is JsonObject obj:
                var name = pcg.Draw(UnknownName);
                if (obj.ContainsKey(name)) obj.Remove(name);
                obj[name] = JsonValue.Create(RawMarker);
                how = $"{path} got field '{name}' = {Preview(raw)}";
                break;
            case 3 when node.Parent is JsonObject dupParent:
                // A second copy of the key with another value: which one wins differs between parsers.
                var key = node.GetPropertyName();
                dupParent[DuplicateMarker] = JsonValue.Create(RawMarker);
                return new(Serialize(root, raw, key), $"{path} duplicated as {Preview(raw)}");
            case 4 when node is JsonArray array:
                array.Add(JsonValue.Create(RawMarker));
                how = $"{path} got element {Preview(raw)}";
                break;
            case 5 when node is JsonValue { } value && value.GetValueKind() == JsonValueKind.String && node.Parent is not null:
                // Invalid bytes inside an otherwise valid string: the field keeps its type, only its encoding is broken.
                var text = value.GetValue<string>();
                var inner = pcg.Draw(Garbage.InvalidUtf8)[1..^1];
                var prefix = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(text, Relaxed)[..^1]);
                raw = [.. prefix, .. inner, (byte)'"'];
                Replace(node, JsonValue.Create(RawMarker));
                how = $"{path} got invalid UTF-8 {Convert.ToHexString(inner)}";
                break;
            case 9:
                var wrapped = JsonValue.Create(RawMarker);
                raw = Encoding.UTF8.GetBytes("[" + node.ToJsonString(Relaxed) + "]");
                if (node.Parent is null) return new(raw, "root wrapped in an array");
                Replace(node, wrapped);
                how = $"{path} wrapped in an array";
                break;
            default:
                if (node.Parent is null) return new(raw, $"whole body replaced by {Preview(raw)}");
                Replace(node, JsonValue.Create(RawMarker));
                how = $"{path} replaced by {Preview(raw)}";
                break;
        }
        return new(Serialize(root, raw, null), how);
    }

    private static void Collect(JsonNode node, string path, List<(JsonNode, string)> places)
    {
        places.Add((node, path));
        switch (node)
        {
            case JsonObject obj:
                foreach (var (k, v) in obj) if (v is not null) Collect(v, $"{path}.{k}", places);
                break;
            case JsonArray arr:
                for (var i = 0; i < arr.Count; i++) if (arr[i] is { } v) Collect(v, $"{path}[{i}]", places);
                break;
        }
    }

    private static void Replace(JsonNode node, JsonNode with)
    {
        switch (node.Parent)
        {
            case JsonObject obj: obj[node.GetPropertyName()] = with; break;
            case JsonArray arr: arr[node.GetElementIndex()] = with; break;
        }
    }

    /// <summary>Writes the tree, then splices the raw bytes in place of the marker (and the duplicated key's name in place of its marker).</summary>
    private static byte[] Serialize(JsonNode root, byte[]? raw, string? duplicateKey)
    {
        var bytes = Encoding.UTF8.GetBytes(root.ToJsonString(Relaxed));
        if (raw is not null) bytes = Splice(bytes, "\"" + RawMarker + "\"", raw);
        if (duplicateKey is not null) bytes = Splice(bytes, "\"" + DuplicateMarker + "\"", Encoding.UTF8.GetBytes(JsonSerializer.Serialize(duplicateKey, Relaxed)));
        return bytes;
    }

    private static byte[] Splice(byte[] bytes, string marker, byte[] with)
    {
        var m = Encoding.UTF8.GetBytes(marker);
        var at = bytes.AsSpan().IndexOf(m);
        return at < 0 ? bytes : [.. bytes.AsSpan(0, at), .. with, .. bytes.AsSpan(at + m.Length)];
    }

    /// <summary>The start of a value for a report line, non-ASCII bytes shown as hex.</summary>
    public static string Preview(byte[] raw)
    {
        var shown = new StringBuilder();
        foreach (var b in raw.Take(80)) shown.Append(b is >= 0x20 and < 0x7f ? ((char)b).ToString() : $"\\x{b:x2}");
        return raw.Length > 80 ? $"{shown}… ({raw.Length} bytes)" : shown.ToString();
    }
}
