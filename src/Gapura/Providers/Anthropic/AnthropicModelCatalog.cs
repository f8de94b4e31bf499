using System.Collections.Frozen;
using System.Text.RegularExpressions;
using Gapura.Conversations;
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
        new("claude-opus-4-6", "Claude Opus 4.6", 200_000, 128_000, AnthropicProvider.ProviderName),
        new("claude-sonnet-4-6", "Claude Sonnet 4.6", 200_000, 64_000, AnthropicProvider.ProviderName),
        new("claude-opus-4-5-20251101", "Claude Opus 4.5", 200_000, 64_000, AnthropicProvider.ProviderName),
        new("claude-haiku-4-5-20251001", "Claude Haiku 4.5", 200_000, 64_000, AnthropicProvider.ProviderName),
        new("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", 200_000, 64_000, AnthropicProvider.ProviderName),
        new("claude-opus-4-1-20250805", "Claude Opus 4.1", 200_000, 32_000, AnthropicProvider.ProviderName),
        new("claude-opus-4-20250514", "Claude Opus 4", 200_000, 32_000, AnthropicProvider.ProviderName),
        new("claude-sonnet-4-20250514", "Claude Sonnet 4", 200_000, 64_000, AnthropicProvider.ProviderName),
        new("claude-3-7-sonnet-20250219", "Claude Sonnet 3.7", 200_000, 64_000, AnthropicProvider.ProviderName),
        new("claude-3-5-haiku-20241022", "Claude Haiku 3.5", 200_000, 8_192, AnthropicProvider.ProviderName),
    ];

    private static readonly TimeSpan FirstLoadWait = TimeSpan.FromSeconds(10);

    private readonly IAnthropicModelSource _source;
    private readonly AnthropicOptions _options;
    private readonly ILogger<AnthropicModelCatalog> _log;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private Snapshot _snapshot;
    private Task? _refresh;
    private bool _loadedFromService;

    public AnthropicModelCatalog(IAnthropicModelSource source, IOptions<AnthropicOptions> options, ILogger<AnthropicModelCatalog> log, TimeProvider? time = null)
    {
        _source = source;
        _options = options.Value;
        _log = log;
        _time = time ?? TimeProvider.System;
        _snapshot = new Snapshot(BuiltIn, DateTimeOffset.MinValue);
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

    public async ValueTask<IReadOnlyList<ModelInfo>> ListAsync(CancellationToken ct) => (await CurrentAsync(ct)).Models;

    public async ValueTask<ResolvedModel> ResolveAsync(string clientModelName, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(clientModelName)) throw GatewayException.BadRequest("model: a model name is required.");
        var snapshot = await CurrentAsync(ct);
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

    private async ValueTask<Snapshot> CurrentAsync(CancellationToken ct)
    {
        var snapshot = _snapshot;
        if (_time.GetUtcNow() - snapshot.LoadedAt < TimeSpan.FromMinutes(_options.ModelsRefreshMinutes)) return snapshot;

        Task refresh;
        lock (_gate) refresh = _refresh ??= RefreshAsync();
        // Only the very first load is waited for (briefly); afterwards the old list serves while a refresh runs.
        if (!_loadedFromService)
        {
            try { await refresh.WaitAsync(FirstLoadWait, ct); }
            catch (TimeoutException) { }
        }
        return _snapshot;
    }

    private async Task RefreshAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var models = await _source.FetchModelsAsync(cts.Token);
            if (models.Count > 0)
            {
                _snapshot = new Snapshot(models, _time.GetUtcNow());
                _loadedFromService = true;
                _log.LogInformation("Loaded {Count} Anthropic models", models.Count);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Keep serving what we have; retry after a minute rather than on every request.
            _log.LogWarning("Could not list Anthropic models ({Reason}); using {Count} known models", e.Message, _snapshot.Models.Count);
            var retryAt = _time.GetUtcNow() - TimeSpan.FromMinutes(_options.ModelsRefreshMinutes) + TimeSpan.FromMinutes(1);
            _snapshot = _snapshot with { LoadedAt = retryAt };
        }
        finally
        {
            lock (_gate) _refresh = null;
        }
    }

    private sealed record Snapshot(IReadOnlyList<ModelInfo> Models, DateTimeOffset LoadedAt)
    {
        private readonly FrozenDictionary<string, ModelInfo> _byId =
            Models.DistinctBy(m => m.Id, StringComparer.OrdinalIgnoreCase).ToFrozenDictionary(m => m.Id, StringComparer.OrdinalIgnoreCase);

        public ModelInfo? Find(string id) => _byId.GetValueOrDefault(id);
    }
}
