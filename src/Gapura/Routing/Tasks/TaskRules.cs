using System.Globalization;
using System.Text.Json;
using Gapura.Conversations;
using Microsoft.Extensions.Logging;

namespace Gapura.Routing.Tasks;

/// <summary>The task a request was given and the rule that decided it.</summary>
internal sealed record TaskClassification(string Task, string Rule);

/// <summary>One rule as evaluated for <c>POST /v1/route</c>: whether it matched, and why or why not.</summary>
internal sealed record RuleEvaluation(string Rule, string Task, bool Matched, string Why);

/// <summary>
/// A classification rule: a name, the task it gives, and conditions that must all hold. Configured rules are read from
/// JSON (<c>{"name":"reviews","task":"codeReview","client":"claude-code","last_user_text":"(?i)\\breview\\b"}</c>) or from
/// the <c>Routing:Rules</c> configuration section; the built-in ones (<see cref="BuiltInRules"/>) also use shape
/// conditions that only code can state.
/// </summary>
internal sealed class TaskRule
{
    public const string NameField = "name";
    public const string TaskField = "task";

    /// <summary>Every field a configured rule may have.</summary>
    public static readonly IReadOnlyList<string> Fields =
        [NameField, TaskField, "client", "model", "tools", "last_turn_tool_result", "thinking", "images", "min_input_tokens", "max_input_tokens", "system", "last_user_text"];

    public required string Name { get; init; }
    public required string Task { get; init; }
    private readonly RuleCondition[] _conditions = [];

    /// <summary>All must hold. Kept as an array: the hot path walks it with an index, without an enumerator to allocate.</summary>
    public IReadOnlyList<RuleCondition> Conditions { get => _conditions; init => _conditions = [.. value]; }

    /// <summary>What a built-in rule catches (README, explanations); null for configured rules.</summary>
    public string? Description { get; init; }

    public bool IsBuiltIn => Description is not null;

    public bool Matches(RequestFacts facts)
    {
        var conditions = _conditions;
        for (var i = 0; i < conditions.Length; i++) if (!conditions[i].Test(facts)) return false;
        return true;
    }

    /// <summary>Reads a JSON array of rules; throws <see cref="RoutingConfigException"/> naming <paramref name="path"/>[i].field.</summary>
    public static IReadOnlyList<TaskRule> ParseList(JsonElement array, string path)
    {
        if (array.ValueKind != JsonValueKind.Array) throw new RoutingConfigException(path, "must be an array of rule objects");
        var rules = new List<TaskRule>();
        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            var at = $"{path}[{i.ToString(CultureInfo.InvariantCulture)}]";
            if (item.ValueKind != JsonValueKind.Object) throw new RoutingConfigException(at, "a rule must be a JSON object");
            var fields = item.EnumerateObject().Select(p => (p.Name, (object)p.Value)).ToList();
            rules.Add(Parse(fields, field => $"{at}.{field}", at));
            i++;
        }
        CheckUniqueNames(rules, i => $"{path}[{i.ToString(CultureInfo.InvariantCulture)}].{NameField}");
        return rules;
    }

    /// <summary>Reads <c>Routing:Rules</c> from the configuration (an array of objects: <c>Routing:Rules:0:name</c>, …).</summary>
    public static IReadOnlyList<TaskRule> FromConfiguration(IConfigurationSection section)
    {
        var rules = new List<TaskRule>();
        var children = section.GetChildren()
            .OrderBy(c => int.TryParse(c.Key, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : int.MaxValue).ToList();
        foreach (var child in children)
        {
            if (!int.TryParse(child.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                throw new RoutingConfigException(child.Path, "Routing:Rules must be an array of rule objects (keys 0, 1, 2, …)");
            var fields = child.GetChildren().Select(c => (c.Key, (object)c)).ToList();
            if (fields.Count == 0) throw new RoutingConfigException(child.Path, "a rule must be an object with at least name and task");
            rules.Add(Parse(fields, field => $"{child.Path}:{field}", child.Path));
        }
        CheckUniqueNames(rules, i => $"{children[i].Path}:{NameField}");
        return rules;
    }

    private static void CheckUniqueNames(List<TaskRule> rules, Func<int, string> field)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < rules.Count; i++)
            if (!seen.Add(rules[i].Name)) throw new RoutingConfigException(field(i), $"another rule is already named '{rules[i].Name}'");
    }

    /// <summary>One rule from its fields; a value is a <see cref="JsonElement"/> or an <see cref="IConfigurationSection"/>.</summary>
    private static TaskRule Parse(List<(string Key, object Value)> fields, Func<string, string> fieldPath, string rulePath)
    {
        string? name = null, task = null;
        var conditions = new List<RuleCondition>();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        string? maxKey = null;
        foreach (var (rawKey, value) in fields)
        {
            var key = Fields.FirstOrDefault(f => Hosting.FieldNames.Same(f, rawKey)); // snake_case, camelCase (older definitions) or any case
            var at = fieldPath(rawKey); // as the caller spelled it
            if (key is null)
                throw new RoutingConfigException(at, $"unknown rule field '{rawKey}' (expected {string.Join(", ", Fields)})");
            if (!seen.Add(key)) throw new RoutingConfigException(at, "the field is given twice");
            Exception Fail(string message) => new RoutingConfigException(at, message);
            switch (key)
            {
                case NameField:
                    name = String(value, Fail);
                    if (name.Trim().Length == 0 || name.Length > 64 || name.Any(c => char.IsControl(c) || c == ',' || c == ';'))
                        throw Fail("a rule name is 1–64 characters without commas, semicolons or control characters (it appears in the x-gapura-route header)");
                    break;
                case TaskField:
                    var raw = String(value, Fail);
                    task = TaskTypes.Find(raw) ?? throw Fail($"unknown task '{raw}' (expected one of {string.Join(", ", TaskTypes.All)})");
                    break;
                case "client":
                    var names = StringList(value, Fail);
                    if (names.Count == 0 || names.Any(n => n.Trim().Length == 0)) throw Fail("name one client application or a list of them (claude-code, codex-cli, opencode, …)");
                    conditions.Add(new ClientCondition([.. names.Select(n => n.Trim())]));
                    break;
                case "tools": conditions.Add(new FlagCondition(FlagFact.Tools, Bool(value, Fail))); break;
                case "last_turn_tool_result": conditions.Add(new FlagCondition(FlagFact.LastTurnToolResult, Bool(value, Fail))); break;
                case "thinking": conditions.Add(new FlagCondition(FlagFact.Thinking, Bool(value, Fail))); break;
                case "images": conditions.Add(new FlagCondition(FlagFact.Images, Bool(value, Fail))); break;
                case "min_input_tokens": conditions.Add(new TokensCondition(Int(value, Fail), isMinimum: true)); break;
                case "max_input_tokens": conditions.Add(new TokensCondition(Int(value, Fail), isMinimum: false)); maxKey = rawKey; break;
                case "model": conditions.Add(Regex(TextSource.Model, value, Fail)); break;
                case "system": conditions.Add(Regex(TextSource.System, value, Fail)); break;
                case "last_user_text": conditions.Add(Regex(TextSource.LastUserText, value, Fail)); break;
            }
        }
        if (name is null) throw new RoutingConfigException(fieldPath(NameField), "a rule needs a name");
        if (task is null) throw new RoutingConfigException(fieldPath(TaskField), $"a rule needs a task (one of {string.Join(", ", TaskTypes.All)})");
        var min = conditions.OfType<TokensCondition>().FirstOrDefault(c => c.IsMinimum);
        var max = conditions.OfType<TokensCondition>().FirstOrDefault(c => !c.IsMinimum);
        if (min is not null && max is not null && min.Limit > max.Limit)
            throw new RoutingConfigException(fieldPath(maxKey!), $"{maxKey} ({max.Limit}) is below the minimum of input tokens ({min.Limit})");
        return new TaskRule { Name = name.Trim(), Task = task, Conditions = conditions };
    }

    private static RegexCondition Regex(TextSource source, object value, Func<string, Exception> fail)
    {
        var pattern = String(value, fail);
        if (pattern.Length == 0) throw fail("an empty regular expression would match everything; leave the field out instead");
        if (pattern.Length > 2000) throw fail("the regular expression is longer than 2000 characters");
        return new RegexCondition(source, pattern, RegexCondition.Compile(pattern, fail));
    }

    private static string String(object value, Func<string, Exception> fail) => value switch
    {
        JsonElement { ValueKind: JsonValueKind.String } e => e.GetString()!,
        IConfigurationSection { Value: { } s } => s,
        _ => throw fail("must be a string"),
    };

    private static List<string> StringList(object value, Func<string, Exception> fail) => value switch
    {
        JsonElement { ValueKind: JsonValueKind.String } e => [e.GetString()!],
        JsonElement { ValueKind: JsonValueKind.Array } e => [.. e.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()! : throw fail("must be a string or an array of strings"))],
        IConfigurationSection { Value: { } s } => [.. s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)],
        IConfigurationSection section => [.. section.GetChildren().Select(c => c.Value ?? throw fail("must be a string or an array of strings"))],
        _ => throw fail("must be a string or an array of strings"),
    };

    private static bool Bool(object value, Func<string, Exception> fail) => value switch
    {
        JsonElement { ValueKind: JsonValueKind.True } => true,
        JsonElement { ValueKind: JsonValueKind.False } => false,
        IConfigurationSection { Value: { } s } when bool.TryParse(s, out var b) => b,
        _ => throw fail("must be true or false"),
    };

    private static int Int(object value, Func<string, Exception> fail)
    {
        int n;
        var ok = value switch
        {
            JsonElement { ValueKind: JsonValueKind.Number } e => e.TryGetInt32(out n),
            IConfigurationSection { Value: { } s } => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out n),
            _ => (n = 0) != 0,
        };
        if (!ok || n < 0) throw fail("must be a whole number of tokens, 0 or more");
        return n;
    }

    /// <summary>Writes the rule as <see cref="ParseList"/> reads it (built-in rules also carry their description).</summary>
    public void WriteTo(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        writer.WriteString(NameField, Name);
        writer.WriteString(TaskField, Task);
        foreach (var condition in Conditions) condition.Write(writer);
        writer.WriteEndObject();
    }
}

/// <summary>
/// The ordered rule list: the <c>x-gapura-task</c> header first, then the configured rules, then the built-in ones, then
/// the defaults (tools present → taskExecution, else interactiveChat). The first rule whose conditions all hold decides.
/// Immutable: a configuration change builds a new instance.
/// </summary>
internal sealed class TaskRules
{
    public const string HeaderRule = "header";
    public const string DefaultToolsRule = "default-tools";
    public const string DefaultChatRule = "default-chat";

    private readonly TaskRule[] _rules;

    private TaskRules(IReadOnlyList<TaskRule> configured, TaskRule[] rules)
    {
        Configured = configured;
        _rules = rules;
    }

    public IReadOnlyList<TaskRule> Configured { get; }

    /// <summary>Every rule in the order it is tried (configured, then built-in), without the header and the defaults.</summary>
    public IReadOnlyList<TaskRule> All => _rules;

    public static TaskRules Create(IReadOnlyList<TaskRule> configured, bool includeBuiltIns, int longContextTokens)
        => new(configured, includeBuiltIns ? [.. configured, .. BuiltInRules.Create(longContextTokens)] : [.. configured]);

    /// <summary>As <see cref="Create(IReadOnlyList{TaskRule}, bool, int)"/>, with the logger a regex timeout is reported to (once a minute at most).</summary>
    public static TaskRules Create(IReadOnlyList<TaskRule> configured, bool includeBuiltIns, int longContextTokens, ILogger logger)
    {
        RegexTimeouts.Logger = logger;
        return Create(configured, includeBuiltIns, longContextTokens);
    }

    /// <summary>The hot path: the header, then the first matching rule, then the defaults. Allocates only the result.</summary>
    public TaskClassification Classify(RequestFacts facts)
    {
        if (HeaderTask(facts) is { } task) return new(task, HeaderRule);
        foreach (var rule in _rules)
            if (rule.Matches(facts)) return new(rule.Task, rule.Name);
        return facts.HasTools ? new(TaskTypes.TaskExecution, DefaultToolsRule) : new(TaskTypes.InteractiveChat, DefaultChatRule);
    }

    /// <summary>Every rule evaluated in order, with why it matched or not; the first match is the one <see cref="Classify"/> picks.</summary>
    public IReadOnlyList<RuleEvaluation> Explain(RequestFacts facts)
    {
        var result = new List<RuleEvaluation>(_rules.Length + 3);
        var header = HeaderTask(facts);
        result.Add(new(HeaderRule, header ?? "", header is not null,
            header is null ? $"no {RequestFacts.TaskHeaderName} header" : $"{RequestFacts.TaskHeaderName}: {facts.TaskHeader}"));
        foreach (var rule in _rules)
        {
            var matched = true;
            var why = new List<string>(rule.Conditions.Count);
            foreach (var condition in rule.Conditions)
            {
                var ok = condition.Test(facts);
                why.Add(condition.Why(facts, ok));
                if (!ok) { matched = false; break; }
            }
            result.Add(new(rule.Name, rule.Task, matched, why.Count == 0 ? "no conditions: matches every request" : string.Join("; ", why)));
        }
        result.Add(new(DefaultToolsRule, TaskTypes.TaskExecution, facts.HasTools, facts.HasTools ? $"{facts.Request.Tools.Count} tools" : "no tools"));
        result.Add(new(DefaultChatRule, TaskTypes.InteractiveChat, true, "the last resort"));
        return result;
    }

    /// <summary>The header's task, or null when absent; an unknown task is the caller's mistake: a 400 naming the header and the tasks.</summary>
    private static string? HeaderTask(RequestFacts facts)
    {
        if (facts.TaskHeader is not { } header) return null;
        return TaskTypes.Find(header) ?? throw GatewayException.BadRequest(
            $"The {RequestFacts.TaskHeaderName} header names an unknown task '{Clip(header)}'; expected one of {string.Join(", ", TaskTypes.All)}.");
    }

    private static string Clip(string s) => s.Length <= 64 ? s : s[..64] + "…";
}
