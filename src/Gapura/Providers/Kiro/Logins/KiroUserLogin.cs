using Gapura.Providers.Accounts;
using System.Text.Json.Nodes;
using Gapura.Conversations;
using Gapura.Providers.Kiro.Auth;
using Gapura.Storage;

namespace Gapura.Providers.Kiro.Logins;

/// <summary>
/// One user's stored Kiro login, held in memory by <see cref="KiroLoginPool"/>: hands out its access token
/// without touching the database, refreshes it once for all concurrent callers (single flight), writes
/// refreshed tokens back to the database, and stops at a dead login — marked dead in the database with the
/// reason, logged once, and never refreshed again until a fresh sign-in replaces it.
/// </summary>
internal sealed class KiroUserLogin : IKiroTokenSource, Routing.IStoredUpstreamLogin
{
    private static readonly TimeSpan RefreshTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RecentRefresh = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(10);

    private readonly KiroLoginPool _pool;
    private readonly Lock _gate = new();
    private State _state;
    private Task<KiroCredential>? _pending;
    private DateTimeOffset _refreshedAt = DateTimeOffset.MinValue;
    private TimeSpan _backoff = TimeSpan.Zero;

    /// <summary>Everything that changes together, swapped as one so readers never see half an update.</summary>
    private sealed record State(string Label, KiroCredential Credential, JsonObject Json, string? DeadReason);

    internal KiroUserLogin(KiroLoginPool pool, UpstreamLogin row, KiroCredential credential, JsonObject json)
    {
        _pool = pool;
        Id = row.Id;
        UserId = row.UserId;
        _state = new State(row.Label, credential, json, row.Status == UpstreamLoginStatus.Dead ? row.LastError ?? "marked dead" : null);
    }

    public long Id { get; }

    public long UserId { get; }

    public string Label => Volatile.Read(ref _state).Label;

    public bool IsDead => Volatile.Read(ref _state).DeadReason is not null;

    public string? DeadReason => Volatile.Read(ref _state).DeadReason;

    public DateTimeOffset ExpiresAt => Volatile.Read(ref _state).Credential.ExpiresAt;

    /// <summary>When the background refresher may try again after a failure that may pass (network, 5xx).</summary>
    public DateTimeOffset NextAttemptAt { get; private set; } = DateTimeOffset.MinValue;

    public override string ToString() => $"Kiro login #{Id} '{Label}' of user {UserId}";

    public ValueTask<KiroAccessToken> GetAsync(bool forceRefresh, CancellationToken ct)
    {
        var state = Volatile.Read(ref _state);
        if (state.DeadReason is { } reason) throw DeadError(state, reason);
        if (!forceRefresh && IsFresh(state.Credential)) return ValueTask.FromResult(ToToken(state.Credential));
        return new ValueTask<KiroAccessToken>(RefreshAsync(forceRefresh, ct));
    }

    public ValueTask<KiroAccessToken> RefreshRejectedAsync(string rejectedToken, CancellationToken ct)
        => new(RefreshAsync(forceRefresh: true, ct, rejectedToken));

    /// <summary>Refreshes now unless someone else just did; what the background refresher calls.</summary>
    public async Task<KiroAccessToken> RefreshAsync(bool forceRefresh, CancellationToken ct, string? rejectedToken = null)
    {
        Task<KiroCredential> work;
        lock (_gate)
        {
            var state = _state;
            if (state.DeadReason is { } reason) throw DeadError(state, reason);
            var now = _pool.Time.GetUtcNow();
            var recent = now - _refreshedAt < RecentRefresh;
            // Knowing which token was refused beats guessing from the time since the last refresh.
            var replaced = rejectedToken is null ? recent : state.Credential.AccessToken != rejectedToken;
            if ((IsFresh(state.Credential) || recent && state.Credential.ExpiresAt > now) && (!forceRefresh || replaced))
                return ToToken(state.Credential);
            // Single flight: a request and the background refresher (or many requests) share one refresh.
            if (_pending is null || _pending.IsCompleted) _pending = Task.Run(() => RefreshCoreAsync(forceRefresh));
            work = _pending;
        }
        return ToToken(await work.WaitAsync(ct));
    }

    private async Task<KiroCredential> RefreshCoreAsync(bool forceRefresh)
    {
        var store = _pool.Store;
        var state = Volatile.Read(ref _state);

        // Another instance may have refreshed this login already: use its tokens rather than spend (and rotate) the refresh token.
        try
        {
            var (stored, json) = KiroLoginSecret.Parse(Id, await store.UpstreamLogins.ReadSecretAsync(Id));
            if (stored.ExpiresAt > state.Credential.ExpiresAt)
            {
                state = state with { Credential = stored, Json = json };
                Volatile.Write(ref _state, state);
                if (!forceRefresh && IsFresh(stored)) return stored;
            }
        }
        catch (UpstreamLoginNotFoundException)
        {
            throw new GatewayException(ErrorKind.UpstreamLogin, $"The Kiro login '{state.Label}' was removed.");
        }
        catch (Exception e) when (e is not OperationCanceledException and not GatewayException)
        {
            // The database being away must not stop a refresh the upstream can still do.
            _pool.Log.LogWarning("Could not re-read {Login} before refreshing it ({Error}); refreshing the copy in memory", this, e.Message);
        }

        KiroCredential refreshed;
        try
        {
            using var timeout = new CancellationTokenSource(RefreshTimeout);
            refreshed = await _pool.Auth.RefreshAsync(state.Credential, timeout.Token);
        }
        catch (GatewayException e) when (e.Kind == ErrorKind.UpstreamLogin)
        {
            await MarkDeadAsync(state, e.Message);
            throw;
        }
        catch (Exception e) when (e is GatewayException or OperationCanceledException)
        {
            _backoff = _backoff == TimeSpan.Zero ? FirstBackoff : TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, _backoff.Ticks * 2));
            NextAttemptAt = _pool.Time.GetUtcNow() + _backoff;
            if (!forceRefresh && state.Credential.ExpiresAt - _pool.Time.GetUtcNow() > TimeSpan.FromSeconds(30))
            {
                // The token still works for a while: serve it, and let the next attempt try again.
                _pool.Log.LogWarning("Refreshing {Login} failed ({Error}); its token stays in use until {ExpiresAt:O}", this, e.Message, state.Credential.ExpiresAt);
                return state.Credential;
            }
            throw;
        }

        _backoff = TimeSpan.Zero;
        NextAttemptAt = DateTimeOffset.MinValue;
        var merged = state.Json.DeepClone().AsObject();
        KiroCredentialFile.ApplyRefresh(merged, refreshed);
        lock (_gate)
        {
            // A relabel may have landed meanwhile; keep it.
            var latest = _state;
            Volatile.Write(ref _state, latest with { Credential = refreshed, Json = merged });
            _refreshedAt = _pool.Time.GetUtcNow();
        }
        try
        {
            await store.UpstreamLogins.UpdateSecretAsync(Id, KiroLoginSecret.Serialize(merged));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The token in memory is good; other instances refresh on their own if they need to.
            _pool.Log.LogWarning("Could not write the refreshed {Login} back to the database: {Error}", this, e.Message);
        }
        _pool.Log.LogInformation("{Login} refreshed via {Method}; expires {ExpiresAt:O}", this, refreshed.UsesOidc ? "OIDC" : "desktop", refreshed.ExpiresAt);
        return refreshed;
    }

    private async Task MarkDeadAsync(State state, string reason)
    {
        lock (_gate) Volatile.Write(ref _state, _state with { DeadReason = reason });
        await UserLogins.RecordDeadAsync(_pool.Store, _pool.Log, this, Id, reason);
    }

    /// <summary>
    /// Takes the database's view after a change (a relabel, a fresh sign-in under the same label, another
    /// instance's refresh or dead mark). Tokens are taken only when newer than ours, so a change that raced
    /// with our own refresh never rolls the login back to spent tokens.
    /// </summary>
    internal void Update(UpstreamLogin row, KiroCredential stored, JsonObject json)
    {
        lock (_gate)
        {
            var current = _state;
            var next = current with { Label = row.Label };
            var replaced = stored.RefreshToken != current.Credential.RefreshToken;
            if (stored.ExpiresAt > current.Credential.ExpiresAt || replaced && row.Status == UpstreamLoginStatus.Alive)
                next = next with { Credential = stored, Json = json };
            if (row.Status == UpstreamLoginStatus.Dead) next = next with { DeadReason = row.LastError ?? "marked dead" };
            else if (current.DeadReason is not null && replaced)
            {
                // A fresh sign-in replaced the dead login.
                next = next with { DeadReason = null };
                _backoff = TimeSpan.Zero;
                NextAttemptAt = DateTimeOffset.MinValue;
            }
            Volatile.Write(ref _state, next);
        }
    }

    private GatewayException DeadError(State state, string reason) => new(ErrorKind.UpstreamLogin,
        $"Your Kiro login '{state.Label}' is dead ({Trim(reason)}). Connect it again with `gapura login kiro --user <email> --label {state.Label}` or the admin API.");

    private static string Trim(string reason) => reason.Length <= 300 ? reason : reason[..300] + "…";

    private bool IsFresh(KiroCredential credential)
        => credential.AccessToken.Length > 0 && credential.ExpiresAt - _pool.Time.GetUtcNow() > TimeSpan.FromSeconds(_pool.Options.RefreshSkewSeconds);

    private KiroAccessToken ToToken(KiroCredential credential)
        => new(credential.AccessToken, string.IsNullOrEmpty(_pool.Options.ProfileArn) ? credential.ProfileArn : _pool.Options.ProfileArn, credential.ExpiresAt);
}
