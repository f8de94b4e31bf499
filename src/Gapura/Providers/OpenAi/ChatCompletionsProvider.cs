using System.Runtime.CompilerServices;
using Gapura.Conversations;
using Gapura.Formats;
using Gapura.Providers.Kiro;
using Gapura.Routing;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// An upstream speaking OpenAI's wire format: OpenAI itself and every compatible server share this one
/// implementation, differing only in their account (<see cref="ChatCompletionsAccount"/>) and the endpoint
/// each call goes to (<see cref="OpenAiEndpoint"/>).
/// <list type="bullet">
/// <item>Canonical path, by the endpoint's API: <see cref="ChatCompletionsRequestBuilder"/> → POST
/// <c>/chat/completions</c> → <see cref="ChatCompletionsStreamDecoder"/>, or <see cref="ResponsesRequestBuilder"/>
/// → POST <c>/responses</c> → <see cref="ResponsesStreamDecoder"/>; events yielded as each SSE event completes.
/// The upstream enforces max tokens itself; stop sequences (which Responses lacks) and a cap the endpoint
/// refuses are enforced here by the <see cref="OutputLimiter"/>.</item>
/// <item>Passthrough, for the front door of the endpoint's own API (chat door → chat completions, Responses
/// door → Responses): the client's body with only <c>model</c> spliced and the auth replaced; the answer is
/// relayed byte for byte. A stream-only endpoint gets <c>stream: true, store: false</c>, and a non-streaming
/// client then gets the final response object read from the stream.</item>
/// </list>
/// </summary>
internal abstract class ChatCompletionsProvider(ChatCompletionsClient client) : IChatProvider, IPassthroughProvider
{
    public const string ChatPath = "/chat/completions";
    public const string ResponsesPath = "/responses";

    /// <summary>Upstream headers worth showing the client on the passthrough path (request ids help support).</summary>
    private static readonly string[] RelayedHeaders = ["x-request-id", "openai-processing-ms", "x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens"];

    public string Name => client.Account.Provider;

    internal ChatCompletionsClient Client => client;

    /// <summary>
    /// Where this request goes. One process-wide account per provider for now; per-user sign-ins (ChatGPT)
    /// override this to return the caller's own endpoint.
    /// </summary>
    protected virtual OpenAiEndpoint EndpointFor(ChatContext context)
    {
        context.ResponseHeaders[KiroProvider.LoginHeader] = "process";
        return client.Account.Endpoint;
    }

    public IAsyncEnumerable<StreamEvent> StreamAsync(ChatRequest request, ResolvedModel model, ChatContext context, CancellationToken ct)
    {
        var endpoint = EndpointFor(context);
        return endpoint.Api == OpenAiApi.Responses ? ResponsesAsync(request, model, context, endpoint, ct) : ChatAsync(request, model, context, endpoint, ct);
    }

    private async IAsyncEnumerable<StreamEvent> ChatAsync(ChatRequest request, ResolvedModel model, ChatContext context, OpenAiEndpoint endpoint,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var body = ChatCompletionsRequestBuilder.Build(request, model.Model.Id, client.Account.Dialect);
        using var response = await PostAsync(endpoint, ChatPath, body, context, ct);
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        var decoder = new ChatCompletionsStreamDecoder(client.Account.Label, context.EstimatedInputTokens);
        await foreach (var e in SseStreamDecoder.ReadAsync(stream, decoder, ct)) yield return e;
    }

    private async IAsyncEnumerable<StreamEvent> ResponsesAsync(ChatRequest request, ResolvedModel model, ChatContext context, OpenAiEndpoint endpoint,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var body = ResponsesRequestBuilder.Build(request, model.Model.Id, client.Account.Dialect, endpoint);
        using var response = await PostAsync(endpoint, ResponsesPath, body, context, ct);
        var decoder = new ResponsesStreamDecoder(client.Account.Label, context.EstimatedInputTokens);
        var events = ResponsesStreamDecoder.ReadAsync(response, decoder, ct);
        var cap = endpoint.AcceptsMaxOutputTokens ? null : request.MaxTokens;
        if (cap is not null || request.StopSequences.Count > 0)
            events = OutputLimiter.Apply(events, cap, request.StopSequences, context.EstimatedInputTokens, ct);
        await foreach (var e in events) yield return e;
    }

    /// <summary>
    /// Sends a body, built or passed through, to the endpoint. Upstreams whose credential is exchanged per call
    /// (Copilot) override this to add their token, address and headers; the body is OpenAI's shape either way.
    /// </summary>
    protected virtual Task<HttpResponseMessage> PostAsync(OpenAiEndpoint endpoint, string path, ReadOnlyMemory<byte> body, ChatContext context, CancellationToken ct)
        => client.PostAsync(endpoint, path, body, ct);

    /// <summary>
    /// The front door of the account's own API passes through. The question comes without the caller, so a
    /// provider whose callers bring endpoints of another API (a ChatGPT sign-in speaks only Responses) overrides this.
    /// </summary>
    public virtual bool CanPassThrough(string frontDoor)
        => frontDoor == (client.Account.Api == OpenAiApi.Responses ? FrontDoors.OpenAiResponses : FrontDoors.OpenAiChat);

    public async Task<PassthroughResponse> SendAsync(PassthroughRequest request, CancellationToken ct)
    {
        if (!CanPassThrough(request.FrontDoor))
            throw new InvalidOperationException($"{Name} cannot pass through requests of the '{request.FrontDoor}' front door.");
        var endpoint = EndpointFor(request.Context);
        var body = ModelNameSplice.Replace(request.Body, request.Model.Model.Id);
        if (endpoint.StreamOnly)
        {
            // The only request shape the endpoint takes; the answer is the same either way.
            body = ModelNameSplice.Set(body, "stream", "true"u8);
            body = ModelNameSplice.Set(body, "store", "false"u8);
        }
        var path = request.FrontDoor == FrontDoors.OpenAiResponses ? ResponsesPath : ChatPath;
        var response = await PostAsync(endpoint, path, body, request.Context, ct);
        try
        {
            PassthroughResponse relayed;
            if (endpoint.StreamOnly && !request.Stream)
            {
                // Served by reading the stream to its end: failures are still errors before the first byte.
                var whole = await ResponsesStreamCollector.CollectAsync(await response.Content.ReadAsStreamAsync(ct), client.Account.Label, ct);
                relayed = new PassthroughResponse(200, "application/json", new MemoryStream(whole, writable: false), response);
            }
            else
            {
                var stream = await response.Content.ReadAsStreamAsync(ct);
                var contentType = response.Content.Headers.ContentType?.ToString() ?? (request.Stream ? "text/event-stream" : "application/json");
                relayed = new PassthroughResponse((int)response.StatusCode, contentType, stream, response);
            }
            foreach (var name in RelayedHeaders)
                if (response.Headers.TryGetValues(name, out var values)) relayed.Headers[name] = string.Join(", ", values);
            return relayed;
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }
}

/// <summary>OpenAI itself (<c>Providers:OpenAI</c>), routing name <c>openai</c>.</summary>
internal sealed class OpenAiProvider(ChatCompletionsClient client) : ChatCompletionsProvider(client)
{
    public const string ProviderName = "openai";
}
