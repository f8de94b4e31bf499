using System.Text.Json;

namespace Gapura.Conversations;

/// <summary>
/// One chat turn in the gateway's own shape. Every front door (OpenAI chat, Anthropic messages, …)
/// parses its wire JSON into this record, and every provider builds its upstream request from it,
/// so N formats × M providers needs N + M converters instead of N × M.
/// </summary>
public sealed record ChatRequest
{
    /// <summary>The model name exactly as the client sent it (resolved later by Routing).</summary>
    public required string Model { get; init; }

    /// <summary>The system prompt: leading system/developer text, joined. Null when there is none.</summary>
    public string? System { get; init; }

    /// <summary>A prompt-cache breakpoint after the system prompt (<c>cache_control</c> on a system block).</summary>
    public bool SystemCacheBreakpoint { get; init; }

    public required IReadOnlyList<Message> Messages { get; init; }
    public IReadOnlyList<ToolDefinition> Tools { get; init; } = [];
    public ToolChoice? ToolChoice { get; init; }

    /// <summary>Upper bound on generated tokens the client asked for; null = the model's own cap.</summary>
    public int? MaxTokens { get; init; }
    public double? Temperature { get; init; }
    public double? TopP { get; init; }
    public IReadOnlyList<string> StopSequences { get; init; } = [];
    public ThinkingRequest? Thinking { get; init; }

    public bool Stream { get; init; }

    /// <summary>OpenAI <c>stream_options.include_usage</c>: send a final usage chunk.</summary>
    public bool IncludeUsage { get; init; }

    /// <summary>Structured output: the answer must be JSON (matching a schema when one is given). Null = plain text.</summary>
    public OutputFormat? OutputFormat { get; init; }
}

/// <summary>
/// <see cref="Role.System"/> appears only for system messages found in the middle of a conversation
/// (Claude Code sends them); leading system text lives in <see cref="ChatRequest.System"/>.
/// Each provider decides how to fold them — the parser never drops them.
/// </summary>
public enum Role { System, User, Assistant }

public sealed record Message(Role Role, IReadOnlyList<ContentBlock> Content)
{
    public static Message Text(Role role, string text) => new(role, [new TextBlock(text)]);
}

public abstract record ContentBlock
{
    /// <summary>
    /// The client marked a prompt-cache breakpoint after this block (Anthropic <c>cache_control</c>).
    /// Providers with prompt caching map it (Bedrock <c>cachePoint</c>); others ignore it.
    /// </summary>
    public bool CacheBreakpoint { get; init; }
}

public sealed record TextBlock(string Text) : ContentBlock;

/// <summary>An inline image. <paramref name="Data"/> is base64 (no data-URL prefix).</summary>
public sealed record ImageBlock(string MediaType, string Data) : ContentBlock;

/// <summary>A tool call made by the assistant. <paramref name="Input"/> is a JSON object.</summary>
public sealed record ToolUseBlock(string Id, string Name, JsonElement Input) : ContentBlock;

/// <summary>The result of a tool call, sent back by the client. Content holds text and image blocks.</summary>
public sealed record ToolResultBlock(string ToolUseId, IReadOnlyList<ContentBlock> Content, bool IsError) : ContentBlock;

/// <summary>Model reasoning from an earlier assistant turn (Anthropic thinking / OpenAI reasoning_content).</summary>
public sealed record ThinkingBlock(string Text, string? Signature = null) : ContentBlock;

public sealed record ToolDefinition(string Name, string? Description, JsonElement InputSchema)
{
    /// <summary>A prompt-cache breakpoint after this tool definition (<c>cache_control</c> on a tool).</summary>
    public bool CacheBreakpoint { get; init; }

    /// <summary>The schema as given, or an empty object schema when the client sent none (upstreams require one).</summary>
    public void WriteInputSchema(Utf8JsonWriter writer)
    {
        if (InputSchema.ValueKind == JsonValueKind.Object) InputSchema.WriteTo(writer);
        else WriteEmptyObjectSchema(writer);
    }

    public static void WriteEmptyObjectSchema(Utf8JsonWriter writer)
    {
        writer.WriteStartObject();
        writer.WriteString("type", "object");
        writer.WriteStartObject("properties");
        writer.WriteEndObject();
        writer.WriteEndObject();
    }
}

public enum ToolChoiceKind { Auto, Any, None, Tool }

public sealed record ToolChoice(ToolChoiceKind Kind, string? Name = null);

public enum ThinkingMode { Disabled, Enabled, Adaptive }

/// <summary>
/// What the client asked of reasoning. Anthropic gives a token budget (or adaptive + effort);
/// OpenAI gives an effort word (minimal, low, medium, high).
/// </summary>
public sealed record ThinkingRequest(ThinkingMode Mode, int? BudgetTokens = null, string? Effort = null);
