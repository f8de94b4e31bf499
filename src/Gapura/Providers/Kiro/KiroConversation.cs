using System.Text;
using System.Text.Json;
using Gapura.Conversations;

namespace Gapura.Providers.Kiro;

internal abstract class KiroTurn
{
    public StringBuilder Text { get; } = new();

    public void AppendText(string? text)
    {
        // Whitespace-only pieces would only add separators; emptiness is judged on the whole turn later.
        if (string.IsNullOrWhiteSpace(text)) return;
        if (Text.Length > 0) Text.Append("\n\n");
        Text.Append(text);
    }
}

internal sealed class KiroUserTurn : KiroTurn
{
    public List<KiroToolResult> ToolResults { get; } = [];
    public List<KiroImage> Images { get; } = [];
}

internal sealed class KiroAssistantTurn : KiroTurn
{
    public StringBuilder? Thinking { get; private set; }
    public List<KiroToolUse> ToolUses { get; } = [];

    public void AppendThinking(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) return;
        if (Thinking is null) Thinking = new StringBuilder();
        else Thinking.Append("\n\n");
        Thinking.Append(text);
    }
}

/// <param name="Text">The result as one text, never empty.</param>
internal sealed record KiroToolResult(string ToolUseId, string Text, bool IsError);

/// <param name="Name">The name Kiro sees (aliased when too long).</param>
internal sealed record KiroToolUse(string Id, string Name, JsonElement Input);

/// <summary>
/// A conversation reshaped to Kiro's rules: <see cref="History"/> strictly alternates user → assistant,
/// starts with a user and ends with an assistant, and <see cref="Current"/> is the user turn being answered.
/// Tool results are not yet checked against tool uses: that depends on which history survives trimming.
/// </summary>
internal sealed class KiroConversation
{
    public const string SyntheticFirstUser = "(conversation start)";
    public const string ContinuePrompt = "Continue your previous response from exactly where it ended, without repeating it.";
    public const string EmptyResult = "(no output)";
    public const string ImageOnlyResult = "(image output attached)";

    public required List<KiroTurn> History { get; init; }
    public required KiroUserTurn Current { get; init; }

    /// <param name="foldToolUses">Turn assistant tool uses into text (used when no tools may be sent).</param>
    public static KiroConversation From(IReadOnlyList<Message> messages, bool foldToolUses)
    {
        if (messages.Count == 0) throw GatewayException.BadRequest("The request has no messages.");

        var turns = new List<KiroTurn>(messages.Count + 2);
        foreach (var message in messages)
        {
            if (message.Role == Role.Assistant)
            {
                var turn = turns.Count > 0 && turns[^1] is KiroAssistantTurn a ? a : Add(turns, new KiroAssistantTurn());
                AddAssistantContent(turn, message.Content, foldToolUses);
            }
            else
            {
                // Mid-conversation system messages (Claude Code) and any other non-assistant role are user
                // text: Kiro has no other place for them, and dropping them would change what the app said.
                var turn = turns.Count > 0 && turns[^1] is KiroUserTurn u ? u : Add(turns, new KiroUserTurn());
                AddUserContent(turn, message.Content);
            }
        }

        if (turns[0] is KiroAssistantTurn)
        {
            var synthetic = new KiroUserTurn();
            synthetic.AppendText(SyntheticFirstUser);
            turns.Insert(0, synthetic);
        }

        if (turns[^1] is KiroAssistantTurn)
        {
            // An assistant prefill cannot be the current message; the model is asked to continue it instead.
            var next = new KiroUserTurn();
            next.AppendText(ContinuePrompt);
            turns.Add(next);
        }

        foreach (var turn in turns)
            if (turn is KiroUserTurn user) KiroImages.CheckCount(user.Images.Count);

        return new KiroConversation
        {
            History = turns.GetRange(0, turns.Count - 1),
            Current = (KiroUserTurn)turns[^1],
        };
    }

    private static T Add<T>(List<KiroTurn> turns, T turn) where T : KiroTurn
    {
        turns.Add(turn);
        return turn;
    }

    private static void AddUserContent(KiroUserTurn turn, IReadOnlyList<ContentBlock> content)
    {
        foreach (var block in content)
        {
            switch (block)
            {
                case TextBlock t: turn.AppendText(t.Text); break;
                case ImageBlock i: turn.Images.Add(KiroImages.Convert(i)); break;
                case ToolResultBlock r: turn.ToolResults.Add(ToResult(r, turn.Images)); break;
                case ThinkingBlock th: turn.AppendText(th.Text); break;
                case ToolUseBlock use: turn.AppendText(FoldToolUse(use)); break;
            }
        }
    }

    private static void AddAssistantContent(KiroAssistantTurn turn, IReadOnlyList<ContentBlock> content, bool foldToolUses)
    {
        foreach (var block in content)
        {
            switch (block)
            {
                case TextBlock t: turn.AppendText(t.Text); break;
                case ThinkingBlock th: turn.AppendThinking(th.Text); break;
                case ToolUseBlock use when foldToolUses: turn.AppendText(FoldToolUse(use)); break;
                case ToolUseBlock use: turn.ToolUses.Add(new KiroToolUse(use.Id, ToolNameAliases.For(use.Name), use.Input)); break;
                case ToolResultBlock r:
                    // Not a place Kiro can hold a result; keep its text so nothing the client sent is lost.
                    var images = new List<KiroImage>();
                    var result = ToResult(r, images);
                    if (images.Count > 0)
                        throw GatewayException.BadRequest("Kiro does not accept images in assistant messages.");
                    turn.AppendText(FoldToolResult(result));
                    break;
                case ImageBlock:
                    throw GatewayException.BadRequest("Kiro does not accept images in assistant messages.");
            }
        }
    }

    /// <summary>Text blocks are joined; images go to the enclosing user message, the only place Kiro takes them.</summary>
    private static KiroToolResult ToResult(ToolResultBlock result, List<KiroImage> images)
    {
        var text = new StringBuilder();
        var imageCount = 0;
        foreach (var block in result.Content)
        {
            switch (block)
            {
                case TextBlock t when t.Text.Length > 0:
                    if (text.Length > 0) text.Append('\n');
                    text.Append(t.Text);
                    break;
                case ImageBlock i:
                    images.Add(KiroImages.Convert(i));
                    imageCount++;
                    break;
            }
        }
        var joined = text.ToString();
        if (string.IsNullOrWhiteSpace(joined)) joined = imageCount > 0 ? ImageOnlyResult : EmptyResult;
        return new KiroToolResult(result.ToolUseId, joined, result.IsError);
    }

    public static string FoldToolResult(KiroToolResult result)
        => $"[Result of tool call {result.ToolUseId}{(result.IsError ? " (error)" : "")}]\n{result.Text}";

    public static string FoldToolUse(ToolUseBlock use)
        => $"[Tool call {use.Id}: {use.Name} {(use.Input.ValueKind == JsonValueKind.Undefined ? "{}" : use.Input.GetRawText())}]";
}
