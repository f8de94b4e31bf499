using System.Runtime.CompilerServices;
using Gapura.Conversations;
using Gapura.Formats;
using Gapura.Providers.Kiro;
using Gapura.Routing;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// An upstream speaking OpenAI's chat completions: OpenAI itself and every compatible server share this one
/// implementation, differing only in their account (<see cref="ChatCompletionsAccount"/>).
/// <list type="bullet">
/// <item>Canonical path: <see cref="ChatCompletionsRequestBuilder"/> → POST <c>/chat/completions</c> →
/// <see cref="ChatCompletionsStreamDecoder"/>, events yielded as each SSE line completes. The upstream
/// enforces max_tokens and stop itself, so no <see cref="OutputLimiter"/> is needed.</item>
/// <item>Passthrough (OpenAI chat front door): the client's body with only <c>model</c> spliced and the
/// auth replaced; the answer is relayed byte for byte.</item>
/// </list>
/// </summary>
internal abstract class ChatCompletionsProvider(ChatCompletionsClient client) : IChatProvider, IPassthroughProvider
{
    public const string ChatPath = "/chat/completions";

    /// <summary>Upstream headers worth showing the client on the passthrough path (request ids help support).</summary>
    private static readonly string[] RelayedHeaders = ["x-request-id", "openai-processing-ms", "x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens"];

    public string Name => client.Account.Provider;

    internal ChatCompletionsClient Client => client;

    public async IAsyncEnumerable<StreamEvent> StreamAsync(ChatRequest request, ResolvedModel model, ChatContext context,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var body = ChatCompletionsRequestBuilder.Build(request, model.Model.Id, client.Account.Dialect);
        using var response = await PostChatAsync(body, context, ct);
        // One process-wide account per provider for now; per-user accounts will carry their own label.
        context.ResponseHeaders[KiroProvider.LoginHeader] = "process";
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        var decoder = new ChatCompletionsStreamDecoder(client.Account.Label, context.EstimatedInputTokens);
        await foreach (var e in ChatCompletionsStreamDecoder.ReadAsync(stream, decoder, ct)) yield return e;
    }

    /// <summary>
    /// Sends a chat-completions body, built or passed through. Upstreams whose credential is exchanged per call
    /// (Copilot) override this to add their token and headers; the body is OpenAI's shape either way.
    /// </summary>
    protected virtual Task<HttpResponseMessage> PostChatAsync(ReadOnlyMemory<byte> body, ChatContext context, CancellationToken ct)
        => client.PostAsync(ChatPath, body, ct);

    public bool CanPassThrough(string frontDoor) => frontDoor == FrontDoors.OpenAiChat;

    public async Task<PassthroughResponse> SendAsync(PassthroughRequest request, CancellationToken ct)
    {
        if (!CanPassThrough(request.FrontDoor))
            throw new InvalidOperationException($"{Name} cannot pass through requests of the '{request.FrontDoor}' front door.");
        var body = ModelNameSplice.Replace(request.Body, request.Model.Model.Id);
        var response = await PostChatAsync(body, request.Context, ct);
        try
        {
            var stream = await response.Content.ReadAsStreamAsync(ct);
            var contentType = response.Content.Headers.ContentType?.ToString() ?? (request.Stream ? "text/event-stream" : "application/json");
            var relayed = new PassthroughResponse((int)response.StatusCode, contentType, stream, response);
            foreach (var name in RelayedHeaders)
                if (response.Headers.TryGetValues(name, out var values)) relayed.Headers[name] = string.Join(", ", values);
            request.Context.ResponseHeaders[KiroProvider.LoginHeader] = "process";
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
