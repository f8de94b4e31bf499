using System.Globalization;
using System.Runtime.CompilerServices;
using Gapura.Conversations;
using Gapura.Providers.Accounts;
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
internal sealed class KiroProvider(KiroClient client, KiroLoginPicker logins, IOptions<KiroOptions> options, LoginCooldowns cooldowns, ILogger<KiroProvider> log)
    : IChatProvider
{
    public const string HistoryTrimmedHeader = "x-gapura-history-trimmed";

    /// <summary>Which account served the request: the label of the caller's login, or <c>process</c> for the shared one.</summary>
    public const string LoginHeader = "x-gapura-login";

    private readonly KiroOptions _options = options.Value;

    public string Name => "kiro";

    public async IAsyncEnumerable<StreamEvent> StreamAsync(ChatRequest request, ResolvedModel model, ChatContext context, [EnumeratorCancellation] CancellationToken ct)
    {
        var (sent, built) = await AccountFallback.FirstAsync(Name, logins.For(context.Caller), async (login, token) =>
        {
            // Built per login: the profile ARN in the body belongs to the account.
            var credential = await login.GetAsync(forceRefresh: false, token);
            var kiroRequest = KiroRequestBuilder.Build(request, model.Model.Id, model.Model.MaxOutputTokens, _options,
                _options.ProfileArn ?? credential.ProfileArn, Guid.NewGuid().ToString());
            return (await client.SendChatAsync(kiroRequest.Body, login, token), kiroRequest);
        }, context, log, ct, cooldowns);
        if (built.TrimmedHistoryMessages > 0)
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
