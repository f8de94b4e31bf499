using System.Text.Json;

namespace Gapura.Conversations;

/// <summary>
/// Structured output as the client asked for it: OpenAI chat <c>response_format</c>, Responses <c>text.format</c>,
/// Anthropic <c>output_config.format</c> (or the beta's top-level <c>output_format</c>). Upstreams with a native field
/// receive it there; the others are constrained by <see cref="StructuredOutput"/>.
/// </summary>
/// <param name="Name">The schema's name (OpenAI requires one; Anthropic has none, so the gateway names it).</param>
/// <param name="Schema">The JSON schema; for <see cref="OutputFormatKind.JsonObject"/>, an open object schema.</param>
/// <param name="Strict">OpenAI's <c>strict</c> flag, passed on to upstreams that have it.</param>
public sealed record OutputFormat(OutputFormatKind Kind, string Name, JsonElement Schema, bool? Strict = null, string? Description = null)
{
    /// <summary>The name given to a schema that came without one (Anthropic's format, or json_object).</summary>
    public const string DefaultName = "response";

    /// <summary>
    /// <see cref="Schema"/> as built when the request was read (and found valid), so checking an emulated answer does
    /// not build it again; null for the open object schema, which is built when needed.
    /// </summary>
    internal Json.Schema.JsonSchema? Compiled { get; init; }

    /// <summary>Any JSON object: what <c>json_object</c> asks for.</summary>
    public static OutputFormat AnyObject { get; } = new(OutputFormatKind.JsonObject, DefaultName,
        JsonDocument.Parse("""{"type":"object"}""").RootElement);
}

public enum OutputFormatKind
{
    /// <summary>Any JSON object (OpenAI <c>json_object</c>).</summary>
    JsonObject,

    /// <summary>JSON matching <see cref="OutputFormat.Schema"/>.</summary>
    JsonSchema,
}
