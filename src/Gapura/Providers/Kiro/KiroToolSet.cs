using System.Buffers;
using System.Text;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.Kiro;

/// <summary>
/// The client's declared tools, prepared once per request: names aliased, long descriptions moved out,
/// schemas cleaned, and each <c>toolSpecification</c> pre-rendered to JSON bytes so that rewriting the
/// body while trimming history does not redo the schema work.
/// </summary>
internal sealed class KiroToolSet
{
    /// <summary>Descriptions longer than this make Kiro fail; the text moves to the system prompt instead.</summary>
    public const int MaxDescriptionChars = 10_000;

    public const string AnyToolInstruction = "Answer by calling one of the available tools.";

    public static readonly KiroToolSet Empty = new([], new HashSet<string>(StringComparer.Ordinal), null, null);

    private KiroToolSet(List<byte[]> specs, HashSet<string> names, string? systemSection, string? choiceInstruction)
    {
        Specs = specs;
        Names = names;
        SystemSection = systemSection;
        ChoiceInstruction = choiceInstruction;
    }

    /// <summary>Rendered <c>{"toolSpecification":{…}}</c> objects.</summary>
    public IReadOnlyList<byte[]> Specs { get; }

    /// <summary>Declared names as Kiro sees them.</summary>
    public IReadOnlySet<string> Names { get; }

    /// <summary>"## Tool: name" sections for descriptions too long to send inline; null when none.</summary>
    public string? SystemSection { get; }

    /// <summary>A line appended to the current message to carry tool_choice, which Kiro has no field for.</summary>
    public string? ChoiceInstruction { get; }

    public static KiroToolSet From(ChatRequest request, Dictionary<string, string> aliases, JsonWriterOptions writerOptions)
    {
        // tool_choice "none": Kiro cannot be told "declared but not callable", so the tools are not sent at all.
        if (request.Tools.Count == 0 || request.ToolChoice?.Kind == ToolChoiceKind.None) return Empty;

        var specs = new List<byte[]>(request.Tools.Count);
        var names = new HashSet<string>(StringComparer.Ordinal);
        StringBuilder? system = null;
        var buffer = new ArrayBufferWriter<byte>(1024);

        foreach (var tool in request.Tools)
        {
            var name = ToolNameAliases.For(tool.Name);
            if (!names.Add(name))
                throw GatewayException.BadRequest(name == tool.Name
                    ? $"Tool '{tool.Name}' is declared more than once."
                    : $"Tools '{aliases[name]}' and '{tool.Name}' shorten to the same Kiro name '{name}'; rename one of them.");
            if (name != tool.Name) aliases[name] = tool.Name;

            var description = tool.Description;
            if (string.IsNullOrWhiteSpace(description))
            {
                description = $"Tool: {name}";
            }
            else if (description.Length > MaxDescriptionChars)
            {
                system = system is null ? new StringBuilder() : system.Append("\n\n");
                system.Append("## Tool: ").Append(name).Append('\n').Append(description);
                description = $"Tool: {name}. Its full description is in the system prompt under \"## Tool: {name}\".";
            }

            buffer.ResetWrittenCount();
            using (var writer = new Utf8JsonWriter(buffer, writerOptions))
            {
                WriteSpec(writer, name, description, tool.InputSchema);
            }
            specs.Add(buffer.WrittenSpan.ToArray());
        }

        return new KiroToolSet(specs, names, system?.ToString(), ChoiceInstructionFor(request.ToolChoice, request.Tools));
    }

    public static void WriteSpec(Utf8JsonWriter writer, string name, string description, JsonElement? schema)
    {
        writer.WriteStartObject();
        writer.WriteStartObject("toolSpecification");
        writer.WriteString("name", name);
        writer.WriteString("description", description);
        writer.WriteStartObject("inputSchema");
        writer.WritePropertyName("json");
        if (schema is JsonElement s) ToolSchemaCleaner.Write(writer, s);
        else ToolDefinition.WriteEmptyObjectSchema(writer);
        writer.WriteEndObject();
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    /// <summary>
    /// Kiro has no tool_choice. "auto" is its natural behaviour; "any" and a named tool become one line of
    /// instruction — a strong hint, not a guarantee, which is the best an instruction-following model allows.
    /// </summary>
    private static string? ChoiceInstructionFor(ToolChoice? choice, IReadOnlyList<ToolDefinition> tools)
    {
        switch (choice?.Kind)
        {
            case ToolChoiceKind.Any:
                return AnyToolInstruction;
            case ToolChoiceKind.Tool:
                var name = choice.Name;
                if (string.IsNullOrEmpty(name) || !tools.Any(t => t.Name == name))
                    throw GatewayException.BadRequest($"tool_choice names the tool '{name}', which is not among the declared tools.");
                return $"Answer by calling the tool \"{ToolNameAliases.For(name)}\".";
            default:
                return null;
        }
    }
}
