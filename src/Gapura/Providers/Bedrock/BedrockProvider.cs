using System.Runtime.CompilerServices;
using Gapura.Conversations;
using Gapura.Providers.Accounts;
using Gapura.Routing;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Bedrock;

/// <summary>
/// Amazon Bedrock as an <see cref="IChatProvider"/>: builds the Converse body, sends ConverseStream signed with
/// SigV4, and decodes the event stream frame by frame as bytes arrive; a non-streaming request uses Converse and
/// its JSON answer becomes the same canonical events. Bedrock enforces
/// max tokens and stop sequences itself, so no output limiter is needed. Each call is signed with one of the
/// caller's accounts (their own AWS keys first, else the gateway's when shared), in that account's region.
/// </summary>
internal sealed class BedrockProvider(BedrockClient client, IOptions<BedrockOptions> options,
    [FromKeyedServices(BedrockProvider.ProviderName)] ProviderAccounts accounts, ILogger<BedrockProvider> log) : IChatProvider
{
    public const string ProviderName = AccountKinds.Bedrock;

    private readonly BedrockOptions _options = options.Value;

    public string Name => ProviderName;

    public async IAsyncEnumerable<StreamEvent> StreamAsync(ChatRequest request, ResolvedModel model, ChatContext context, [EnumeratorCancellation] CancellationToken ct)
    {
        // A conversation over the model's context window was refused before this, by Routing.CapabilityCheck.
        var body = BedrockRequestBuilder.Build(request, model.Model.MaxOutputTokens, _options);
        if (!request.Stream)
        {
            // A client that waits for the whole answer gets it from Converse: one JSON body, no event stream.
            using var whole = await SendAsync((account, token) => client.ConverseAsync(model.Model.Id, body, account, token), context, ct);
            await using var json = await whole.Content.ReadAsStreamAsync(ct);
            foreach (var e in await BedrockStreamTranslator.FromConverseResponseAsync(json, ct))
                yield return e;
            yield break;
        }
        using var response = await SendAsync((account, token) => client.ConverseStreamAsync(model.Model.Id, body, account, token), context, ct);
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        await foreach (var e in BedrockStreamTranslator.ReadAsync(stream, ct))
            yield return e;
    }

    /// <summary>Sends with the caller's accounts in turn; a throttled or refused account hands the call to the next.</summary>
    private Task<HttpResponseMessage> SendAsync(Func<AccountSecret, CancellationToken, Task<HttpResponseMessage>> send, ChatContext context, CancellationToken ct)
        => AccountFallback.FirstAsync(ProviderName, accounts.For(context.Caller),
            (account, token) => AccountFallback.WithSecretAsync(ProviderName, account, send, token),
            context, log, ct);
}
