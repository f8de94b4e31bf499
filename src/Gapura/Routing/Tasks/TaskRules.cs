using System.Text.Json;

namespace Gapura.Routing.Tasks;

/// <summary>The task a request was given and the rule that decided it.</summary>
internal sealed record TaskClassification(string Task, string Rule);

/// <summary>One rule as evaluated for <c>POST /v1/route</c>: whether it matched, and why or why not.</summary>
internal sealed record RuleEvaluation(string Rule, string Task, bool Matched, string Why);

/// <summary>A configured classification rule. PLACEHOLDER: the classifier work replaces this file.</summary>
internal sealed class TaskRule
{
    public required string Name { get; init; }
    public required string Task { get; init; }

    /// <summary>Reads a JSON array of rules; throws <see cref="RoutingConfigException"/> naming <paramref name="path"/>[i].field.</summary>
    public static IReadOnlyList<TaskRule> ParseList(JsonElement array, string path) => [];

    /// <summary>Reads <c>Routing:Rules</c> from the configuration (an array of objects).</summary>
    public static IReadOnlyList<TaskRule> FromConfiguration(IConfigurationSection section) => [];

    public void WriteTo(Utf8JsonWriter writer) { writer.WriteStartObject(); writer.WriteString("name", Name); writer.WriteString("task", Task); writer.WriteEndObject(); }
}

/// <summary>The ordered rule list: configured rules first, then the built-in ones. PLACEHOLDER.</summary>
internal sealed class TaskRules
{
    public IReadOnlyList<TaskRule> Configured { get; private init; } = [];

    public static TaskRules Create(IReadOnlyList<TaskRule> configured, bool includeBuiltIns, int longContextTokens) => new() { Configured = configured };

    public TaskClassification Classify(RequestFacts facts)
        => TaskTypes.Find(facts.TaskHeader) is { } t ? new(t, "header") : new(facts.Request.Tools.Count > 0 ? TaskTypes.TaskExecution : TaskTypes.InteractiveChat, "default");

    public IReadOnlyList<RuleEvaluation> Explain(RequestFacts facts) => [];
}
