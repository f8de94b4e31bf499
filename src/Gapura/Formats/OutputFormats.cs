using System.Text.Json;
using Gapura.Conversations;
using static Gapura.Formats.JsonFields;

namespace Gapura.Formats;

/// <summary>
/// Reads each door's structured-output field into an <see cref="OutputFormat"/>. The schema is checked here, where a
/// bad one is the caller's 400 naming the field, rather than upstream or after the model has answered.
/// </summary>
internal static class OutputFormats
{
    /// <summary>OpenAI chat: <c>response_format</c> = text | json_object | json_schema {name, schema, strict, description}.</summary>
    public static OutputFormat? FromChatResponseFormat(JsonElement body)
    {
        if (!TryGetObject(body, "response_format", "", out var format)) return null;
        var type = RequiredString(format, "type", "response_format");
        switch (type)
        {
            case "text": return null;
            case "json_object": return OutputFormat.AnyObject;
            case "json_schema":
                if (!TryGetObject(format, "json_schema", "response_format", out var spec)) throw Error("response_format.json_schema", "required when type is 'json_schema'");
                return Named(spec, "response_format.json_schema");
            default: throw Error("response_format.type", $"unknown value '{type}' (expected text, json_object or json_schema)");
        }
    }

    /// <summary>Responses: <c>text.format</c> = text | json_object | json_schema {name, schema, strict, description} (flat).</summary>
    public static OutputFormat? FromResponsesTextFormat(JsonElement body)
    {
        if (!TryGetObject(body, "text", "", out var text)) return null;
        if (!TryGetObject(text, "format", "text", out var format)) return null;
        var type = RequiredString(format, "type", "text.format");
        return type switch
        {
            "text" => null,
            "json_object" => OutputFormat.AnyObject,
            "json_schema" => Named(format, "text.format"),
            _ => throw Error("text.format.type", $"unknown value '{type}' (expected text, json_object or json_schema)"),
        };
    }

    /// <summary>Anthropic: <c>output_config.format</c>, or the structured-outputs beta's top-level <c>output_format</c>; both {type: json_schema, schema}.</summary>
    public static OutputFormat? FromAnthropic(JsonElement body)
    {
        JsonElement format;
        string path;
        if (TryGetObject(body, "output_config", "", out var config) && TryGetObject(config, "format", "output_config", out format)) path = "output_config.format";
        else if (TryGetObject(body, "output_format", "", out format)) path = "output_format";
        else return null;
        var type = RequiredString(format, "type", path);
        if (type != "json_schema") throw Error($"{path}.type", $"unknown value '{type}' (expected json_schema)");
        var (schema, compiled) = Schema(format, path);
        return new OutputFormat(OutputFormatKind.JsonSchema, OutputFormat.DefaultName, schema) { Compiled = compiled };
    }

    private static OutputFormat Named(JsonElement spec, string path)
    {
        var name = RequiredString(spec, "name", path);
        // OpenAI's rule for the name, which is also a valid tool name everywhere the gateway may need one.
        if (name.Length is 0 or > 64 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            throw Error($"{path}.name", "must be 1 to 64 letters, digits, underscores or dashes");
        var (schema, compiled) = TryGet(spec, "schema", out _) ? Schema(spec, path) : (OutputFormat.AnyObject.Schema, null);
        return new OutputFormat(OutputFormatKind.JsonSchema, name, schema, OptionalBool(spec, "strict", path), OptionalString(spec, "description", path))
        {
            Compiled = compiled,
        };
    }

    /// <summary>The schema, detached from the request's document, and compiled once: it is refused here when it cannot be built.</summary>
    private static (JsonElement Schema, Json.Schema.JsonSchema Compiled) Schema(JsonElement spec, string path)
    {
        if (!TryGetObject(spec, "schema", path, out var schema)) throw Error($"{path}.schema", "required");
        var detached = Detach(schema);
        var (compiled, problem) = StructuredOutput.Compile(detached);
        return compiled is null ? throw Error($"{path}.schema", problem!) : (detached, compiled);
    }
}
