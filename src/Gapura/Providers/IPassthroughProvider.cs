using Gapura.Routing;

namespace Gapura.Providers;

/// <summary>
/// A provider that speaks a front door's own wire format (Anthropic messages → Anthropic, OpenAI chat →
/// OpenAI…). The pipeline hands it the client's body; it forwards that body with only the model name and
/// the auth changed, and the upstream's answer is relayed byte for byte — so unknown fields,
/// <c>cache_control</c>, thinking signatures and betas survive, and nothing is re-serialised.
/// </summary>
public interface IPassthroughProvider
{
    /// <summary>Whether requests arriving at this front door (see <c>FrontDoors</c>) can go through unchanged.</summary>
    bool CanPassThrough(string frontDoor);

    /// <summary>
    /// The same question for one request: a provider whose accounts speak different APIs (an OpenAI key and a
    /// ChatGPT sign-in) answers per caller. By default the front door alone decides.
    /// </summary>
    bool CanPassThrough(string frontDoor, ChatContext context) => CanPassThrough(frontDoor);

    /// <summary>
    /// Sends the request. Before the first byte failures are thrown as <see cref="Conversations.GatewayException"/>
    /// (the caller's format then reports them); a returned response is relayed as it is.
    /// </summary>
    Task<PassthroughResponse> SendAsync(PassthroughRequest request, CancellationToken ct);
}

/// <param name="FrontDoor">The front door the request came in through.</param>
/// <param name="Body">The client's JSON body, unchanged.</param>
/// <param name="ClientHeaders">The client's headers, for the few a provider forwards (e.g. <c>anthropic-beta</c>, <c>anthropic-version</c>).</param>
public sealed record PassthroughRequest(
    string FrontDoor,
    ReadOnlyMemory<byte> Body,
    IReadOnlyDictionary<string, string> ClientHeaders,
    ResolvedModel Model,
    ChatContext Context,
    bool Stream);

/// <summary>An upstream answer to relay: status, the headers worth passing on, and the body as it arrives.</summary>
public sealed class PassthroughResponse(int status, string contentType, Stream body, IDisposable? owner = null) : IAsyncDisposable
{
    public int Status { get; } = status;
    public string ContentType { get; } = contentType;
    public Stream Body { get; } = body;
    public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);

    public async ValueTask DisposeAsync()
    {
        await Body.DisposeAsync();
        owner?.Dispose();
    }
}
