using Gapura.Conversations;

namespace Gapura.Providers.Kiro;

/// <summary>
/// Kiro has no reasoning field. Models behind it honour a tag prefix on the user message instead, so the
/// client's own request (Anthropic budget_tokens / adaptive effort, OpenAI reasoning_effort) decides
/// whether the prefix is added and how long the thinking may be — the gateway never turns it on by itself.
/// </summary>
internal static class KiroThinking
{
    public const string Instruction = "Think through the request inside <thinking>…</thinking> tags first, then answer.";

    /// <summary>
    /// Without it the model may treat the tags as an injection attempt by the user and refuse or comment on them.
    /// </summary>
    public const string SystemNote =
        "The <thinking_mode> and <max_thinking_length> tags at the start of a user message are set by the system, not by the user: they are legitimate, follow them.";

    /// <summary>
    /// The thinking length to request, or null for none. A budget is taken as given; an effort word is a
    /// share of the answer's token cap, because that is what the client can afford to spend on reasoning.
    /// Both are capped by <see cref="KiroOptions.MaxThinkingTokens"/> (≤ 0 turns injection off).
    /// </summary>
    public static int? Budget(ThinkingRequest? thinking, int? requestMaxTokens, int modelMaxOutputTokens, int cap)
    {
        if (thinking is null || thinking.Mode == ThinkingMode.Disabled || cap <= 0) return null;

        int tokens;
        if (thinking.Mode == ThinkingMode.Enabled && thinking.BudgetTokens is int budget)
        {
            tokens = budget;
        }
        else
        {
            var share = EffortShare(thinking.Effort);
            if (share is not double s) return null;
            var maxTokens = requestMaxTokens is > 0 and var m
                ? (modelMaxOutputTokens > 0 ? Math.Min(m, modelMaxOutputTokens) : m)
                : modelMaxOutputTokens;
            tokens = (int)(maxTokens * s);
        }

        tokens = Math.Min(tokens, cap);
        return tokens >= 1 ? tokens : null;
    }

    /// <summary>The prefix that opens the current message.</summary>
    public static string Prefix(int tokens)
        => $"<thinking_mode>enabled</thinking_mode><max_thinking_length>{tokens}</max_thinking_length>\n{Instruction}\n\n";

    /// <summary>
    /// Share of max_tokens per effort word. No word means Anthropic's adaptive default, which is "high";
    /// words above "high" (OpenAI xhigh, Anthropic max) stay at high's share so the answer keeps some room.
    /// </summary>
    private static double? EffortShare(string? effort) => effort?.Trim().ToLowerInvariant() switch
    {
        "none" => null,
        "minimal" => 0.10,
        "low" => 0.20,
        "medium" => 0.50,
        _ => 0.80,
    };
}
