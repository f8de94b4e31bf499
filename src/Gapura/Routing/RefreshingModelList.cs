using System.Collections.Frozen;

namespace Gapura.Routing;

/// <summary>
/// A provider's model list as its service reports it, refreshed in the background (stale-while-revalidate, so
/// no request waits on a refresh) with a known list serving until — and whenever — the service cannot be asked.
/// Only the very first load is waited for, briefly. Each catalog keeps its own name-resolution rules on top.
/// </summary>
internal sealed class RefreshingModelList
{
    private static readonly TimeSpan FirstLoadWait = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan RetryAfterFailure = TimeSpan.FromMinutes(1);

    private readonly string _upstream;
    private readonly Func<CancellationToken, Task<IReadOnlyList<ModelInfo>>>? _fetch;
    private readonly TimeSpan _refreshEvery;
    private readonly ILogger _log;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private readonly Providers.Limits.ProbedLimits? _limits;
    private IReadOnlyList<ModelInfo> _listed;
    private Snapshot _snapshot;
    private Task? _refresh;
    private bool _loaded;

    /// <param name="initial">Served until the service answers; with <paramref name="fetch"/> null it is the whole, fixed list (configured models).</param>
    /// <param name="limits">Limits <c>gapura probe-limits</c> measured, laid over the listed ones.</param>
    public RefreshingModelList(string upstream, IReadOnlyList<ModelInfo> initial, Func<CancellationToken, Task<IReadOnlyList<ModelInfo>>>? fetch,
        TimeSpan refreshEvery, ILogger log, TimeProvider? time = null, Providers.Limits.ProbedLimits? limits = null)
    {
        _limits = limits;
        _listed = initial;
        _upstream = upstream;
        _fetch = fetch;
        _refreshEvery = refreshEvery;
        _log = log;
        _time = time ?? TimeProvider.System;
        _snapshot = Build(initial, DateTimeOffset.MinValue);
        _loaded = fetch is null;
    }

    public async ValueTask<Snapshot> CurrentAsync(CancellationToken ct)
    {
        var snapshot = _snapshot;
        // Probed limits changed since the snapshot was built (a probe just ran, here or on another instance): rebuild once.
        if (_limits is not null && snapshot.LimitsVersion != _limits.Version) _snapshot = snapshot = Build(_listed, snapshot.LoadedAt);
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
                _listed = models;
                _snapshot = Build(models, _time.GetUtcNow());
                _loaded = true;
                _log.LogInformation("Loaded {Count} {Upstream} models", models.Count, _upstream);
            }
            else
            {
                _log.LogWarning("{Upstream} listed no models; using {Count} known models", _upstream, _snapshot.Models.Count);
                _snapshot = _snapshot with { LoadedAt = RetrySoon() };
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Keep serving what we have; ask again in a minute rather than on every request.
            _log.LogWarning("Could not list {Upstream} models ({Reason}); using {Count} known models", _upstream, e.Message, _snapshot.Models.Count);
            _snapshot = _snapshot with { LoadedAt = RetrySoon() };
        }
        finally
        {
            lock (_gate) _refresh = null;
        }
    }

    private Snapshot Build(IReadOnlyList<ModelInfo> listed, DateTimeOffset loadedAt)
        => _limits is null ? new Snapshot(listed, loadedAt) : new Snapshot(_limits.Apply(listed), loadedAt) { LimitsVersion = _limits.Version };

    private DateTimeOffset RetrySoon() => _time.GetUtcNow() - _refreshEvery + RetryAfterFailure;

    internal sealed record Snapshot(IReadOnlyList<ModelInfo> Models, DateTimeOffset LoadedAt)
    {
        /// <summary>The <see cref="Providers.Limits.ProbedLimits.Version"/> the models were built with.</summary>
        public int LimitsVersion { get; init; }

        private readonly FrozenDictionary<string, ModelInfo> _byId =
            Models.DistinctBy(m => m.Id, StringComparer.OrdinalIgnoreCase).ToFrozenDictionary(m => m.Id, StringComparer.OrdinalIgnoreCase);

        public ModelInfo? Find(string id) => _byId.GetValueOrDefault(id);
    }
}
