using System.Globalization;
using System.Runtime.CompilerServices;
using Gapura.Conversations;
using Gapura.Providers.Kiro.Logins;
using Gapura.Routing;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Kiro;

/// <summary>
/// Kiro as an <see cref="IChatProvider"/>: builds the request (kiro.md §3), sends it, and decodes the event
/// stream frame by frame into canonical events as the bytes arrive. Kiro has no max_tokens or stop fields,
/// so the <see cref="OutputLimiter"/> enforces both here; stopping early disposes the HTTP response, which
/// closes the upstream connection rather than reading an answer nobody wants.
/// </summary>
internal sealed class KiroProvider(KiroClient client, KiroLoginPicker logins, IOptions<KiroOptions> options, ILogger<KiroProvider> log) : IChatProvider
{
    public const string HistoryTrimmedHeader = "x-gapura-history-trimmed";

    /// <summary>Which account served the request: the label of the caller's login, or <c>process</c> for the shared one.</summary>
    public const string LoginHeader = "x-gapura-login";

    private readonly KiroOptions _options = options.Value;

    public string Name => "kiro";

    public async IAsyncEnumerable<StreamEvent> StreamAsync(ChatRequest request, ResolvedModel model, ChatContext context, [EnumeratorCancellation] CancellationToken ct)
    {
        var candidates = logins.For(context.Caller);
        HttpResponseMessage? sent = null;
        KiroRequest? built = null;
        for (var i = 0; sent is null; i++)
        {
            var login = candidates[i];
            try
            {
                // Built per login: the profile ARN in the body belongs to the account.
                var token = await login.Login.GetAsync(forceRefresh: false, ct);
                built = KiroRequestBuilder.Build(request, model.Model.Id, model.Model.MaxOutputTokens, _options,
                    _options.ProfileArn ?? token.ProfileArn, Guid.NewGuid().ToString());
                sent = await client.SendChatAsync(built.Body, login.Login, ct);
                context.ResponseHeaders[LoginHeader] = login.Label;
            }
            catch (GatewayException e) when (i + 1 < candidates.Count && UpstreamLoginPolicy.MovesToNextLogin(e))
            {
                // Nothing reached the client yet: the account is spent or refused, so the next one gets the request.
                log.LogWarning("Kiro login '{Label}' could not serve the request ({Kind}: {Message}); trying login '{Next}'",
                    login.Label, e.Kind, e.Message, candidates[i + 1].Label);
            }
        }
        if (built!.TrimmedHistoryMessages > 0)
        {
            // The client must know its history was shortened: a header, and a log line for the operator.
            context.ResponseHeaders[HistoryTrimmedHeader] = built.TrimmedHistoryMessages.ToString(CultureInfo.InvariantCulture);
            log.LogWarning("Trimmed the {Count} oldest history messages to fit Kiro's {Limit}-byte request limit", built.TrimmedHistoryMessages, _options.MaxPayloadBytes);
        }

        using var response = sent;
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
