using Gapura.Conversations;
using Gapura.Ledger;
using Microsoft.AspNetCore.Http;

namespace Gapura.Routing.Tasks;

/// <summary>
/// What the classification rules look at, read from the request once. Cheap facts are read in <see cref="From"/>
/// (a handful of header lookups, one walk over the last message); the last user text is found lazily, the first time a
/// rule asks, by walking back over the messages — nothing is copied or concatenated, the facts point into the parsed
/// request's own strings, so a 100 KB request costs no more than a small one.
/// </summary>
internal sealed class RequestFacts
{
    /// <summary>The header a caller names its task with; checked before every rule.</summary>
    public const string TaskHeaderName = "x-gapura-task";

    private string? _lastUserText;
    private bool _lastUserTextRead;

    public required ChatRequest Request { get; init; }
    public required ClientApp Client { get; init; }

    /// <summary>The <c>x-gapura-task</c> header as sent (null when absent or empty).</summary>
    public string? TaskHeader { get; init; }

    public int EstimatedInputTokens { get; init; }

    public bool HasTools => Request.Tools.Count > 0;

    /// <summary>The last message is a user turn carrying a tool result: the client is in a tool loop.</summary>
    public bool LastTurnToolResult { get; init; }

    /// <summary>Reasoning was asked for (Anthropic thinking enabled/adaptive, an OpenAI reasoning effort other than none).</summary>
    public bool Thinking { get; init; }

    /// <summary>The latest user turn carries an image (its own, or inside a tool result, as Claude Code's Read returns one).</summary>
    public bool Images { get; init; }

    /// <summary>The <c>anthropic-beta</c> header names a structured-outputs beta (Claude Code's and opencode's JSON-schema housekeeping calls).</summary>
    public bool StructuredOutputs { get; init; }

    /// <summary>Claude Code marks a sub-agent's requests: <c>x-claude-code-agent-id</c>, or <c>cc_is_subagent=true</c> in its billing line.</summary>
    public bool ClaudeCodeSubagent { get; init; }

    /// <summary>Codex's <c>x-codex-turn-metadata</c> <c>request_kind</c> (<c>turn</c>, <c>compaction</c>), or null.</summary>
    public string? CodexRequestKind { get; init; }

    /// <summary>Codex's sub-agent kind (<c>review</c>) from <c>x-openai-subagent</c> or the turn metadata, or null.</summary>
    public string? CodexSubagentKind { get; init; }

    /// <summary>opencode's <c>x-parent-session-id</c>: the request belongs to a sub-session (a <c>/review</c>, a task tool).</summary>
    public bool OpenCodeSubSession { get; init; }

    public string System => Request.System ?? "";

    /// <summary>Whether the instruction names a kind of request the built-in text rules know (their shared pre-check, computed once).</summary>
    internal bool? InstructionKind { get; set; }

    /// <summary>
    /// The text of the most recent user message that has text of its own — the instruction a tool loop is working on.
    /// Claude Code's <c>&lt;system-reminder&gt;</c> blocks and Codex's <c>&lt;environment_context&gt;</c> are not the
    /// user's words and are skipped, as are user turns that only carry tool results. When opencode continues after a
    /// sub-task with its fixed "Summarize the task tool output above…" line, the sub-task's prompt is the instruction.
    /// Empty when there is none.
    /// </summary>
    public string LastUserText
    {
        get
        {
            if (!_lastUserTextRead)
            {
                _lastUserText = FindLastUserText(Request);
                _lastUserTextRead = true;
            }
            return _lastUserText ?? "";
        }
    }

    public static RequestFacts From(ChatRequest request, IHeaderDictionary headers, ClientApp client, int estimatedInputTokens)
    {
        var taskHeader = headers[TaskHeaderName].ToString();
        var (lastTurnToolResult, images) = ReadLastUserTurn(request);
        string? requestKind = null, subagentKind = null;
        if (client.Name == ClientApps.CodexCli)
        {
            var metadata = headers["x-codex-turn-metadata"].ToString();
            requestKind = JsonStringField(metadata, "\"request_kind\":\"");
            subagentKind = headers["x-openai-subagent"].ToString() is { Length: > 0 } s ? s : JsonStringField(metadata, "\"subagent_kind\":\"");
        }
        return new RequestFacts
        {
            Request = request,
            Client = client,
            TaskHeader = string.IsNullOrWhiteSpace(taskHeader) ? null : taskHeader,
            EstimatedInputTokens = estimatedInputTokens,
            LastTurnToolResult = lastTurnToolResult,
            Images = images,
            Thinking = request.Thinking is { } t && (t.Mode != ThinkingMode.Disabled || t.Effort is { Length: > 0 } e && !e.Equals("none", StringComparison.OrdinalIgnoreCase)),
            StructuredOutputs = headers["anthropic-beta"].ToString().Contains("structured-outputs", StringComparison.OrdinalIgnoreCase),
            ClaudeCodeSubagent = client.Name == ClientApps.ClaudeCode
                && (headers["x-claude-code-agent-id"].Count > 0 || Head(request.System, 400).Contains("cc_is_subagent=true", StringComparison.Ordinal)),
            CodexRequestKind = requestKind,
            CodexSubagentKind = subagentKind,
            OpenCodeSubSession = client.Name == ClientApps.OpenCode && headers["x-parent-session-id"].Count > 0,
        };
    }

    /// <summary>The first <paramref name="chars"/> characters of a text, as a span (no copy).</summary>
    public static ReadOnlySpan<char> Head(string? text, int chars)
        => text is null ? default : text.AsSpan(0, Math.Min(text.Length, chars));

    private static (bool ToolResult, bool Images) ReadLastUserTurn(ChatRequest request)
    {
        var messages = request.Messages;
        if (messages.Count == 0) return (false, false);
        var toolResult = false;
        // The latest user turn: the last message when it is the user's (the normal case for a request).
        var last = messages[^1];
        if (last.Role != Role.User) return (false, false);
        var images = false;
        foreach (var block in last.Content)
        {
            switch (block)
            {
                case ImageBlock: images = true; break;
                case ToolResultBlock result:
                    toolResult = true;
                    foreach (var inner in result.Content) if (inner is ImageBlock) images = true;
                    break;
            }
        }
        return (toolResult, images);
    }

    /// <summary>opencode's line after a sub-task (its <c>/review</c>, a task tool) finished: not the user's words.</summary>
    internal const string OpenCodeSubtaskContinuation = "Summarize the task tool output above and continue with your task.";

    private static string? FindLastUserText(ChatRequest request)
    {
        var messages = request.Messages;
        for (var m = messages.Count - 1; m >= 0; m--)
        {
            var message = messages[m];
            if (message.Role != Role.User) continue;
            for (var b = message.Content.Count - 1; b >= 0; b--)
            {
                if (message.Content[b] is not TextBlock { Text: var text } || IsInjected(text)) continue;
                if (text == OpenCodeSubtaskContinuation && SubtaskPrompt(messages, m) is { } prompt) return prompt;
                return text;
            }
        }
        return null;
    }

    /// <summary>Text a client injects into a user turn that the user did not write (checked only when it starts with '&lt;').</summary>
    private static bool IsInjected(string text)
    {
        var span = text.AsSpan().TrimStart();
        if (span.IsEmpty) return true;
        if (span[0] != '<') return false;
        return span.StartsWith("<system-reminder>", StringComparison.Ordinal) || span.StartsWith("<environment_context>", StringComparison.Ordinal);
    }

    /// <summary>The prompt of the last <c>task</c> tool call before message <paramref name="before"/>, for opencode's sub-task shape.</summary>
    private static string? SubtaskPrompt(IReadOnlyList<Message> messages, int before)
    {
        for (var m = before - 1; m >= 0; m--)
        {
            if (messages[m].Role != Role.Assistant) continue;
            foreach (var block in messages[m].Content)
                if (block is ToolUseBlock { Name: "task", Input: { ValueKind: global::System.Text.Json.JsonValueKind.Object } input }
                    && input.TryGetProperty("prompt", out var prompt) && prompt.ValueKind == global::System.Text.Json.JsonValueKind.String)
                    return prompt.GetString();
            return null;
        }
        return null;
    }

    /// <summary>The value of a string field in a small JSON header, found with an ordinal search (<c>"request_kind":"</c>).</summary>
    private static string? JsonStringField(string json, string marker)
    {
        var at = json.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0) return null;
        var start = at + marker.Length;
        var end = json.IndexOf('"', start);
        return end > start && end - start <= 64 ? json[start..end] : null;
    }
}
