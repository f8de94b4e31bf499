using System.Runtime.CompilerServices;
using Gapura.Conversations;
using Gapura.Routing;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Bedrock;

/// <summary>
/// Amazon Bedrock as an <see cref="IChatProvider"/>: builds the Converse body, sends ConverseStream signed with
/// SigV4, and decodes the event stream frame by frame as bytes arrive. Streaming is used for non-streaming
/// clients too (the pipeline collects the events), so one decoding path serves both. Bedrock enforces
/// max tokens and stop sequences itself, so no output limiter is needed.
/// </summary>
internal sealed class BedrockProvider(BedrockClient client, IOptions<BedrockOptions> options) : IChatProvider
{
    private readonly BedrockOptions _options = options.Value;

    public string Name => "bedrock";

    public async IAsyncEnumerable<StreamEvent> StreamAsync(ChatRequest request, ResolvedModel model, ChatContext context, [EnumeratorCancellation] CancellationToken ct)
    {
        var body = BedrockRequestBuilder.Build(request, model.Model.MaxOutputTokens, _options);
        using var response = await client.ConverseStreamAsync(model.Model.Id, body, ct);
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        await foreach (var e in BedrockStreamTranslator.ReadAsync(stream, ct))
            yield return e;
    }
}
