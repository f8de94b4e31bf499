using System.Globalization;
using Gapura.Conversations;

namespace Gapura.Routing;

/// <summary>
/// Refuses to send a model what it cannot take — images to a text-only model, tools to a model without
/// function calling, a conversation larger than its context window — instead of letting the upstream drop
/// it silently or fail obscurely. Run once per request, on the already-parsed request, before any upstream
/// call and before the passthrough decision, so both paths get it. Candidates that cannot serve the request
/// are skipped (the fallback order of the rest is kept); when none can, a 400 names the limitation.
/// </summary>
internal static class CapabilityCheck
{
    /// <summary>
    /// The context check refuses only when the gateway's estimate is over the window by more than this share:
    /// the estimate is calibrated on Claude's tokenizer and charges every image as full size, so other models
    /// may count 10–20 % fewer tokens. Refusing a request that would have fit is worse than letting the upstream
    /// refuse one that is just over. The window is compared with the input alone (no room reserved for the answer).
    /// </summary>
    public const int ContextMarginPercent = 10;

    /// <summary>Claude's window when the caller turns on the 1M-context beta (<c>anthropic-beta: context-1m-…</c>).</summary>
    public const int LongContextWindow = 1_000_000;

    /// <summary>The candidates that can serve the request, in the given order; the same list when all can.</summary>
    /// <exception cref="GatewayException">400 <c>invalid_request_error</c> naming each candidate's limitation when none can.</exception>
    /// <param name="longContext">The caller asked for Claude's 1M-token window (<see cref="AsksLongContext"/>).</param>
    public static IReadOnlyList<ResolvedModel> Filter(ChatRequest request, int estimatedInputTokens, bool longContext, IReadOnlyList<ResolvedModel> candidates)
    {
        var needs = RequestNeeds.Of(request, estimatedInputTokens, longContext);
        List<ResolvedModel>? capable = null; // allocated only once a candidate is skipped
        for (var i = 0; i < candidates.Count; i++)
        {
            if (Limitation(needs, candidates[i].Model) is null) capable?.Add(candidates[i]);
            else capable ??= [.. candidates.Take(i)];
        }
        if (capable is null) return candidates;
        return capable.Count > 0 ? capable : throw Refusal(needs, candidates);
    }

    /// <summary>
    /// Every candidate is unfit: each one's reason (usually one candidate, one sentence). A method of its own so
    /// the lambda's captured state is allocated only on this path, not on every request.
    /// </summary>
    private static GatewayException Refusal(RequestNeeds needs, IReadOnlyList<ResolvedModel> candidates)
    {
        var reasons = string.Join(" ", candidates.Select(c => Limitation(needs, c.Model)).Distinct());
        // Too long for every candidate: the overflow shape clients compact their history on, with the largest window.
        if (candidates.All(c => TooLong(needs, c.Model)))
            return GatewayException.ContextTooLong(needs.EstimatedInputTokens, candidates.Max(c => Window(needs, c.Model)), reasons);
        return GatewayException.BadRequest(reasons);
    }

    private static int Window(in RequestNeeds needs, ModelInfo model)
        => needs.LongContext && model.Id.Contains("claude", StringComparison.OrdinalIgnoreCase) ? Math.Max(model.ContextWindow, LongContextWindow) : model.ContextWindow;

    private static bool TooLong(in RequestNeeds needs, ModelInfo model)
        => !model.TrimsHistoryToFit && needs.EstimatedInputTokens > ContextLimit(Window(needs, model));

    /// <summary>Why <paramref name="model"/> cannot serve a request with these needs, or null when it can (or may).</summary>
    internal static string? Limitation(in RequestNeeds needs, ModelInfo model)
    {
        if (needs.Images > 0 && model.SupportsImages == false)
            return $"Model '{Name(model)}' does not accept images (the request holds {Count(needs.Images, "image")}).";
        if (needs.Tools > 0 && model.SupportsTools == false)
            return $"Model '{Name(model)}' does not support tools (the request offers {Count(needs.Tools, "tool")}).";
        var window = Window(needs, model);
        if (TooLong(needs, model))
            return $"Model '{Name(model)}' cannot take this conversation: it needs about {needs.EstimatedInputTokens.ToString("N0", CultureInfo.InvariantCulture)} tokens, "
                   + $"over the model's context window of {window.ToString("N0", CultureInfo.InvariantCulture)} tokens. Shorten the conversation or choose a model with a larger window.";
        return null;
    }

    /// <summary>Whether the <c>anthropic-beta</c> header values turn on the 1M-token context beta.</summary>
    public static bool AsksLongContext(Microsoft.Extensions.Primitives.StringValues anthropicBeta)
    {
        foreach (var value in anthropicBeta)
            if (value is not null && value.Contains("context-1m", StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    internal static long ContextLimit(int window) => window + (long)window * ContextMarginPercent / 100;

    private static string Name(ModelInfo model) => $"{model.Provider}/{model.Id}";

    private static string Count(int n, string noun) => n == 1 ? $"1 {noun}" : $"{n.ToString(CultureInfo.InvariantCulture)} {noun}s";
}

/// <summary>What a request asks of a model, counted in one walk over the parsed request (no allocation).</summary>
internal readonly record struct RequestNeeds(int Images, int Tools, int EstimatedInputTokens, bool LongContext = false)
{
    public static RequestNeeds Of(ChatRequest request, int estimatedInputTokens, bool longContext = false)
    {
        var images = 0;
        // Indexed loops: foreach over an IReadOnlyList would allocate an enumerator per list.
        var messages = request.Messages;
        for (var i = 0; i < messages.Count; i++) images += CountImages(messages[i].Content);
        return new RequestNeeds(images, request.Tools.Count, estimatedInputTokens, longContext);
    }

    private static int CountImages(IReadOnlyList<ContentBlock> blocks)
    {
        var images = 0;
        for (var i = 0; i < blocks.Count; i++)
        {
            if (blocks[i] is ImageBlock) images++;
            // Images a tool returned (a screenshot) reach the model too.
            else if (blocks[i] is ToolResultBlock result) images += CountImages(result.Content);
        }
        return images;
    }
}
