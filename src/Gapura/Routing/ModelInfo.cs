namespace Gapura.Routing;

/// <summary>A model an upstream offers, with the limits that drive max_tokens clamping and usage estimates.</summary>
public sealed record ModelInfo(string Id, string DisplayName, int ContextWindow, int MaxOutputTokens, string Provider);

/// <summary>
/// The outcome of resolving a client's model name: which upstream model to call and why.
/// <paramref name="RequestedName"/> is echoed back to the client in responses.
/// </summary>
public sealed record ResolvedModel(string RequestedName, ModelInfo Model);

internal interface IModelCatalog
{
    /// <summary>Resolves a client model name, or throws a 400 <c>GatewayException</c> naming the available models.</summary>
    ValueTask<ResolvedModel> ResolveAsync(string clientModelName, CancellationToken ct);

    ValueTask<IReadOnlyList<ModelInfo>> ListAsync(CancellationToken ct);

    /// <summary>
    /// Whether the catalog's provider has an account that may serve <paramref name="caller"/> (their own, or the
    /// gateway's when shared). Routing skips catalogs that cannot; <c>/v1/models</c> lists only those that can.
    /// </summary>
    bool Serves(Identity.Caller? caller) => true;
}
