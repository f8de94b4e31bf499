using Gapura.Conversations;
using Gapura.Routing;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Kiro;

/// <summary>Reads the models a Kiro account offers (ListAvailableModels).</summary>
internal interface IKiroModelSource
{
    Task<IReadOnlyList<ModelInfo>> FetchModelsAsync(CancellationToken ct);
}

/// <summary>
/// The Kiro model list, read from the service and refreshed in the background (stale-while-revalidate, so
/// no request waits on a refresh), with a built-in list for when the service cannot be asked.
/// Resolution: exact id → configured alias → normalised Anthropic-style name → configured fallback → 400.
/// </summary>
internal sealed class KiroModelCatalog : IModelCatalog
{
    // Limits as published for these models; the service's own tokenLimits replace them when it answers.
    internal static readonly IReadOnlyList<ModelInfo> BuiltIn =
    [
        Describe("auto", "Auto (Kiro picks)", 200_000, 64_000),
        Describe("claude-sonnet-4.5", "Claude Sonnet 4.5", 200_000, 64_000),
        Describe("claude-sonnet-4.6", "Claude Sonnet 4.6", 200_000, 64_000),
        Describe("claude-sonnet-4", "Claude Sonnet 4", 200_000, 64_000),
        Describe("claude-haiku-4.5", "Claude Haiku 4.5", 200_000, 64_000),
        Describe("claude-opus-4.5", "Claude Opus 4.5", 200_000, 64_000),
        Describe("claude-opus-4.6", "Claude Opus 4.6", 200_000, 128_000),
        Describe("claude-3.7-sonnet", "Claude 3.7 Sonnet", 200_000, 64_000),
    ];

    /// <summary>
    /// A Kiro model with what it can take. Every Kiro model runs inside Kiro's agent, so tools always work;
    /// images when the service lists IMAGE among its input types (Claude models when it says nothing);
    /// thinking for Claude (the gateway asks for it in the prompt). The provider trims the oldest history to
    /// fit Kiro's payload limit, so the gateway's context check leaves Kiro models alone.
    /// </summary>
    internal static ModelInfo Describe(string id, string name, int contextWindow, int maxOutputTokens, bool? images = null)
    {
        var claude = id.StartsWith("claude", StringComparison.OrdinalIgnoreCase) || id.Equals("auto", StringComparison.OrdinalIgnoreCase);
        return new ModelInfo(id, name, contextWindow, maxOutputTokens, "kiro")
        {
            SupportsImages = images ?? (claude ? true : null),
            SupportsTools = true,
            SupportsThinking = claude ? true : null,
            TrimsHistoryToFit = true,
        };
    }

    private readonly KiroOptions _options;
    private readonly ILogger<KiroModelCatalog> _log;
    private readonly RefreshingModelList _list;

    public KiroModelCatalog(IKiroModelSource source, IOptions<KiroOptions> options, ILogger<KiroModelCatalog> log, TimeProvider? time = null,
        Limits.ProbedLimits? limits = null)
    {
        _options = options.Value;
        _log = log;
        _list = new RefreshingModelList("Kiro", BuiltIn, source.FetchModelsAsync, TimeSpan.FromMinutes(_options.ModelsRefreshMinutes), log, time, limits);
    }

    public async ValueTask<IReadOnlyList<ModelInfo>> ListAsync(CancellationToken ct) => (await _list.CurrentAsync(ct)).Models;

    public async ValueTask<ResolvedModel> ResolveAsync(string clientModelName, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(clientModelName)) throw GatewayException.BadRequest("model: a model name is required.");
        var snapshot = await _list.CurrentAsync(ct);
        if (snapshot.Find(clientModelName) is { } exact) return new ResolvedModel(clientModelName, exact);
        if (_options.ModelAliases.TryGetValue(clientModelName, out var aliased) && snapshot.Find(aliased) is { } alias)
            return new ResolvedModel(clientModelName, alias);
        if (snapshot.Find(KiroModelNames.Normalize(clientModelName)) is { } normalised) return new ResolvedModel(clientModelName, normalised);
        if (_options.FallbackModel is { } fallback && snapshot.Find(fallback) is { } fb)
        {
            _log.LogInformation("Model {Requested} is unknown; using the configured fallback {Fallback}", clientModelName, fb.Id);
            return new ResolvedModel(clientModelName, fb);
        }
        throw GatewayException.BadRequest(
            $"model: '{clientModelName}' is not available. Available models: {string.Join(", ", snapshot.Models.Select(m => m.Id))}.");
    }
}
