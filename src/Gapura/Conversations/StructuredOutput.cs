using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Json.Schema;

namespace Gapura.Conversations;

/// <summary>
/// Structured output for upstreams without a native field for it (Kiro, Bedrock): the model is constrained by a tool
/// whose input schema is the requested schema, forced by <c>tool_choice</c>. The tool's input becomes the answer's text; the caller's own
/// tool calls pass through untouched. The answer is checked against the schema before the client sees it, so a
/// model that cannot produce it is an error, never plain text dressed as success — which is why the JSON arrives
/// whole at the end rather than in pieces (reasoning still streams as it comes).
/// </summary>
public static class StructuredOutput
{
    private static readonly EvaluationOptions Evaluation = new() { OutputFormat = Json.Schema.OutputFormat.List };

    /// <summary>
    /// The request as sent to an upstream that needs the tool: the tool added and forced (Kiro, which has no
    /// <c>tool_choice</c>, turns the choice into an instruction of its own).
    /// </summary>
    public static ChatRequest Constrain(ChatRequest request, out string toolName)
    {
        var format = request.OutputFormat ?? throw new InvalidOperationException("No output format to constrain to.");
        toolName = ToolName(format, request.Tools);
        var description = "Give your final answer by calling this tool exactly once: its input is the answer itself, as JSON matching the schema."
            + (string.IsNullOrWhiteSpace(format.Description) ? "" : " The answer: " + format.Description);
        return request with
        {
            OutputFormat = null,
            Tools = [.. request.Tools, new ToolDefinition(toolName, description, format.Schema)],
            // The caller's own tools may still be called first; without any, the answer tool is the only way to answer.
            ToolChoice = request.ToolChoice switch
            {
                { Kind: ToolChoiceKind.Tool } chosen => chosen,
                _ when request.Tools.Count == 0 || request.ToolChoice?.Kind == ToolChoiceKind.None => new ToolChoice(ToolChoiceKind.Tool, toolName),
                _ => new ToolChoice(ToolChoiceKind.Any),
            },
        };
    }

    /// <summary>
    /// The upstream's events with the answer tool's call turned into the answer text, validated against the format.
    /// Text the model wrote around the call is dropped; a model that answered in text instead is taken at its word
    /// when that text is JSON matching the schema (fenced or not).
    /// </summary>
    public static async IAsyncEnumerable<StreamEvent> Answer(IAsyncEnumerable<StreamEvent> events, OutputFormat format, string toolName,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var text = new StringBuilder();
        StringBuilder? answer = null;
        int? answerIndex = null;
        var callerCalls = new Dictionary<int, int>();
        await foreach (var e in events.WithCancellation(ct))
        {
            switch (e)
            {
                case TextDelta delta when callerCalls.Count == 0:
                    text.Append(delta.Text);
                    break;
                case ToolCallStart start when start.Name == toolName && answerIndex is null && callerCalls.Count == 0:
                    answerIndex = start.Index;
                    answer = new StringBuilder();
                    break;
                case ToolCallDelta delta when delta.Index == answerIndex:
                    answer!.Append(delta.ArgumentsFragment);
                    break;
                case ToolCallEnd end when end.Index == answerIndex:
                    break;
                case ToolCallStart start when start.Name != toolName:
                    // The caller's own tool: its loop goes on, so what the model said before it is ordinary text.
                    if (callerCalls.Count == 0 && text.Length > 0)
                    {
                        yield return new TextDelta(text.ToString());
                        text.Clear();
                    }
                    callerCalls[start.Index] = callerCalls.Count;
                    yield return start with { Index = callerCalls[start.Index] };
                    break;
                case ToolCallDelta delta:
                    if (callerCalls.TryGetValue(delta.Index, out var deltaIndex)) yield return delta with { Index = deltaIndex };
                    break;
                case ToolCallEnd end:
                    if (callerCalls.TryGetValue(end.Index, out var endIndex)) yield return end with { Index = endIndex };
                    break;
                case MessageEnd messageEnd:
                    if (callerCalls.Count > 0)
                    {
                        yield return messageEnd with { StopReason = StopReason.ToolUse };
                        yield break;
                    }
                    var json = answer?.ToString() ?? ExtractJson(text.ToString());
                    if (messageEnd.StopReason is StopReason.MaxTokens or StopReason.ContextWindowExceeded)
                    {
                        // Cut off: the client is told so by the stop reason, as a native upstream would.
                        if (json.Length > 0) yield return new TextDelta(json);
                        yield return messageEnd;
                        yield break;
                    }
                    var problem = Problem(format, json);
                    if (problem is not null)
                        throw new GatewayException(ErrorKind.Internal,
                            $"The model did not answer with JSON matching the requested {Describe(format)}: {problem}. Try again, or simplify the schema.", 502);
                    yield return new TextDelta(json.Trim());
                    yield return messageEnd with { StopReason = StopReason.EndTurn };
                    yield break;
                default:
                    yield return e;
                    break;
            }
        }
    }

    /// <summary>Why <paramref name="json"/> is not an answer in <paramref name="format"/>, or null when it is.</summary>
    public static string? Problem(OutputFormat format, string json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            return json.Trim().Length == 0 ? "the answer was empty" : $"the answer is not JSON ({e.Message})";
        }
        using (document)
        {
            if (format.Kind == OutputFormatKind.JsonObject)
                return document.RootElement.ValueKind == JsonValueKind.Object ? null : "the answer is not a JSON object";
            var (schema, problem) = format.Compiled is { } compiled ? (compiled, null) : Compile(format.Schema);
            if (schema is null) return problem;
            var result = schema.Evaluate(document.RootElement, Evaluation);
            if (result.IsValid) return null;
            var first = result.Details?.FirstOrDefault(d => d.Errors is { Count: > 0 }) ?? result;
            var where = first.InstanceLocation.ToString();
            var why = first.Errors is { Count: > 0 } errors ? errors.Values.First() : "does not match the schema";
            return $"{(where.Length == 0 ? "the answer" : where)}: {why}";
        }
    }

    /// <summary>The schema built for validation, or why it cannot be (a 400 when the request is read).</summary>
    internal static (JsonSchema? Schema, string? Problem) Compile(JsonElement schema)
    {
        try
        {
            // A registry per schema: a client's $id must not collide with another request's in a shared one.
            return (JsonSchema.Build(schema, new BuildOptions { SchemaRegistry = new SchemaRegistry() }), null);
        }
        catch (Exception e) when (e is JsonSchemaException or JsonException or ArgumentException or InvalidOperationException or FormatException or KeyNotFoundException or NotSupportedException or RefResolutionException)
        {
            return (null, "not a valid JSON schema: " + e.Message);
        }
    }

    /// <summary>The format's own name, unless one of the caller's tools already has it.</summary>
    private static string ToolName(OutputFormat format, IReadOnlyList<ToolDefinition> tools)
    {
        var name = format.Name;
        while (tools.Any(t => t.Name == name)) name += "_answer";
        return name;
    }

    /// <summary>The answer JSON in a text reply: the whole text, or the inside of a Markdown code fence.</summary>
    private static string ExtractJson(string text)
    {
        var trimmed = text.Trim();
        var fence = trimmed.IndexOf("```", StringComparison.Ordinal);
        if (fence < 0) return trimmed;
        var start = trimmed.IndexOf('\n', fence);
        var end = trimmed.LastIndexOf("```", StringComparison.Ordinal);
        return start >= 0 && end > start ? trimmed[(start + 1)..end].Trim() : trimmed;
    }

    private static string Describe(OutputFormat format) => format.Kind == OutputFormatKind.JsonObject ? "JSON object" : $"schema '{format.Name}'";
}
