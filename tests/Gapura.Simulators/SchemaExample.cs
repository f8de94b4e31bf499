using System.Text.Json;
using System.Text.Json.Nodes;

namespace Gapura.Simulators;

/// <summary>
/// The smallest plausible value for a JSON schema — every required property, the first enum value, a string that names
/// its field — so the simulated model can obey "answer by calling this tool" the way a real one does.
/// </summary>
public static class SchemaExample
{
    public static JsonNode? For(JsonElement schema, string name = "answer", int depth = 0)
    {
        if (schema.ValueKind != JsonValueKind.Object || depth > 8) return JsonValue.Create("x");
        if (schema.TryGetProperty("const", out var constant)) return JsonNode.Parse(constant.GetRawText());
        if (schema.TryGetProperty("enum", out var values) && values.GetArrayLength() > 0) return JsonNode.Parse(values[0].GetRawText());
        foreach (var choice in new[] { "anyOf", "oneOf", "allOf" })
            if (schema.TryGetProperty(choice, out var options) && options.GetArrayLength() > 0) return For(options[0], name, depth + 1);
        var type = schema.TryGetProperty("type", out var t)
            ? t.ValueKind == JsonValueKind.Array ? t.EnumerateArray().First(v => v.GetString() != "null").GetString() : t.GetString()
            : schema.TryGetProperty("properties", out _) ? "object" : "string";
        switch (type)
        {
            case "object":
                var result = new JsonObject();
                if (!schema.TryGetProperty("properties", out var properties)) return result;
                var required = schema.TryGetProperty("required", out var r) ? r.EnumerateArray().Select(v => v.GetString()).ToHashSet() : [];
                foreach (var property in properties.EnumerateObject())
                    if (required.Contains(property.Name) || required.Count == 0) result[property.Name] = For(property.Value, property.Name, depth + 1);
                return result;
            case "array":
                var items = new JsonArray();
                var min = schema.TryGetProperty("minItems", out var m) ? m.GetInt32() : 1;
                for (var i = 0; i < Math.Max(1, min); i++)
                    items.Add(schema.TryGetProperty("items", out var item) ? For(item, name, depth + 1) : JsonValue.Create("x"));
                return items;
            case "integer" or "number":
                return JsonValue.Create(schema.TryGetProperty("minimum", out var minimum) ? minimum.GetDouble() : 1);
            case "boolean":
                return JsonValue.Create(true);
            case "null":
                return null;
            default:
                return JsonValue.Create($"simulated {name}");
        }
    }
}
