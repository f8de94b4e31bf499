using System.Text.RegularExpressions;

namespace Gapura.Simulators;

/// <summary>
/// How the simulated models obey an instruction to call a tool, as a real model does: a plain "You MUST call the NAME
/// tool" (Claude Code's nudge for <c>--json-schema</c>), and a choice that obliges some tool with nothing in the prompt
/// saying which, where a model reads the descriptions and picks the one declared to carry its final answer.
/// </summary>
public static partial class ToolInstruction
{
    [GeneratedRegex(@"You MUST call the (?<name>[A-Za-z0-9_.\-]+) tool")]
    private static partial Regex MustCall();

    /// <summary>The tool <paramref name="text"/> tells the model it must call, or null.</summary>
    public static string? MustCallName(string text) => MustCall().Match(text) is { Success: true } match ? match.Groups["name"].Value : null;

    /// <summary>
    /// Which of the declared tools (by description, in order) a model obliged to call one picks: the one that gives the
    /// final answer when one says so, otherwise the first.
    /// </summary>
    public static int PickWhenAnyIsRequired(IReadOnlyList<string?> descriptions)
    {
        for (var i = 0; i < descriptions.Count; i++)
            if (descriptions[i]?.Contains("final answer", StringComparison.OrdinalIgnoreCase) == true) return i;
        return 0;
    }
}
