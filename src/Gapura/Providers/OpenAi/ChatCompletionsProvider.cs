using System.Runtime.CompilerServices;
using Gapura.Conversations;
using Gapura.Formats;
using Gapura.Providers.Accounts;
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
internal abstract class ChatCompletionsProvider(ChatCompletionsClient client, ProviderAccounts accounts, ILogger log) : IChatProvider, IPassthroughProvider
{
    public const string ChatPath = "/chat/completions";
    public const string ResponsesPath = "/responses";

    /// <summary>Upstream headers worth showing the client on the passthrough path (request ids help support).</summary>
    private static readonly string[] RelayedHeaders = ["x-request-id", "openai-processing-ms", "x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens"];

    public string Name => client.Account.Provider;

    /// <summary>OpenAI's <c>response_format</c> / <c>text.format</c>, which compatible servers and Copilot share.</summary>
    public bool TakesOutputFormat(OutputFormat format) => true;

    internal ChatCompletionsClient Client => client;

    internal ProviderAccounts Accounts => accounts;

    /// <summary>
    /// Where a call with this account's secret goes: the configured endpoint with the account's key as bearer
    /// (a keyless process account of a local server sends none). Providers whose sign-ins talk to another
    /// endpoint (a ChatGPT sign-in → the Codex backend) override this.
    /// </summary>
    protected internal virtual OpenAiEndpoint EndpointFor(AccountSecret secret) => client.Account.Endpoint with { BearerToken = secret.ApiKey };

    /// <summary>The API an account's calls speak, known without its secret: what passthrough needs to decide.</summary>
    protected virtual OpenAiApi ApiOf(IUpstreamAccount account) => client.Account.Api;

    public IAsyncEnumerable<StreamEvent> StreamAsync(ChatRequest request, ResolvedModel model, ChatContext context, CancellationToken ct)
        => TranslatedAsync(request, model, context, ct);

    private async IAsyncEnumerable<StreamEvent> TranslatedAsync(ChatRequest request, ResolvedModel model, ChatContext context,
        [EnumeratorCancellation] CancellationToken ct)
    {
        // The body depends on the account's endpoint (chat completions or Responses); it is built per attempt.
        var (response, endpoint) = await SendAsync(accounts.For(context.Caller), context, endpoint => endpoint.Api == OpenAiApi.Responses
            ? (ResponsesPath, ResponsesRequestBuilder.Build(request, model.Model.Id, client.Account.Dialect, endpoint))
            : (ChatPath, ChatCompletionsRequestBuilder.Build(request, model.Model.Id, client.Account.Dialect)), ct);
        using (response)
        {
            IAsyncEnumerable<StreamEvent> events;
            if (endpoint.Api == OpenAiApi.Responses)
            {
                events = ResponsesStreamDecoder.ReadAsync(response, new ResponsesStreamDecoder(client.Account.Label, context.EstimatedInputTokens), ct);
                var cap = endpoint.AcceptsMaxOutputTokens ? null : request.MaxTokens;
                if (cap is not null || request.StopSequences.Count > 0)
                    events = OutputLimiter.Apply(events, cap, request.StopSequences, context.EstimatedInputTokens, ct);
            }
            else
            {
                var stream = await response.Content.ReadAsStreamAsync(ct);
                // Asked for a stream, some compatible servers answer one JSON completion anyway: read it as the stream it stands for.
                if (string.Equals(response.Content.Headers.ContentType?.MediaType, "application/json", StringComparison.OrdinalIgnoreCase))
                    stream = new MemoryStream(CompletionAsStream.ToSse(await CompletionAsStream.ReadAsync(stream, client.Account.Label, ct), client.Account.Label), writable: false);
                events = SseStreamDecoder.ReadAsync(stream, new ChatCompletionsStreamDecoder(client.Account.Label, context.EstimatedInputTokens), ct);
            }
            await foreach (var e in events) yield return e;
        }
    }

    /// <summary>
    /// Sends with the candidates in turn (the caller's own accounts, else the gateway's when shared): the body
    /// is built for each account's endpoint, an account-level failure moves on to the next account.
    /// </summary>
    private Task<(HttpResponseMessage Response, OpenAiEndpoint Endpoint)> SendAsync(IReadOnlyList<LoginCandidate<IUpstreamAccount>> candidates,
        ChatContext context, Func<OpenAiEndpoint, (string Path, ReadOnlyMemory<byte> Body)> build, CancellationToken ct)
        => AccountFallback.FirstAsync(Name, candidates,
            (account, token) => AccountFallback.WithSecretAsync(Name, account, async (secret, inner) =>
            {
                var endpoint = EndpointFor(secret);
                var (path, body) = build(endpoint);
                return (await PostAsync(account, secret, endpoint, path, body, context, inner), endpoint);
            }, token),
            context, log, ct, accounts.Cooldowns);

    /// <summary>
    /// Sends a body, built or passed through, to the endpoint. Upstreams whose credential is exchanged per call
    /// (Copilot) override this to add their token, address and headers; the body is OpenAI's shape either way.
    /// </summary>
    protected virtual Task<HttpResponseMessage> PostAsync(IUpstreamAccount account, AccountSecret secret, OpenAiEndpoint endpoint, string path,
        ReadOnlyMemory<byte> body, ChatContext context, CancellationToken ct)
        => client.PostAsync(endpoint, path, body, ct);

    /// <summary>The front door of the configured API passes through (used where the caller is not known).</summary>
    public bool CanPassThrough(string frontDoor) => frontDoor == DoorOf(client.Account.Api);

    /// <summary>
    /// Passthrough when every account that may serve this caller speaks the front door's API, so a fallback
    /// between them never needs the body translated; a caller whose accounts differ (a ChatGPT sign-in and a
    /// chat-completions key) is served on the translated path.
    /// </summary>
    public bool CanPassThrough(string frontDoor, ChatContext context)
    {
        var caller = context.Caller;
        if (!accounts.CanServe(caller)) return false;
        foreach (var candidate in accounts.For(caller))
            if (DoorOf(ApiOf(candidate.Login)) != frontDoor) return false;
        return true;
    }

    private static string DoorOf(OpenAiApi api) => api == OpenAiApi.Responses ? FrontDoors.OpenAiResponses : FrontDoors.OpenAiChat;

    public async Task<PassthroughResponse> SendAsync(PassthroughRequest request, CancellationToken ct)
    {
        if (!CanPassThrough(request.FrontDoor, request.Context))
            throw new InvalidOperationException($"{Name} cannot pass through requests of the '{request.FrontDoor}' front door.");
        var spliced = ModelNameSplice.Replace(request.Body, request.Model.Model.Id);
        var path = request.FrontDoor == FrontDoors.OpenAiResponses ? ResponsesPath : ChatPath;
        var (response, endpoint) = await SendAsync(accounts.For(request.Context.Caller), request.Context, endpoint =>
        {
            if (!endpoint.StreamOnly) return (path, spliced);
            // The only request shape the endpoint takes; the answer is the same either way. It also requires
            // instructions, which clients of other Responses servers (Codex CLI with a custom provider) put in input.
            var shaped = ModelNameSplice.Set(ModelNameSplice.Set(spliced, "stream", "true"u8), "store", "false"u8);
            return (path, ModelNameSplice.SetIfAbsent(shaped, "instructions", "\"\""u8));
        }, ct);
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
