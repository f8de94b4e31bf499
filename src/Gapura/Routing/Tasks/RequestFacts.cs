using Gapura.Conversations;
using Gapura.Ledger;
using Microsoft.AspNetCore.Http;

namespace Gapura.Routing.Tasks;

/// <summary>
/// What the classification rules look at, read once from the request. PLACEHOLDER: the classifier work replaces this file.
/// </summary>
internal sealed class RequestFacts
{
    public required ChatRequest Request { get; init; }
    public required ClientApp Client { get; init; }
    public string? TaskHeader { get; init; }
    public int EstimatedInputTokens { get; init; }

    public static RequestFacts From(ChatRequest request, IHeaderDictionary headers, ClientApp client, int estimatedInputTokens)
        => new() { Request = request, Client = client, TaskHeader = headers["x-gapura-task"].ToString() is { Length: > 0 } t ? t : null, EstimatedInputTokens = estimatedInputTokens };
}
