using System.Buffers;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Gapura.Conversations;

/// <summary>
/// Estimates the input tokens of a whole <see cref="ChatRequest"/> with <see cref="TokenEstimator"/>:
/// Anthropic's count_tokens answer, and the input usage reported when an upstream gives none.
/// Beyond the text itself it charges documented flat costs for what the tokenizer cannot see:
/// message framing, each tool definition's wrapper, the tool-use preamble upstreams add when tools are
/// present, and images — whose real cost depends on pixel size (Anthropic: width × height / 750, about
/// 1,600 for a full-size image); the estimate charges every image as full size rather than decode it.
/// </summary>
public static class RequestTokenCounter
{
    public const int ImageTokens = 1_600;
    public const int MessageOverheadTokens = 3;
    public const int ToolDefinitionOverheadTokens = 8;
    public const int ToolPreambleTokens = 300;

    public static int Count(ChatRequest request)
    {
        var tokens = TokenEstimator.Count(request.System);
        foreach (var message in request.Messages)
        {
            tokens += MessageOverheadTokens;
            foreach (var block in message.Content) tokens += Count(block);
        }
        if (request.Tools.Count > 0)
        {
            tokens += ToolPreambleTokens;
            foreach (var tool in request.Tools)
                tokens += ToolDefinitionOverheadTokens + TokenEstimator.Count(tool.Name) + TokenEstimator.Count(tool.Description) + CountJson(tool.InputSchema);
        }
        return tokens;
    }

    private static int Count(ContentBlock block) => block switch
    {
        TextBlock t => TokenEstimator.Count(t.Text),
        ImageBlock => ImageTokens,
        ToolUseBlock u => TokenEstimator.Count(u.Id) + TokenEstimator.Count(u.Name) + CountJson(u.Input),
        ToolResultBlock r => TokenEstimator.Count(r.ToolUseId) + r.Content.Sum(Count),
        // A redacted block (no text) still costs what its hidden reasoning cost; its size is unknown.
        ThinkingBlock th => TokenEstimator.Count(th.Text),
        _ => 0,
    };

    /// <summary>Counts a JSON value's raw text without materialising it as a string (schemas run to KBs).</summary>
    private static int CountJson(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Undefined) return 0;
        var utf8 = JsonMarshal.GetRawUtf8Value(element);
        var chars = ArrayPool<char>.Shared.Rent(Encoding.UTF8.GetMaxCharCount(utf8.Length));
        try
        {
            var length = Encoding.UTF8.GetChars(utf8, chars);
            return TokenEstimator.Count(chars.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
    }
}
