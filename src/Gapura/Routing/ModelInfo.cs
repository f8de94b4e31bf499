namespace Gapura.Routing;

/// <summary>A model an upstream offers, with the limits that drive max_tokens clamping and usage estimates.</summary>
public sealed record ModelInfo(string Id, string DisplayName, int ContextWindow, int MaxOutputTokens, string Provider)
{
    // What the model can take, as the upstream reports it or as published; null means unknown, and unknown is
    // allowed (a local server's model is not refused on a guess). Checked before any upstream call by
    // CapabilityCheck; init-only so every existing constructor call keeps compiling.

    /// <summary>Accepts image input.</summary>
    public bool? SupportsImages { get; init; }

    /// <summary>Can be offered tools (function calling).</summary>
    public bool? SupportsTools { get; init; }

    /// <summary>Reasons on request (extended thinking / reasoning effort). Listed, never refused: see CapabilityCheck.</summary>
    public bool? SupportsThinking { get; init; }

    /// <summary>
    /// The provider shortens the oldest history itself to fit the upstream (Kiro), so a conversation longer
    /// than <see cref="ContextWindow"/> is served rather than refused.
    /// </summary>
    public bool TrimsHistoryToFit { get; init; }
}

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
