using System.Runtime.CompilerServices;
using Gapura.Conversations;
using Gapura.Routing;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Bedrock;

/// <summary>
/// Amazon Bedrock as an <see cref="IChatProvider"/>: builds the Converse body, sends ConverseStream signed with
/// SigV4, and decodes the event stream frame by frame as bytes arrive; a non-streaming request uses Converse and
/// its JSON answer becomes the same canonical events. Bedrock enforces
/// max tokens and stop sequences itself, so no output limiter is needed.
/// </summary>
internal sealed class BedrockProvider(BedrockClient client, IOptions<BedrockOptions> options) : IChatProvider
{
    private readonly BedrockOptions _options = options.Value;

    public string Name => "bedrock";

    public async IAsyncEnumerable<StreamEvent> StreamAsync(ChatRequest request, ResolvedModel model, ChatContext context, [EnumeratorCancellation] CancellationToken ct)
    {
        // A conversation over the model's context window was refused before this, by Routing.CapabilityCheck.
        var body = BedrockRequestBuilder.Build(request, model.Model.MaxOutputTokens, _options);
        if (!request.Stream)
        {
            // A client that waits for the whole answer gets it from Converse: one JSON body, no event stream.
            using var whole = await client.ConverseAsync(model.Model.Id, body, ct);
            await using var json = await whole.Content.ReadAsStreamAsync(ct);
            foreach (var e in await BedrockStreamTranslator.FromConverseResponseAsync(json, ct))
                yield return e;
            yield break;
        }
        using var response = await client.ConverseStreamAsync(model.Model.Id, body, ct);
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        await foreach (var e in BedrockStreamTranslator.ReadAsync(stream, ct))
            yield return e;
    }
}
