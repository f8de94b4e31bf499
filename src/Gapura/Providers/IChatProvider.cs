using Gapura.Conversations;
using Gapura.Routing;

namespace Gapura.Providers;

/// <summary>
/// An upstream that can answer a chat turn. The stream must be lazy: nothing is sent upstream until
/// the first <c>MoveNextAsync</c>, and each upstream event is yielded as soon as it is decoded.
/// Failures are thrown as <see cref="GatewayException"/>; before the first event they become an HTTP
/// error, after it the front door ends its stream with an error event.
/// </summary>
public interface IChatProvider
{
    string Name { get; }

    IAsyncEnumerable<StreamEvent> StreamAsync(ChatRequest request, ResolvedModel model, ChatContext context, CancellationToken ct);
}

/// <summary>Per-request facts a provider may need besides the conversation.</summary>
public sealed class ChatContext
{
    /// <summary>Who is asking: providers pick the caller's own upstream login first.</summary>
    internal Identity.Caller? Caller { get; init; }

    /// <summary>Response headers the provider wants the client to see (e.g. history trimmed).</summary>
    public Dictionary<string, string> ResponseHeaders { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Input tokens estimated by the gateway, for formats that announce usage up front.</summary>
    public int EstimatedInputTokens { get; set; }
}
