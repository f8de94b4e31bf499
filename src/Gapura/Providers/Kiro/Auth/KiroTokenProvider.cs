using Gapura.Conversations;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Kiro.Auth;

/// <summary>
/// Hands out a valid Kiro access token (one per process; register as a singleton). Discovers the login
/// on first use, refreshes it <see cref="KiroOptions.RefreshSkewSeconds"/> before expiry, lets concurrent
/// callers share one refresh, writes refreshed tokens back where they came from, and stops at a dead
/// login instead of hammering the refresh endpoint.
/// </summary>
internal sealed class KiroTokenProvider : IKiroTokenSource
{
    // A caller that saw a 403 forces a refresh; when others saw the same 403 a moment later, the token
    // refreshed in this window already answers them, so they do not spend another refresh.
    private static readonly TimeSpan RecentRefresh = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan RefreshTimeout = TimeSpan.FromSeconds(60);

    private readonly KiroOptions _options;
    private readonly KiroCredentialStore _store;
    private readonly KiroAuthClient _client;
    private readonly ILogger<KiroTokenProvider> _logger;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private KiroCredential? _current;
    private DateTimeOffset _refreshedAt = DateTimeOffset.MinValue;
    private Task<KiroCredential>? _pending;
    private GatewayException? _dead;
    private string? _deadRefreshToken;

    public KiroTokenProvider(IOptions<KiroOptions> options, KiroCredentialStore store, KiroAuthClient client, ILogger<KiroTokenProvider> logger, TimeProvider? time = null)
    {
        _options = options.Value;
        _store = store;
        _client = client;
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Where the current login came from (null before first use).</summary>
    public KiroCredentialSource? Source => Volatile.Read(ref _current)?.Source;

    /// <summary>
    /// A token valid for at least the refresh skew. <paramref name="forceRefresh"/> after the service
    /// refused the token (403 bearer invalid): refresh even though it looks valid.
    /// </summary>
    /// <exception cref="GatewayException">Authentication when there is no login or it is dead; UpstreamUnavailable/RateLimited/Timeout when refreshing may work later.</exception>
    public ValueTask<KiroAccessToken> GetAsync(bool forceRefresh, CancellationToken ct)
    {
        var current = Volatile.Read(ref _current);
        if (current is not null && !forceRefresh && IsFresh(current)) return ValueTask.FromResult(ToToken(current));
        return new ValueTask<KiroAccessToken>(SlowPathAsync(forceRefresh, null, ct));
    }

    /// <summary>
    /// A replacement for <paramref name="rejectedToken"/>, which the service refused. Refreshes unless the
    /// current token is already a different one (another caller refreshed meanwhile) — however recent the
    /// last refresh, a token that was itself refused must never be handed out again.
    /// </summary>
    public ValueTask<KiroAccessToken> RefreshRejectedAsync(string rejectedToken, CancellationToken ct)
        => new(SlowPathAsync(forceRefresh: true, rejectedToken, ct));

    private async Task<KiroAccessToken> SlowPathAsync(bool forceRefresh, string? rejectedToken, CancellationToken ct)
    {
        Task<KiroCredential> work;
        lock (_gate)
        {
            var current = _current;
            var now = _time.GetUtcNow();
            var recent = now - _refreshedAt < RecentRefresh;
            // A token that lives shorter than the skew is "stale" from birth; right after a refresh it is still the best there is.
            var usable = current is not null && (IsFresh(current) || recent && current.ExpiresAt > now);
            // Knowing which token was refused beats guessing from the time since the last refresh.
            var replaced = rejectedToken is null ? recent : current is not null && current.AccessToken != rejectedToken;
            if (usable && (!forceRefresh || replaced)) return ToToken(current!);
            // Single flight: whoever comes while a refresh runs waits for that one.
            if (_pending is null || _pending.IsCompleted) _pending = Task.Run(() => AcquireAsync(forceRefresh));
            work = _pending;
        }
        // Each caller may give up on its own; the shared refresh carries on for the others.
        return ToToken(await work.WaitAsync(ct));
    }

    private async Task<KiroCredential> AcquireAsync(bool forceRefresh)
    {
        var current = Volatile.Read(ref _current);
        if (current is null)
        {
            current = _store.Discover();
            if (_dead is { } dead && current.RefreshToken == _deadRefreshToken) throw dead;
            _dead = null;
            _logger.LogInformation("Kiro login found: {Source}, {Method} refresh, expires {ExpiresAt:O}", current.Source, current.UsesOidc ? "OIDC" : "desktop", current.ExpiresAt);
            if (!forceRefresh && IsFresh(current))
            {
                Volatile.Write(ref _current, current);
                return current;
            }
        }
        else if (ReloadQuietly(current.Source) is { } onDisk && onDisk.AccessToken != current.AccessToken)
        {
            // The Kiro IDE or kiro-cli refreshed the same login meanwhile: use theirs rather than spend (and rotate) a refresh token.
            if (IsFresh(onDisk))
            {
                _logger.LogInformation("Kiro login in {Source} was refreshed by another program; using it", onDisk.Source);
                Volatile.Write(ref _current, onDisk);
                _refreshedAt = _time.GetUtcNow();
                return onDisk;
            }
            current = onDisk;
        }

        KiroCredential refreshed;
        try
        {
            using var timeout = new CancellationTokenSource(RefreshTimeout);
            refreshed = await _client.RefreshAsync(current, timeout.Token);
        }
        catch (GatewayException e) when (e.Kind == ErrorKind.UpstreamLogin)
        {
            _logger.LogError("Kiro login from {Source} can no longer be refreshed. {Fix}", current.Source, current.Source.FixAdvice);
            _dead = e;
            _deadRefreshToken = current.RefreshToken;
            // Forget it: the next call re-reads the store and recovers by itself once the user has signed in again.
            Volatile.Write(ref _current, null);
            throw;
        }
        catch (Exception e) when (!forceRefresh && current.ExpiresAt - _time.GetUtcNow() > TimeSpan.FromSeconds(30) && e is GatewayException or OperationCanceledException)
        {
            // Refreshing early failed, but the token still works for a while: serve it and try again on the next call.
            _logger.LogWarning("Refreshing the Kiro login failed early ({Error}); the current token stays in use until {ExpiresAt:O}", e.Message, current.ExpiresAt);
            Volatile.Write(ref _current, current);
            return current;
        }

        try
        {
            _store.Save(refreshed);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException or InvalidDataException)
        {
            // The token in memory is good; only other programs sharing the login miss the update.
            _logger.LogWarning("Could not write the refreshed Kiro login back to {Source}: {Error}", refreshed.Source, e.Message);
        }
        _refreshedAt = _time.GetUtcNow();
        Volatile.Write(ref _current, refreshed);
        _logger.LogInformation("Kiro login refreshed via {Method}; expires {ExpiresAt:O}", refreshed.UsesOidc ? "OIDC" : "desktop", refreshed.ExpiresAt);
        return refreshed;
    }

    private KiroCredential? ReloadQuietly(KiroCredentialSource source)
    {
        try
        {
            return _store.Load(source);
        }
        catch (GatewayException)
        {
            return null;
        }
    }

    private bool IsFresh(KiroCredential credential)
        => credential.AccessToken.Length > 0 && credential.ExpiresAt - _time.GetUtcNow() > TimeSpan.FromSeconds(_options.RefreshSkewSeconds);

    private KiroAccessToken ToToken(KiroCredential credential)
        => new(credential.AccessToken, string.IsNullOrEmpty(_options.ProfileArn) ? credential.ProfileArn : _options.ProfileArn, credential.ExpiresAt);
}
