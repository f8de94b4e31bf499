namespace Gapura.Routing;

/// <summary>A model an upstream offers, with the limits that drive max_tokens clamping and usage estimates.</summary>
public sealed record ModelInfo(string Id, string DisplayName, int ContextWindow, int MaxOutputTokens, string Provider);

/// <summary>
/// The outcome of resolving a client's model name: which upstream model to call and why.
/// <paramref name="RequestedName"/> is echoed back to the client in responses.
/// </summary>
public sealed record ResolvedModel(string RequestedName, ModelInfo Model);

public interface IModelCatalog
{
    /// <summary>Resolves a client model name, or throws a 400 <c>GatewayException</c> naming the available models.</summary>
    ValueTask<ResolvedModel> ResolveAsync(string clientModelName, CancellationToken ct);

    ValueTask<IReadOnlyList<ModelInfo>> ListAsync(CancellationToken ct);
}
