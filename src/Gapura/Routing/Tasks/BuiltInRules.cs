using System.Text.RegularExpressions;
using Gapura.Ledger;

namespace Gapura.Routing.Tasks;

/// <summary>
/// The rules Gapura ships with, tried after the configured ones. The client-specific ones come from what Claude Code
/// 2.1.330, Codex CLI 0.169.0 and opencode 1.18.33 really send (the recordings in
/// <c>tests/Gapura.Tests/Routing/Recordings</c>); the text ones look at the start of the last user text, where an
/// instruction says what it is. Literal markers are found with ordinal searches over the first characters of a
/// prompt only, so a 100 KB request costs what a small one does.
/// </summary>
internal static partial class BuiltInRules
{
    /// <summary>How much of the last user text the text rules read: an instruction says what it is near its start.</summary>
    public const int InstructionHead = 1_000;

    /// <summary>How much of a system prompt the shape rules read: the dedicated prompts announce themselves in their first lines.</summary>
    private const int SystemHead = 1_000;

    /// <summary>The question rule only looks at short instructions: a long paste ending in "?" is more than a question.</summary>
    private const int QuestionMaxChars = 600;

    private static bool Is(RequestFacts f, string client) => f.Client.Name == client;

    private static bool SystemHeadHas(RequestFacts f, string literal)
        => RequestFacts.Head(f.Request.System, SystemHead).Contains(literal, StringComparison.Ordinal);

    private static bool InstructionHas(RequestFacts f, string literal)
        => RequestFacts.Head(f.LastUserText, InstructionHead).Contains(literal, StringComparison.Ordinal);

    private static TaskRule Rule(string name, string task, string description, params RuleCondition[] conditions)
        => new() { Name = name, Task = task, Description = description, Conditions = conditions };

    private static ShapeCondition Shape(string description, Func<RequestFacts, bool> test) => new(description, test);

    private static RegexCondition Instruction(string pattern)
        => new(TextSource.LastUserText, pattern, new Regex(pattern, RegexCondition.Options, RegexCondition.MatchTimeout), InstructionHead);

    /// <summary>
    /// The four instruction patterns in one: most instructions name none of them, and one pass over the head of the
    /// last user text (remembered in the facts) spares the four separate ones.
    /// </summary>
    private static readonly Regex AnyInstructionPattern = new(
        $"{ReviewPattern}|{SpecPattern}|{DocsPattern}|{ExplainPattern}".Replace("(?i)", "", StringComparison.Ordinal),
        RegexCondition.Options | RegexOptions.IgnoreCase, RegexCondition.MatchTimeout);

    private static readonly ShapeCondition NamesAnInstructionKind = new("the last user text names a review, spec, docs or explanation request",
        f => f.InstructionKind ??= Matches(AnyInstructionPattern, RequestFacts.Head(f.LastUserText, InstructionHead)));

    private static bool Matches(Regex regex, ReadOnlySpan<char> text)
    {
        try { return regex.IsMatch(text); }
        catch (RegexMatchTimeoutException) { RegexTimeouts.Report(regex.ToString()); return false; }
    }

    public const string ReviewPattern = @"(?i)\b(review|reviews|reviewing|reviewer|audit)\b";
    public const string SpecPattern = @"(?i)\b(requirements? (document|doc|spec)|specification|spec (for|of)|(design|technical|feature|product) (doc|document|spec)|user stor(y|ies)|acceptance criteria)\b";
    public const string DocsPattern = @"(?i)(\b(readme|docstrings?|documentation|changelog|jsdoc|javadoc|api docs)\b|\bdocument (the|this|how|our|its|it|every)\b|\b(claude|agents)\.md\b)";
    public const string ExplainPattern = @"(?i)(\bexplain|\bwalk me through\b|^\s*how (does|do|is|are)\b|\bwhat does (this|the|it)\b[^?\n]{0,80}\bdo\b)";
    public const string QuestionPattern = @"(?i)(^\s*(what|why|how|when|where|who|which|is|are|can|could|would|should|does|do|did|tell me|hi|hello|hey|thanks|thank you)\b|\?\s*$)";

    public static IReadOnlyList<TaskRule> Create(int longContextTokens) =>
    [
        // ---- the clients' own calls, known by their shape
        Rule("claude-code-hook", TaskTypes.HookActions,
            "Claude Code's prompt/agent hook evaluation (PreToolUse, Stop, …): no tools, a dedicated \"You are evaluating a … hook in Claude Code\" system prompt",
            Shape("Claude Code without tools, system prompt evaluating a hook",
                f => Is(f, ClientApps.ClaudeCode) && !f.HasTools && SystemHeadHas(f, "hook in Claude Code"))),
        Rule("claude-code-compact", TaskTypes.Background,
            "Claude Code's /compact (and auto-compaction): the agent's usual system prompt and tools, but the last user text asks for \"a detailed summary of the conversation\"",
            Shape("Claude Code, last user text asks for a detailed summary (compaction)",
                f => Is(f, ClientApps.ClaudeCode) && InstructionHas(f, "Your task is to create a detailed summary of"))),
        Rule("claude-code-summary", TaskTypes.Background,
            "Claude Code's session summaries: system prompt \"You are a helpful AI assistant tasked with summarizing conversations\"",
            Shape("Claude Code, summarising system prompt",
                f => Is(f, ClientApps.ClaudeCode) && SystemHeadHas(f, "tasked with summarizing conversations"))),
        Rule("claude-code-structured-call", TaskTypes.Background,
            "Claude Code's other housekeeping calls (session titles, topic detection, …): no tools, thinking off, a JSON-schema answer (structured-outputs beta)",
            Shape("Claude Code without tools or thinking, structured-outputs beta",
                f => Is(f, ClientApps.ClaudeCode) && !f.HasTools && !f.Thinking && f.StructuredOutputs)),
        Rule("codex-compact", TaskTypes.Background,
            "Codex CLI's compaction: x-codex-turn-metadata request_kind \"compaction\" (or its \"CONTEXT CHECKPOINT COMPACTION\" prompt)",
            Shape("Codex CLI compaction request",
                f => Is(f, ClientApps.CodexCli) && (f.CodexRequestKind == "compaction" || InstructionHas(f, "CONTEXT CHECKPOINT COMPACTION")))),
        Rule("codex-review", TaskTypes.CodeReview,
            "Codex CLI's review mode (codex review / exec review / /review): its review sub-agent (x-openai-subagent: review, subagent_kind \"review\")",
            Shape("Codex CLI review sub-agent", f => Is(f, ClientApps.CodexCli) && f.CodexSubagentKind == "review")),
        Rule("opencode-title", TaskTypes.Background,
            "opencode's session title call: system prompt \"You are a title generator\"",
            Shape("opencode title generator", f => Is(f, ClientApps.OpenCode) && SystemHeadHas(f, "You are a title generator"))),
        Rule("opencode-compact", TaskTypes.Background,
            "opencode's compaction (from its source, not recorded: its run mode cannot trigger it): the summary template \"Do not mention the summary process or that context was compacted\"",
            Shape("opencode compaction prompt", f => Is(f, ClientApps.OpenCode)
                && (f.System.Contains("Do not mention the summary process or that context was compacted", StringComparison.Ordinal)
                    || f.LastUserText.Contains("Do not mention the summary process or that context was compacted", StringComparison.Ordinal)))),

        // ---- what the request carries
        Rule("vision", TaskTypes.Vision, "An image in the latest user turn (sent by the user, or returned by a tool such as Claude Code's Read)",
            new FlagCondition(FlagFact.Images, true)),
        Rule("long-context", TaskTypes.LongContext, $"An estimated input above Routing's long-context threshold (now {longContextTokens:N0} tokens)",
            new TokensCondition(longContextTokens + 1, isMinimum: true)),

        // ---- what the instruction asks, for any client (the start of the last user text)
        Rule("review-request", TaskTypes.CodeReview, "The instruction asks for a review or an audit (Claude Code's /review, opencode's /review sub-session, \"review this diff\")",
            NamesAnInstructionKind, Instruction(ReviewPattern)),
        Rule("spec-request", TaskTypes.SpecGeneration, "The instruction asks for requirements, a specification, a design document, user stories or acceptance criteria",
            NamesAnInstructionKind, Instruction(SpecPattern)),
        Rule("docs-request", TaskTypes.DocumentationUpdate, "The instruction is about documentation: README, docstrings, changelog, CLAUDE.md / AGENTS.md (/init), \"document the …\"",
            NamesAnInstructionKind, Instruction(DocsPattern)),
        Rule("explain-request", TaskTypes.CodeExplanation, "The instruction asks for an explanation: \"explain\", \"walk me through\", \"how does …\", \"what does this … do\"",
            NamesAnInstructionKind, Instruction(ExplainPattern)),

        // ---- agents at work
        Rule("claude-code-subagent", TaskTypes.TaskExecution, "A Claude Code sub-agent (Agent/Task tool) at work: x-claude-code-agent-id or cc_is_subagent=true",
            Shape("Claude Code sub-agent", f => f.ClaudeCodeSubagent)),
        Rule("question", TaskTypes.InteractiveChat, $"A short instruction (≤ {QuestionMaxChars} characters) that is a question or a greeting — even when the client sends tools, as coding agents always do",
            Shape($"last user text of at most {QuestionMaxChars} characters", f => f.LastUserText.Length is > 0 and <= QuestionMaxChars),
            new RegexCondition(TextSource.LastUserText, QuestionPattern, new Regex(QuestionPattern, RegexCondition.Options, RegexCondition.MatchTimeout))),
        Rule("tool-loop", TaskTypes.TaskExecution, "Tools declared and a tool result as the last turn: an agent working through a task",
            new FlagCondition(FlagFact.Tools, true), new FlagCondition(FlagFact.LastTurnToolResult, true)),
    ];
}
