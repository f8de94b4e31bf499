namespace Gapura.Conversations;

/// <summary>
/// The canonical stream a provider yields and a front-door writer turns into its SSE dialect.
/// Order guarantees a provider must keep: tool call events of one call are contiguous
/// (Start, Delta…, End), and <see cref="MessageEnd"/> is the last event of a successful stream.
/// Failures are exceptions (<see cref="GatewayException"/>), not events, so a half-finished
/// stream can never look like a clean one.
/// </summary>
public abstract record StreamEvent;

/// <summary>A piece of answer text, written to the client as soon as it is decoded.</summary>
public sealed record TextDelta(string Text) : StreamEvent;

/// <summary>A piece of model reasoning (Anthropic thinking / OpenAI reasoning_content).</summary>
public sealed record ReasoningDelta(string Text) : StreamEvent;

/// <summary>The signature that closes a reasoning block (native reasoning only).</summary>
public sealed record ReasoningSignature(string Signature) : StreamEvent;

/// <summary>A tool call begins. <paramref name="Index"/> counts tool calls from 0 within the response.</summary>
public sealed record ToolCallStart(int Index, string Id, string Name) : StreamEvent;

/// <summary>A fragment of the tool call's JSON arguments, as the upstream produced it.</summary>
public sealed record ToolCallDelta(int Index, string ArgumentsFragment) : StreamEvent;

/// <summary>The tool call's arguments are complete.</summary>
public sealed record ToolCallEnd(int Index) : StreamEvent;

/// <summary>The response is complete.</summary>
public sealed record MessageEnd(StopReason StopReason, Usage Usage, string? StopSequence = null) : StreamEvent;

public enum StopReason
{
    EndTurn,
    MaxTokens,
    ToolUse,
    StopSequence,
    /// <summary>The conversation filled the model's context window (Anthropic <c>model_context_window_exceeded</c>).</summary>
    ContextWindowExceeded,
}

/// <summary>
/// Token accounting for one response. <see cref="Estimated"/> is true when any count came from the
/// gateway's estimator rather than from the upstream (Kiro reports only a context percentage at times).
/// <see cref="ReasoningTokens"/> is the part of the output spent reasoning, when the upstream says (OpenAI Responses).
/// <see cref="ContextUsagePercent"/> is how full the upstream says the model's context window was (Kiro's
/// <c>contextUsagePercentage</c>); <c>gapura probe-limits</c> measures windows with it.
/// </summary>
public sealed record Usage(
    int InputTokens,
    int OutputTokens,
    int CacheReadTokens = 0,
    int CacheWriteTokens = 0,
    double? Credits = null,
    bool Estimated = false,
    int ReasoningTokens = 0,
    double? ContextUsagePercent = null)
{
    public static readonly Usage Zero = new(0, 0);
    public int TotalTokens => InputTokens + OutputTokens + CacheReadTokens + CacheWriteTokens;
}
