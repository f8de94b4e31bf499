using System.Collections.Frozen;
using Gapura.Conversations;
using Gapura.Routing;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// The models one OpenAI-format account offers: a configured list, or the upstream's <c>/models</c> read
/// in the background and cached (stale-while-revalidate: no request waits on a refresh except the very first,
/// briefly), with a fallback list when the upstream cannot be asked. Names resolve exactly or with this
/// provider's prefix (<c>openai/gpt-5</c>, <c>ollama/llama3.2</c>); ids may themselves hold a slash
/// (vLLM's <c>meta-llama/Llama-3.1-8B-Instruct</c>), so the exact id is tried first.
/// </summary>
internal sealed class ChatCompletionsModelCatalog : IModelCatalog
{
    private static readonly TimeSpan FirstLoadWait = TimeSpan.FromSeconds(10);

    private readonly string _provider;
    private readonly Func<CancellationToken, Task<IReadOnlyList<ModelInfo>>>? _fetch;
    private readonly TimeSpan _refreshEvery;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private Snapshot _snapshot;
    private Task? _refresh;
    private bool _loaded;

    /// <param name="configured">A fixed list (from settings): never refreshed.</param>
    /// <param name="fetch">Reads the upstream's list; used when nothing is configured.</param>
    /// <param name="fallback">Served until (and whenever) the upstream's list cannot be read.</param>
    public ChatCompletionsModelCatalog(string provider, IReadOnlyList<ModelInfo>? configured,
        Func<CancellationToken, Task<IReadOnlyList<ModelInfo>>>? fetch, IReadOnlyList<ModelInfo> fallback,
        TimeSpan refreshEvery, ILogger log, TimeProvider? time = null)
    {
        _provider = provider;
        _refreshEvery = refreshEvery;
        _log = log;
        _time = time ?? TimeProvider.System;
        if (configured is { Count: > 0 })
        {
            _snapshot = new Snapshot(configured, DateTimeOffset.MaxValue);
            _loaded = true;
        }
        else
        {
            _fetch = fetch;
            _snapshot = new Snapshot(fallback, DateTimeOffset.MinValue);
        }
    }

    public async ValueTask<IReadOnlyList<ModelInfo>> ListAsync(CancellationToken ct) => (await CurrentAsync(ct)).Models;

    public async ValueTask<ResolvedModel> ResolveAsync(string clientModelName, CancellationToken ct)
    {
        var name = clientModelName.Trim();
        if (name.Length == 0) throw GatewayException.BadRequest("model: a model name is required.");
        var snapshot = await CurrentAsync(ct);
        if (snapshot.Find(name) is { } exact) return new ResolvedModel(clientModelName, exact);
        var prefix = _provider + "/";
        if (name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) && snapshot.Find(name[prefix.Length..]) is { } prefixed)
            return new ResolvedModel(clientModelName, prefixed);
        throw GatewayException.BadRequest(
            $"model: '{clientModelName}' is not available from {_provider}. Available models: {string.Join(", ", snapshot.Models.Select(m => m.Id))}.");
    }

    private async ValueTask<Snapshot> CurrentAsync(CancellationToken ct)
    {
        var snapshot = _snapshot;
        if (_fetch is null || _time.GetUtcNow() - snapshot.LoadedAt < _refreshEvery) return snapshot;
        Task refresh;
        lock (_gate) refresh = _refresh ??= RefreshAsync();
        if (!_loaded)
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
            var models = await _fetch!(cts.Token);
            if (models.Count > 0)
            {
                _snapshot = new Snapshot(models, _time.GetUtcNow());
                _loaded = true;
                _log.LogInformation("Loaded {Count} models of {Provider}", models.Count, _provider);
            }
            else
            {
                _log.LogWarning("{Provider} listed no models; using {Count} known models", _provider, _snapshot.Models.Count);
                _snapshot = _snapshot with { LoadedAt = RetrySoon() };
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.LogWarning("Could not list the models of {Provider} ({Reason}); using {Count} known models", _provider, e.Message, _snapshot.Models.Count);
            _snapshot = _snapshot with { LoadedAt = RetrySoon() };
        }
        finally
        {
            lock (_gate) _refresh = null;
        }
    }

    // Ask again in a minute rather than on every request.
    private DateTimeOffset RetrySoon() => _time.GetUtcNow() - _refreshEvery + TimeSpan.FromMinutes(1);

    private sealed record Snapshot(IReadOnlyList<ModelInfo> Models, DateTimeOffset LoadedAt)
    {
        private readonly FrozenDictionary<string, ModelInfo> _byId =
            Models.DistinctBy(m => m.Id, StringComparer.OrdinalIgnoreCase).ToFrozenDictionary(m => m.Id, StringComparer.OrdinalIgnoreCase);

        public ModelInfo? Find(string id) => _byId.GetValueOrDefault(id);
    }
}
