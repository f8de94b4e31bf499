namespace Gapura.Routing.Tasks;

/// <summary>
/// What a request is for. The seed's seven task types (Kiro's multi-model strategy) plus three a gateway for
/// coding agents needs: the client's own housekeeping calls, very long inputs, and images.
/// </summary>
internal static class TaskTypes
{
    public const string SpecGeneration = "specGeneration";
    public const string TaskExecution = "taskExecution";
    public const string CodeReview = "codeReview";
    public const string InteractiveChat = "interactiveChat";
    public const string HookActions = "hookActions";
    public const string CodeExplanation = "codeExplanation";
    public const string DocumentationUpdate = "documentationUpdate";
    /// <summary>A client's own housekeeping: titles, summaries, command-prefix checks, conversation compaction.</summary>
    public const string Background = "background";
    public const string LongContext = "longContext";
    public const string Vision = "vision";

    public static readonly IReadOnlyList<string> All =
        [SpecGeneration, TaskExecution, CodeReview, InteractiveChat, HookActions, CodeExplanation, DocumentationUpdate, Background, LongContext, Vision];

    /// <summary>The task's canonical spelling; a <see cref="RoutingConfigException"/> naming <paramref name="field"/> when it is not a task type.</summary>
    public static string Valid(string? name, string field)
        => Find(name) ?? throw new RoutingConfigException(field, $"{field}: '{name}' is not a task type; the task types are {string.Join(", ", All)}.");

    /// <summary>The task's canonical spelling, or null when it is not a task type (case-insensitive).</summary>
    public static string? Find(string? name)
    {
        if (string.IsNullOrWhiteSpace(name)) return null;
        foreach (var t in All) if (string.Equals(t, name.Trim(), StringComparison.OrdinalIgnoreCase)) return t;
        return null;
    }
}
