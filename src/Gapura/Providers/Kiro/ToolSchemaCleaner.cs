using Gapura.Conversations;
using System.Text.Json;

namespace Gapura.Providers.Kiro;

/// <summary>
/// Writes a tool's JSON schema in the subset Kiro accepts: every <c>additionalProperties</c> and every
/// empty <c>required: []</c> is removed at any depth (both are common in MCP and OpenAI-strict schemas
/// and both turn into the catch-all "Improperly formed request."). The copy is streamed straight into
/// the request writer, so no DOM of the schema is ever built.
/// </summary>
internal static class ToolSchemaCleaner
{
    /// <summary>Keywords whose object value maps user-chosen names to sub-schemas: the names are data, the values schemas.</summary>
    private static readonly HashSet<string> NamedSchemaMaps = new(StringComparer.Ordinal)
    {
        "properties", "patternProperties", "$defs", "definitions", "dependentSchemas",
    };

    /// <summary>Keywords whose value is an instance, not a schema: copied verbatim so user data is never edited.</summary>
    private static readonly HashSet<string> InstanceValues = new(StringComparer.Ordinal)
    {
        "const", "default", "enum", "examples",
    };

    /// <summary>Writes the cleaned schema; a missing or non-object schema becomes an empty object schema.</summary>
    public static void Write(Utf8JsonWriter writer, JsonElement schema)
    {
        if (schema.ValueKind != JsonValueKind.Object)
        {
            ToolDefinition.WriteEmptyObjectSchema(writer);
            return;
        }
        WriteSchema(writer, schema);
    }

    private static void WriteSchema(Utf8JsonWriter writer, JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                writer.WriteStartObject();
                foreach (var property in element.EnumerateObject())
                {
                    if (property.NameEquals("additionalProperties")) continue;
                    if (property.NameEquals("required") && property.Value.ValueKind == JsonValueKind.Array
                        && property.Value.GetArrayLength() == 0) continue;

                    writer.WritePropertyName(property.Name);
                    if (InstanceValues.Contains(property.Name))
                        property.Value.WriteTo(writer);
                    else if (NamedSchemaMaps.Contains(property.Name) && property.Value.ValueKind == JsonValueKind.Object)
                        WriteNamedSchemas(writer, property.Value);
                    else
                        WriteSchema(writer, property.Value);
                }
                writer.WriteEndObject();
                break;
            case JsonValueKind.Array:
                // items: [..], anyOf, oneOf, allOf, prefixItems: arrays of schemas.
                writer.WriteStartArray();
                foreach (var item in element.EnumerateArray()) WriteSchema(writer, item);
                writer.WriteEndArray();
                break;
            default:
                element.WriteTo(writer);
                break;
        }
    }

    private static void WriteNamedSchemas(Utf8JsonWriter writer, JsonElement map)
    {
        writer.WriteStartObject();
        foreach (var property in map.EnumerateObject())
        {
            // A field the user named "additionalProperties" or "required" is kept: only keywords are removed.
            writer.WritePropertyName(property.Name);
            WriteSchema(writer, property.Value);
        }
        writer.WriteEndObject();
    }
}
