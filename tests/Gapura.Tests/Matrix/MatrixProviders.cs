using System.Text.Json.Nodes;
using Gapura.Simulators.Anthropic;
using Gapura.Simulators.Bedrock;
using Gapura.Simulators.Kiro;
using Gapura.Simulators.OpenAi;
using Gapura.Tests.Integration;

namespace Gapura.Tests.Matrix;

/// <summary>A message as an upstream received it, read back into neutral parts.</summary>
public sealed record UpstreamMessage(bool User, List<Part> Parts)
{
    public string Text => string.Join("\n", Parts.OfType<TextPart>().Select(t => t.Text));
}

/// <summary>
/// What one upstream received, read back from its own wire format. Thinking is asked for with a token budget
/// (Anthropic, Bedrock, Kiro's injected length) or an effort word (chat completions).
/// </summary>
public sealed record UpstreamView(string? System, List<UpstreamMessage> Messages, bool ThinkingRequested, int? MaxTokens, List<string> ToolNames,
    int? ThinkingBudget = null, string? ReasoningEffort = null);

/// <summary>
/// One provider column of the matrix: the model to ask for (with its <c>provider/</c> prefix), how to start its
/// simulator and configure the gateway for it, how to tell the simulator what to answer, and how to read what
/// the simulator received. Adding a provider is adding one of these to <see cref="Create"/>.
/// </summary>
public abstract class MatrixProvider : IAsyncDisposable
{
    /// <summary>Every provider of the matrix; fresh instances, so a fixture owns the simulators it starts.</summary>
    public static MatrixProvider[] Create() =>
    [
        new KiroRow(),
        new AnthropicRow(),
        new OpenAiRow("openai", "openai/gpt-5", "gpt-5", compatible: false),
        new OpenAiRow("ollama", "ollama/llama3.2", "llama3.2", compatible: true),
        new BedrockRow(),
        new CopilotRow(),
    ];

    public abstract string Name { get; }

    /// <summary>The model name a client sends, <c>provider/model</c>.</summary>
    public abstract string Model { get; }

    /// <summary>Kiro has no system field: the prompt opens the first user message.</summary>
    public virtual bool SystemInFirstUserMessage => false;

    /// <summary>False when the upstream has no output cap field and the gateway cuts the answer itself (Kiro).</summary>
    public virtual bool EnforcesMaxTokens => true;

    /// <summary>Whether the upstream's tool results carry an error flag (Anthropic is_error, Bedrock/Kiro status).</summary>
    public abstract bool HasToolErrorFlag { get; }

    /// <summary>
    /// How earlier thinking goes back upstream: false where the format has no field for it (chat completions);
    /// with <see cref="NeedsThinkingSignature"/> only when signed (Anthropic refuses unsigned thinking blocks).
    /// </summary>
    public virtual bool ResendsThinking => true;

    public virtual bool NeedsThinkingSignature => false;

    /// <summary>Where the gateway's chat-completions answers carry reasoning.</summary>
    public const string GatewayReasoningField = "reasoning_content";

    /// <summary>
    /// Where this upstream's chat completions carry reasoning (Copilot: <c>reasoning_text</c>); the gateway reads it
    /// into its own field, and relays it unchanged to chat-door clients on the passthrough path.
    /// </summary>
    public virtual string ChatReasoningField => GatewayReasoningField;

    /// <summary>Whether requests from <paramref name="door"/> go up unchanged but for the model (same wire format).</summary>
    public virtual bool PassesThrough(FrontDoorDialect door) => false;

    /// <summary>The signature this upstream puts on <paramref name="thinking"/>; null when its reasoning is unsigned.</summary>
    public virtual string? ThinkingSignature(string thinking) => null;

    /// <summary>The id this upstream gives the <paramref name="index"/>-th tool call of an answer, in its own style.</summary>
    public abstract string CallId(int index);

    /// <summary>Starts the simulator (if the gateway fixture does not) and returns the gateway settings for it.</summary>
    public abstract Task<IEnumerable<string>> StartAsync(GatewayFixture gateway);

    /// <summary>Forgets earlier requests and unconsumed scripts, then queues <paramref name="reply"/> as the next answer.</summary>
    public abstract void Script(Reply reply);

    /// <summary>The body of the one chat request the simulator received since <see cref="Script"/>.</summary>
    public abstract JsonObject ReceivedBody();

    public abstract UpstreamView Read(JsonObject body);

    public virtual ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public override string ToString() => Name;

    internal (string Id, string Name, string Arguments)[] Calls(Reply reply)
        => [.. reply.Calls.Select((k, i) => (CallId(i), k.Name, k.Arguments))];

    protected static string MediaType(string format) => "image/" + format;

    internal static List<string> Names(JsonNode? tools, Func<JsonNode, string?> name)
        => [.. (tools as JsonArray ?? []).Select(t => name(t!)).OfType<string>()];

    /// <summary>Consecutive messages of one role become one (OpenAI tool messages and the user text after them).</summary>
    protected static JsonObject Single(IReadOnlyList<RecordedRequest> requests)
    {
        Assert.True(requests.Count == 1, $"expected one upstream chat request, got {requests.Count}");
        return Assert.IsType<JsonObject>(requests[0].Json);
    }

    internal static List<UpstreamMessage> Merge(IEnumerable<UpstreamMessage> messages)
    {
        var merged = new List<UpstreamMessage>();
        foreach (var m in messages)
        {
            if (merged.Count > 0 && merged[^1].User == m.User) merged[^1].Parts.AddRange(m.Parts);
            else merged.Add(new UpstreamMessage(m.User, [.. m.Parts]));
        }
        return merged;
    }
}
