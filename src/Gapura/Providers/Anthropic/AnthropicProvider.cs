using System.Runtime.CompilerServices;
using Gapura.Conversations;
using Gapura.Formats;
using Gapura.Providers.Accounts;
using Gapura.Routing;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Anthropic;

/// <summary>
/// Anthropic's Messages API as a provider, two ways. Translated (<see cref="IChatProvider"/>): any front
/// door's <see cref="ChatRequest"/> is written as an Anthropic body and the SSE answer decoded into canonical
/// events as it arrives. Passthrough (<see cref="IPassthroughProvider"/>): an Anthropic client's body goes up
/// with only <c>model</c> and the auth changed, and the answer comes back byte for byte.
/// </summary>
internal sealed class AnthropicProvider(AnthropicClient client, IOptions<AnthropicOptions> options, [FromKeyedServices(AnthropicProvider.ProviderName)] ProviderAccounts accounts, ILogger<AnthropicProvider> log)
    : IChatProvider, IPassthroughProvider
{
    public const string ProviderName = "anthropic";

    /// <summary>Anthropic's id of the request, for support tickets; relayed on both paths.</summary>
    public const string UpstreamRequestIdHeader = "x-gapura-upstream-request-id";

    private readonly AnthropicOptions _options = options.Value;

    public string Name => ProviderName;

    /// <summary>Anthropic's <c>output_config.format</c> takes a JSON schema; an open "any object" is constrained by the gateway.</summary>
    public bool TakesOutputFormat(OutputFormat format) => format.Kind == OutputFormatKind.JsonSchema;

    public async IAsyncEnumerable<StreamEvent> StreamAsync(ChatRequest request, ResolvedModel model, ChatContext context, [EnumeratorCancellation] CancellationToken ct)
    {
        var body = AnthropicRequestBuilder.Build(request, model.Model);
        using var response = await SendAsync(body, _options.Version, beta: null, context, ct);
        if (RequestId(response) is { } id) context.ResponseHeaders[UpstreamRequestIdHeader] = id;
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        await foreach (var e in AnthropicStreamReader.ReadAsync(stream, ct)) yield return e;
    }

    public bool CanPassThrough(string frontDoor) => frontDoor == FrontDoors.AnthropicMessages;

    public async Task<PassthroughResponse> SendAsync(PassthroughRequest request, CancellationToken ct)
    {
        if (!CanPassThrough(request.FrontDoor))
            throw new GatewayException(ErrorKind.Internal, $"The Anthropic provider cannot pass through requests from '{request.FrontDoor}'.");
        var body = ModelNameRewriter.Rewrite(request.Body, request.Model.Model.Id);
        // The client's version and betas describe the body it wrote, so they travel with it.
        var version = request.ClientHeaders.TryGetValue("anthropic-version", out var v) && !string.IsNullOrWhiteSpace(v) ? v : _options.Version;
        request.ClientHeaders.TryGetValue("anthropic-beta", out var beta);
        var response = await SendAsync(body, version, beta, request.Context, ct);
        try
        {
            var stream = await response.Content.ReadAsStreamAsync(ct);
            var contentType = response.Content.Headers.ContentType?.ToString() ?? (request.Stream ? "text/event-stream" : "application/json");
            var relayed = new PassthroughResponse((int)response.StatusCode, contentType, stream, response);
            if (RequestId(response) is { } id) relayed.Headers[UpstreamRequestIdHeader] = id;
            return relayed;
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>Sends with the caller's accounts in turn (their own first, else the gateway's when shared).</summary>
    private Task<HttpResponseMessage> SendAsync(ReadOnlyMemory<byte> body, string version, string? beta, ChatContext context, CancellationToken ct)
        => AccountFallback.FirstAsync(ProviderName, accounts.For(context.Caller),
            (account, token) => AccountFallback.WithSecretAsync(ProviderName, account,
                (secret, inner) => client.SendMessagesAsync(body, version, beta, secret, inner), token),
            context, log, ct, accounts.Cooldowns);

    private static string? RequestId(HttpResponseMessage response)
        => response.Headers.TryGetValues("request-id", out var values) ? values.FirstOrDefault() : null;
}
