using System.Collections.Concurrent;
using Gapura.Conversations;
using Gapura.Ledger;
using Gapura.Providers.Accounts;
using Gapura.Providers.Kiro.Logins;
using Prometheus;

namespace Gapura.Telemetry;

/// <summary>
/// The gateway's Prometheus metrics, in a registry of this host's own: tests run many gateways in one process,
/// and the static default registry would mix their figures. Per-request figures come from the usage records
/// (<see cref="IUsageObserver"/>, on the request path: one dictionary lookup for the request's labelled series,
/// then plain increments); everything that is a state rather than an event (queue depth, logins, streams in
/// progress) is read only when a scraper asks.
/// </summary>
/// <remarks>
/// Labels are bounded and carry nothing secret or personal: front doors and statuses are fixed sets, providers
/// are the registered ones, models are catalog ids (a request that reached no model is <c>other</c>: the name a
/// client asked for is its own free text), error kinds are <see cref="ErrorKind"/>'s names.
/// </remarks>
internal sealed class GatewayMetrics : IUsageObserver
{
    /// <summary>The model label of a request that was never resolved to a catalog model.</summary>
    public const string OtherModel = "other";

    /// <summary>The provider label of a request that reached no provider.</summary>
    public const string NoProvider = "none";

    private static readonly double[] DurationBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
    private static readonly double[] FirstByteBuckets = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly IServiceProvider _services;
    private readonly Counter _requests;
    private readonly Counter _tokens;
    private readonly Counter _cost;
    private readonly Histogram _duration;
    private readonly Histogram _firstByte;
    private readonly Counter _upstreamErrors;
    private readonly Counter _fallbacks;
    private readonly Gauge _activeStreams;
    private readonly Gauge _logins;
    private readonly Gauge _queueDepth;
    private readonly Counter _dropped;
    private readonly Counter _written;

    private readonly ConcurrentDictionary<(string Door, string Provider, string Model), Series> _series = new();
    private readonly ConcurrentDictionary<(string Provider, string Kind), Counter.Child> _errorChildren = new();
    private readonly ConcurrentDictionary<string, Counter.Child> _fallbackChildren = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Provider, string State), Gauge.Child> _loginChildren = [];
    private readonly Lock _scrapeGate = new();

    // Resolved at the first scrape, not in the constructor: the ledger takes its observers (this) when it is built.
    private UsageLedger? _ledger;
    private UsageWriter? _writer;

    public GatewayMetrics(IServiceProvider services)
    {
        _services = services;
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        // Series appear once they have a value: a combination that never happened is not a line of zeros.
        var quiet = new CounterConfiguration { SuppressInitialValue = true };
        _requests = factory.CreateCounter("gapura_requests_total", "Chat requests, by front door, provider, model and how they ended (ok, error, client_closed).",
            ["door", "provider", "model", "status"], quiet);
        _tokens = factory.CreateCounter("gapura_tokens_total", "Tokens by bucket (input, output, cache_read, cache_write, reasoning; reasoning is part of output), provider and model.",
            ["bucket", "provider", "model"], quiet);
        _cost = factory.CreateCounter("gapura_cost_usd_total", "Cost in USD from the price table, by provider and model (models without a price add nothing).",
            ["provider", "model"], quiet);
        _duration = factory.CreateHistogram("gapura_request_duration_seconds", "Chat request duration, arrival to last byte, by front door and provider.",
            ["door", "provider"], new HistogramConfiguration { Buckets = DurationBuckets, SuppressInitialValue = true });
        _firstByte = factory.CreateHistogram("gapura_time_to_first_byte_seconds", "Arrival to the first byte of the answer, by front door and provider.",
            ["door", "provider"], new HistogramConfiguration { Buckets = FirstByteBuckets, SuppressInitialValue = true });
        _upstreamErrors = factory.CreateCounter("gapura_upstream_errors_total", "Upstream attempts that failed, by provider and error kind (attempts fallen back from, and the failure that ended a request).",
            ["provider", "kind"], quiet);
        _fallbacks = factory.CreateCounter("gapura_fallbacks_total", "Times a request moved on from a failed provider to the next candidate, by the provider left.",
            ["provider"], quiet);
        _activeStreams = factory.CreateGauge("gapura_active_streams", "Streamed chat requests in progress.");
        _logins = factory.CreateGauge("gapura_upstream_logins", "Users' upstream logins by provider and state (alive, dead).", ["provider", "state"]);
        _queueDepth = factory.CreateGauge("gapura_usage_queue_depth", "Usage records waiting for the background writer.");
        _dropped = factory.CreateCounter("gapura_usage_dropped_total", "Usage records dropped because the queue was full.");
        _written = factory.CreateCounter("gapura_usage_written_total", "Usage records stored by the background writer.");
        Registry.AddBeforeCollectCallback(BeforeScrape);
    }

    public CollectorRegistry Registry { get; }

    public void Observe(UsageRecord record)
    {
        var provider = record.Provider ?? NoProvider;
        var series = SeriesFor(record.FrontDoor, provider, record.UpstreamModel ?? OtherModel);
        series.Count(record.Status);
        if (record.InputTokens > 0) series.Input.Inc(record.InputTokens);
        if (record.OutputTokens > 0) series.Output.Inc(record.OutputTokens);
        if (record.CacheReadTokens > 0) series.CacheRead.Inc(record.CacheReadTokens);
        if (record.CacheWriteTokens > 0) series.CacheWrite.Inc(record.CacheWriteTokens);
        if (record.ReasoningTokens > 0) series.Reasoning.Inc(record.ReasoningTokens);
        if (record.CostUsd is > 0 and var cost) series.Cost.Inc(cost);
        series.Duration.Observe(record.DurationMs / 1000);
        if (record.TimeToFirstByteMs is { } firstByte) series.FirstByte.Observe(firstByte / 1000);

        if (record.FailedAttempts is { } failed)
        {
            for (var i = 0; i < failed.Count; i++)
            {
                var (from, kind) = failed[i];
                ErrorCounter(from, UsageRecord.KindName(kind)).Inc();
                FallbackCounter(from).Inc();
            }
        }
        // The failure that ended a request a provider was serving; one that stopped it before any provider
        // (a bad body, no model) is the caller's or the gateway's, not an upstream's.
        if (record.Status == UsageStatus.Error && record.Provider is not null && record.ErrorKind is not null)
            ErrorCounter(record.Provider, record.ErrorKind).Inc();
    }

    private Series SeriesFor(string door, string provider, string model)
        => _series.TryGetValue((door, provider, model), out var found)
            ? found
            : _series.GetOrAdd((door, provider, model), key => new Series(this, key.Door, key.Provider, key.Model));

    private Counter.Child ErrorCounter(string provider, string kind)
        => _errorChildren.TryGetValue((provider, kind), out var found)
            ? found
            : _errorChildren.GetOrAdd((provider, kind), key => _upstreamErrors.WithLabels(key.Provider, key.Kind));

    private Counter.Child FallbackCounter(string provider)
        => _fallbackChildren.TryGetValue(provider, out var found) ? found : _fallbackChildren.GetOrAdd(provider, p => _fallbacks.WithLabels(p));

    /// <summary>States, read when a scraper asks: never on the request path.</summary>
    private void BeforeScrape()
    {
        _ledger ??= _services.GetService<UsageLedger>();
        _writer ??= _services.GetService<UsageWriter>();
        if (_ledger is not null)
        {
            _queueDepth.Set(_ledger.QueueDepth);
            _activeStreams.Set(_ledger.ActiveStreams);
            _dropped.IncTo(_ledger.Dropped);
        }
        if (_writer is not null) _written.IncTo(_writer.Written);

        var counts = new Dictionary<(string Provider, string State), int>();
        if (_services.GetService<KiroLoginPool>() is { } kiro)
            foreach (var login in kiro.All) Tally(counts, KiroLoginPool.Provider, login.IsDead);
        if (_services.GetService<AccountPool>() is { } pool)
            foreach (var account in pool.All) Tally(counts, account.Provider, account.IsDead);
        lock (_scrapeGate)
        {
            // A provider whose last login went away reads 0 rather than keeping its old figure.
            foreach (var child in _loginChildren.Values) child.Set(0);
            foreach (var ((provider, state), count) in counts)
            {
                if (!_loginChildren.TryGetValue((provider, state), out var child))
                    _loginChildren[(provider, state)] = child = _logins.WithLabels(provider, state);
                child.Set(count);
            }
        }
    }

    private static void Tally(Dictionary<(string, string), int> counts, string provider, bool dead)
    {
        var key = (provider, dead ? "dead" : "alive");
        counts[key] = counts.GetValueOrDefault(key) + 1;
        // Both states are shown once a provider has a login, so a dashboard sees "0 dead" rather than nothing.
        counts.TryAdd((provider, dead ? "alive" : "dead"), 0);
    }

    /// <summary>Every child one (door, provider, model) combination touches, resolved once.</summary>
    private sealed class Series(GatewayMetrics m, string door, string provider, string model)
    {
        private readonly Counter.Child _ok = m._requests.WithLabels(door, provider, model, UsageStatus.Ok);
        private readonly Counter.Child _error = m._requests.WithLabels(door, provider, model, UsageStatus.Error);
        private readonly Counter.Child _clientClosed = m._requests.WithLabels(door, provider, model, UsageStatus.ClientClosed);
        private readonly Counter _requests = m._requests;
        private readonly string _door = door, _provider = provider, _model = model;

        public Counter.Child Input { get; } = m._tokens.WithLabels("input", provider, model);
        public Counter.Child Output { get; } = m._tokens.WithLabels("output", provider, model);
        public Counter.Child CacheRead { get; } = m._tokens.WithLabels("cache_read", provider, model);
        public Counter.Child CacheWrite { get; } = m._tokens.WithLabels("cache_write", provider, model);
        public Counter.Child Reasoning { get; } = m._tokens.WithLabels("reasoning", provider, model);
        public Counter.Child Cost { get; } = m._cost.WithLabels(provider, model);
        public Histogram.Child Duration { get; } = m._duration.WithLabels(door, provider);
        public Histogram.Child FirstByte { get; } = m._firstByte.WithLabels(door, provider);

        public void Count(string status)
        {
            switch (status)
            {
                case UsageStatus.Ok: _ok.Inc(); break;
                case UsageStatus.Error: _error.Inc(); break;
                case UsageStatus.ClientClosed: _clientClosed.Inc(); break;
                default: _requests.WithLabels(_door, _provider, _model, status).Inc(); break;
            }
        }
    }
}
