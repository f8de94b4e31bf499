using System.Buffers;
using System.Text;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.Kiro;

/// <summary>
/// Builds the body of Kiro's <c>generateAssistantResponse</c> from a canonical <see cref="ChatRequest"/>,
/// following every rule of kiro.md §3. The body is streamed with <see cref="Utf8JsonWriter"/>; the
/// conversation is first reshaped (<see cref="KiroConversation"/>), then written, and rewritten with fewer
/// history pairs only when it is over the size guard.
/// Not sent because Kiro has no field for them: max_tokens, temperature, top_p, stop sequences and
/// cache_control (the gateway enforces max_tokens and stop itself); tool_choice becomes an instruction.
/// </summary>
internal static class KiroRequestBuilder
{
    public const string ToolResultsOnlyUser = "(tool results attached)";
    public const string ImagesOnlyUser = "(image attached)";
    public const string EmptyUser = "(empty message)";
    public const string ToolUsesOnlyAssistant = "(calling tools)";
    public const string EmptyAssistant = "(empty response)";

    /// <param name="modelId">Kiro's model id, e.g. <c>claude-sonnet-4.5</c>.</param>
    /// <param name="modelMaxOutputTokens">The model's output cap; the base of effort-based thinking lengths when the client gives no max_tokens.</param>
    /// <param name="profileArn">The credential's profile ARN; sent when known and <see cref="KiroOptions.SendProfileArn"/> allows.</param>
    /// <exception cref="GatewayException">400 for requests Kiro cannot take (image limits, URL images…);
    /// 413 when the body is over <see cref="KiroOptions.MaxPayloadBytes"/> even with no history.</exception>
    public static KiroRequest Build(
        ChatRequest request, string modelId, int modelMaxOutputTokens, KiroOptions options, string? profileArn, string conversationId)
    {
        var aliases = new Dictionary<string, string>(StringComparer.Ordinal);
        var tools = KiroToolSet.From(request, aliases, Formats.JsonResponses.WriterOptions);
        var toolsSent = request.ToolChoice?.Kind != ToolChoiceKind.None;
        var conversation = KiroConversation.From(request.Messages, foldToolUses: !toolsSent);
        AddHistoryAliases(request.Messages, aliases);

        var thinkingTokens = KiroThinking.Budget(request.Thinking, request.MaxTokens, modelMaxOutputTokens, options.MaxThinkingTokens);

        var body = new Body
        {
            Conversation = conversation,
            Tools = tools,
            SendsTools = toolsSent,
            System = JoinSystem(request.System, tools.SystemSection, thinkingTokens is null ? null : KiroThinking.SystemNote),
            ThinkingPrefix = thinkingTokens is int n ? KiroThinking.Prefix(n) : null,
            ModelId = modelId,
            ConversationId = conversationId,
            ProfileArn = options.SendProfileArn && !string.IsNullOrWhiteSpace(profileArn) ? profileArn : null,
        };

        var buffer = new ArrayBufferWriter<byte>(16 * 1024);
        var entryOffsets = new List<long>(conversation.History.Count + 1);
        body.Write(buffer, skipPairs: 0, entryOffsets);

        var skipPairs = 0;
        var limit = options.MaxPayloadBytes;
        if (limit > 0 && buffer.WrittenCount > limit)
        {
            skipPairs = FirstGuess(entryOffsets, buffer.WrittenCount - limit);
            var pairs = conversation.History.Count / 2;
            while (true)
            {
                buffer.ResetWrittenCount();
                body.Write(buffer, skipPairs, entryOffsets: null);
                if (buffer.WrittenCount <= limit) break;
                if (skipPairs >= pairs)
                    throw new GatewayException(ErrorKind.RequestTooLarge,
                        $"The request is {buffer.WrittenCount:N0} bytes for Kiro even with all earlier history removed; " +
                        $"the limit is {limit:N0} bytes (setting Kiro:MaxPayloadBytes). Shorten the last message, its tool results or its images.");
                // The guess ignores small shifts (the system prompt moving to the new first message, folded
                // tool results), so it can fall one pair short; each extra pass drops one more.
                skipPairs++;
            }
        }

        return new KiroRequest(buffer.WrittenMemory, aliases, skipPairs * 2, thinkingTokens is not null);
    }

    /// <summary>The fewest leading pairs whose bytes cover the excess, from the offsets recorded in the full write.</summary>
    private static int FirstGuess(List<long> entryOffsets, long excess)
    {
        var pairs = (entryOffsets.Count - 1) / 2;
        var skip = 0;
        while (skip < pairs && entryOffsets[2 * (skip + 1)] - entryOffsets[0] < excess) skip++;
        return Math.Min(skip + 1, pairs);
    }

    private static void AddHistoryAliases(IReadOnlyList<Message> messages, Dictionary<string, string> aliases)
    {
        foreach (var message in messages)
            foreach (var block in message.Content)
                if (block is ToolUseBlock use && use.Name.Length > ToolNameAliases.MaxLength)
                    aliases.TryAdd(ToolNameAliases.For(use.Name), use.Name);
    }

    private static string? JoinSystem(params string?[] parts)
    {
        var present = parts.Where(p => !string.IsNullOrWhiteSpace(p)).ToList();
        return present.Count == 0 ? null : string.Join("\n\n", present);
    }

    /// <summary>Everything fixed for one request; <see cref="Write"/> renders it with a given number of history pairs left out.</summary>
    private sealed class Body
    {
        public required KiroConversation Conversation { get; init; }
        public required KiroToolSet Tools { get; init; }
        public required bool SendsTools { get; init; }
        public required string? System { get; init; }
        public required string? ThinkingPrefix { get; init; }
        public required string ModelId { get; init; }
        public required string ConversationId { get; init; }
        public required string? ProfileArn { get; init; }

        /// <param name="entryOffsets">When given, receives the byte offset of each history entry and of the history's end.</param>
        public void Write(IBufferWriter<byte> output, int skipPairs, List<long>? entryOffsets)
        {
            var history = Conversation.History;
            var first = skipPairs * 2;
            var lastAssistant = history.Count > first ? (KiroAssistantTurn)history[^1] : null;

            using var w = new Utf8JsonWriter(output, Formats.JsonResponses.WriterOptions);
            w.WriteStartObject();
            w.WriteStartObject("conversationState");
            w.WriteString("chatTriggerType", "MANUAL");
            w.WriteString("conversationId", ConversationId);

            w.WriteStartObject("currentMessage");
            w.WritePropertyName("userInputMessage");
            WriteUser(w, Conversation.Current, lastAssistant, isFirst: lastAssistant is null, isCurrent: true, first);
            w.WriteEndObject();

            if (history.Count > first)
            {
                w.WriteStartArray("history");
                for (var i = first; i < history.Count; i++)
                {
                    entryOffsets?.Add(w.BytesCommitted + w.BytesPending);
                    w.WriteStartObject();
                    if (history[i] is KiroUserTurn user)
                    {
                        w.WritePropertyName("userInputMessage");
                        WriteUser(w, user, i > first ? (KiroAssistantTurn)history[i - 1] : null, isFirst: i == first, isCurrent: false, first);
                    }
                    else
                    {
                        w.WritePropertyName("assistantResponseMessage");
                        WriteAssistant(w, (KiroAssistantTurn)history[i]);
                    }
                    w.WriteEndObject();
                }
                entryOffsets?.Add(w.BytesCommitted + w.BytesPending);
                w.WriteEndArray();
            }
            w.WriteEndObject();

            if (ProfileArn is not null) w.WriteString("profileArn", ProfileArn);
            w.WriteEndObject();
        }

        private void WriteUser(Utf8JsonWriter w, KiroUserTurn turn, KiroAssistantTurn? previous, bool isFirst, bool isCurrent, int firstHistory)
        {
            // A result must answer a tool use of the assistant turn just before it, once; anything else
            // (client orphans, results whose call was trimmed away) is folded into text rather than lost.
            List<KiroToolResult>? answered = null;
            StringBuilder? folded = null;
            foreach (var result in turn.ToolResults)
            {
                if (previous is not null && previous.ToolUses.Exists(u => u.Id == result.ToolUseId)
                    && (answered is null || !answered.Exists(r => r.ToolUseId == result.ToolUseId)))
                {
                    (answered ??= []).Add(result);
                }
                else
                {
                    folded = folded is null ? new StringBuilder() : folded.Append("\n\n");
                    folded.Append(KiroConversation.FoldToolResult(result));
                }
            }

            var content = new StringBuilder();
            if (isCurrent && ThinkingPrefix is not null) content.Append(ThinkingPrefix);
            if (isFirst && System is not null) content.Append(System).Append("\n\n");
            if (folded is not null)
            {
                content.Append(folded);
                if (turn.Text.Length > 0) content.Append("\n\n");
            }
            if (turn.Text.Length > 0) content.Append(turn.Text);
            else if (folded is null)
                content.Append(answered is not null ? ToolResultsOnlyUser : turn.Images.Count > 0 ? ImagesOnlyUser : EmptyUser);
            if (isCurrent && Tools.ChoiceInstruction is not null) content.Append("\n\n").Append(Tools.ChoiceInstruction);

            w.WriteStartObject();
            w.WriteString("content", content.ToString());
            w.WriteString("modelId", ModelId);
            w.WriteString("origin", "AI_EDITOR");

            if (turn.Images.Count > 0)
            {
                w.WriteStartArray("images");
                foreach (var image in turn.Images)
                {
                    w.WriteStartObject();
                    w.WriteString("format", image.Format);
                    w.WriteStartObject("source");
                    w.WriteString("bytes", image.Base64);
                    w.WriteEndObject();
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }

            var placeholderTools = isCurrent && SendsTools ? UndeclaredHistoryTools(firstHistory) : null;
            var sendTools = isCurrent && (Tools.Specs.Count > 0 || placeholderTools is not null);
            if (sendTools || answered is not null)
            {
                w.WriteStartObject("userInputMessageContext");
                if (sendTools)
                {
                    w.WriteStartArray("tools");
                    foreach (var spec in Tools.Specs) w.WriteRawValue(spec, skipInputValidation: true);
                    if (placeholderTools is not null)
                        foreach (var name in placeholderTools)
                            KiroToolSet.WriteSpec(w, name,
                                $"Tool: {name}. It was used earlier in this conversation and is no longer available.", schema: null);
                    w.WriteEndArray();
                }
                if (answered is not null)
                {
                    w.WriteStartArray("toolResults");
                    foreach (var result in answered)
                    {
                        w.WriteStartObject();
                        w.WriteString("toolUseId", result.ToolUseId);
                        w.WriteStartArray("content");
                        w.WriteStartObject();
                        w.WriteString("text", result.Text);
                        w.WriteEndObject();
                        w.WriteEndArray();
                        w.WriteString("status", result.IsError ? "error" : "success");
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }

        private static void WriteAssistant(Utf8JsonWriter w, KiroAssistantTurn turn)
        {
            var content = new StringBuilder();
            if (turn.Thinking is not null) content.Append("<thinking>").Append(turn.Thinking).Append("</thinking>\n\n");
            if (turn.Text.Length > 0) content.Append(turn.Text);
            else if (content.Length == 0) content.Append(turn.ToolUses.Count > 0 ? ToolUsesOnlyAssistant : EmptyAssistant);

            w.WriteStartObject();
            w.WriteString("content", content.ToString());
            if (turn.ToolUses.Count > 0)
            {
                w.WriteStartArray("toolUses");
                foreach (var use in turn.ToolUses)
                {
                    w.WriteStartObject();
                    w.WriteString("toolUseId", use.Id);
                    w.WriteString("name", use.Name);
                    w.WritePropertyName("input");
                    WriteInput(w, use.Input);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }

        /// <summary>Kiro wants an object; a missing input is an empty one, any other value is wrapped rather than dropped.</summary>
        private static void WriteInput(Utf8JsonWriter w, JsonElement input)
        {
            switch (input.ValueKind)
            {
                case JsonValueKind.Object:
                    input.WriteTo(w);
                    break;
                case JsonValueKind.Undefined or JsonValueKind.Null:
                    w.WriteStartObject();
                    w.WriteEndObject();
                    break;
                default:
                    w.WriteStartObject();
                    w.WritePropertyName("input");
                    input.WriteTo(w);
                    w.WriteEndObject();
                    break;
            }
        }

        /// <summary>
        /// Names used by tool calls in the history being sent but not declared now: Kiro rejects a history
        /// that calls unknown tools, so each gets a stand-in spec that keeps the conversation's structure.
        /// </summary>
        private List<string>? UndeclaredHistoryTools(int firstHistory)
        {
            List<string>? names = null;
            var history = Conversation.History;
            for (var i = firstHistory; i < history.Count; i++)
                if (history[i] is KiroAssistantTurn assistant)
                    foreach (var use in assistant.ToolUses)
                        if (!Tools.Names.Contains(use.Name) && (names is null || !names.Contains(use.Name)))
                            (names ??= []).Add(use.Name);
            return names;
        }
    }
}
