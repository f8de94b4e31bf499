using System.Text.RegularExpressions;
using Gapura.Conversations;
using Gapura.Providers.Accounts;
using Gapura.Routing;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Anthropic;

/// <summary>
/// The models the configured Anthropic key can use, read from <c>GET /v1/models</c> and refreshed in the
/// background (stale-while-revalidate, as Kiro's catalog), with a built-in list when the API cannot be asked.
/// Resolution: exact id → <c>anthropic/</c> prefix, <c>[1m]</c> suffix, dotted versions and <c>-latest</c>
/// normalised → an undated alias picks the newest dated id → 400.
/// </summary>
internal sealed partial class AnthropicModelCatalog : IModelCatalog
{
    public const string Prefix = "anthropic/";

    // Context windows and output caps as Anthropic publishes them; /v1/models supplies the ids a key can use.
    internal static readonly IReadOnlyList<ModelInfo> BuiltIn =
    [
        Describe("claude-opus-4-6", "Claude Opus 4.6", 200_000, 128_000),
        Describe("claude-sonnet-4-6", "Claude Sonnet 4.6", 200_000, 64_000),
        Describe("claude-opus-4-5-20251101", "Claude Opus 4.5", 200_000, 64_000),
        Describe("claude-haiku-4-5-20251001", "Claude Haiku 4.5", 200_000, 64_000),
        Describe("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", 200_000, 64_000),
        Describe("claude-opus-4-1-20250805", "Claude Opus 4.1", 200_000, 32_000),
        Describe("claude-opus-4-20250514", "Claude Opus 4", 200_000, 32_000),
        Describe("claude-sonnet-4-20250514", "Claude Sonnet 4", 200_000, 64_000),
        Describe("claude-3-7-sonnet-20250219", "Claude Sonnet 3.7", 200_000, 64_000),
        Describe("claude-3-5-haiku-20241022", "Claude Haiku 3.5", 200_000, 8_192),
    ];

    /// <summary>
    /// An Anthropic model with what it can take: every Claude model takes images and tools; extended thinking
    /// came with Claude 3.7, so the 3.5 and older models do not reason on request.
    /// </summary>
    internal static ModelInfo Describe(string id, string name, int contextWindow, int maxOutputTokens) =>
        new(id, name, contextWindow, maxOutputTokens, AnthropicProvider.ProviderName)
        {
            SupportsImages = true,
            SupportsTools = true,
            SupportsThinking = !id.StartsWith("claude-3-", StringComparison.OrdinalIgnoreCase) || id.StartsWith("claude-3-7", StringComparison.OrdinalIgnoreCase),
        };

    private readonly RefreshingModelList _list;
    private readonly ProviderAccounts? _accounts;

    public AnthropicModelCatalog(IAnthropicModelSource source, IOptions<AnthropicOptions> options, ILogger<AnthropicModelCatalog> log, TimeProvider? time = null,
        ProviderAccounts? accounts = null, Limits.ProbedLimits? limits = null)
    {
        _accounts = accounts;
        _list = new RefreshingModelList("Anthropic", BuiltIn, source.FetchModelsAsync, TimeSpan.FromMinutes(options.Value.ModelsRefreshMinutes), log, time, limits);
    }

    /// <summary>Limits of a known model (dated or not), or Anthropic's common 200k / 64k.</summary>
    internal static (int ContextWindow, int MaxOutputTokens) KnownLimits(string id)
    {
        var undated = DateSuffix().Replace(id, "");
        foreach (var m in BuiltIn)
            if (m.Id.Equals(id, StringComparison.OrdinalIgnoreCase) || DateSuffix().Replace(m.Id, "").Equals(undated, StringComparison.OrdinalIgnoreCase))
                return (m.ContextWindow, m.MaxOutputTokens);
        return (200_000, 64_000);
    }

    /// <summary>No account anywhere, no models: the provider is not in use on this gateway.</summary>
    private bool InUse => _accounts is null || _accounts.HasAnyAccount;

    public async ValueTask<IReadOnlyList<ModelInfo>> ListAsync(CancellationToken ct) => InUse ? (await _list.CurrentAsync(ct)).Models : [];

    public bool Serves(Identity.Caller? caller) => _accounts is null || _accounts.CanServe(caller);

    public async ValueTask<ResolvedModel> ResolveAsync(string clientModelName, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(clientModelName)) throw GatewayException.BadRequest("model: a model name is required.");
        if (!InUse) throw GatewayException.BadRequest($"model: '{clientModelName}' is not available: nobody has connected an Anthropic account to this gateway.");
        var snapshot = await _list.CurrentAsync(ct);
        if (snapshot.Find(clientModelName.Trim()) is { } exact) return new ResolvedModel(clientModelName, exact);
        var name = Normalize(clientModelName);
        if (snapshot.Find(name) is { } normalised) return new ResolvedModel(clientModelName, normalised);
        // Anthropic's undated aliases (claude-sonnet-4-5) name the newest snapshot of that model.
        var newest = snapshot.Models
            .Where(m => m.Id.StartsWith(name + "-", StringComparison.OrdinalIgnoreCase) && DateSuffix().IsMatch(m.Id) && m.Id.Length == name.Length + 9)
            .MaxBy(m => m.Id, StringComparer.Ordinal);
        if (newest is not null) return new ResolvedModel(clientModelName, newest);
        throw GatewayException.BadRequest(
            $"model: '{clientModelName}' is not available from Anthropic. Available models: {string.Join(", ", snapshot.Models.Select(m => m.Id))}.");
    }

    /// <summary><c>anthropic/claude-sonnet-4.5-latest[1m]</c> → <c>claude-sonnet-4-5</c>.</summary>
    internal static string Normalize(string clientName)
    {
        var name = clientName.Trim().ToLowerInvariant();
        if (name.StartsWith(Prefix, StringComparison.Ordinal)) name = name[Prefix.Length..];
        name = ContextSuffix().Replace(name, "");
        name = DottedVersion().Replace(name, "$1-$2");
        if (name.EndsWith("-latest", StringComparison.Ordinal)) name = name[..^"-latest".Length];
        return name;
    }

    [GeneratedRegex(@"-\d{8}$")]
    private static partial Regex DateSuffix();

    [GeneratedRegex(@"\[[^\]]*\]$")]
    private static partial Regex ContextSuffix();

    [GeneratedRegex(@"(\d)\.(\d)")]
    private static partial Regex DottedVersion();
}
