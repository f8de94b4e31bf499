using System.Globalization;
using System.Runtime.CompilerServices;
using Gapura.Conversations;
using Gapura.Providers.Kiro.Auth;
using Gapura.Routing;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Kiro;

/// <summary>
/// Kiro as an <see cref="IChatProvider"/>: builds the request (kiro.md §3), sends it, and decodes the event
/// stream frame by frame into canonical events as the bytes arrive. Kiro has no max_tokens or stop fields,
/// so the <see cref="OutputLimiter"/> enforces both here; stopping early disposes the HTTP response, which
/// closes the upstream connection rather than reading an answer nobody wants.
/// </summary>
internal sealed class KiroProvider(KiroClient client, KiroTokenProvider tokens, IOptions<KiroOptions> options, ILogger<KiroProvider> log) : IChatProvider
{
    public const string HistoryTrimmedHeader = "x-gapura-history-trimmed";

    private readonly KiroOptions _options = options.Value;

    public string Name => "kiro";

    public async IAsyncEnumerable<StreamEvent> StreamAsync(ChatRequest request, ResolvedModel model, ChatContext context, [EnumeratorCancellation] CancellationToken ct)
    {
        var token = await tokens.GetAsync(forceRefresh: false, ct);
        var built = KiroRequestBuilder.Build(request, model.Model.Id, model.Model.MaxOutputTokens, _options,
            _options.ProfileArn ?? token.ProfileArn, Guid.NewGuid().ToString());
        if (built.TrimmedHistoryMessages > 0)
        {
            // The client must know its history was shortened: a header, and a log line for the operator.
            context.ResponseHeaders[HistoryTrimmedHeader] = built.TrimmedHistoryMessages.ToString(CultureInfo.InvariantCulture);
            log.LogWarning("Trimmed the {Count} oldest history messages to fit Kiro's {Limit}-byte request limit", built.TrimmedHistoryMessages, _options.MaxPayloadBytes);
        }

        using var response = await client.SendChatAsync(built.Body, ct);
        await using var body = await response.Content.ReadAsStreamAsync(ct);
        var translator = new KiroStreamTranslator(
            model.Model.ContextWindow,
            thinkingRequested: built.ThinkingInjected,
            resolveToolName: built.ToolNameAliases.Count == 0 ? null : name => ToolNameAliases.Original(built.ToolNameAliases, name),
            estimatedInputTokens: context.EstimatedInputTokens);
        var events = KiroStreamReader.ReadAsync(body, translator, ct);
        await foreach (var e in OutputLimiter.Apply(events, request.MaxTokens, request.StopSequences, context.EstimatedInputTokens, ct))
            yield return e;
    }
}
