using Gapura.Conversations;
using Gapura.Storage;

namespace Gapura.Providers.Accounts;

/// <summary>
/// A user's stored account at one upstream (any provider but Kiro), held in memory by <see cref="AccountPool"/>:
/// hands out its secret without touching the database; an OAuth sign-in is renewed once for all concurrent
/// callers (single flight) a few minutes before it runs out, written back encrypted, and marked dead when the
/// upstream refuses the refresh token — then it is skipped until the user signs in again.
/// </summary>
internal sealed class UserAccount : IUpstreamAccount, Routing.IStoredUpstreamLogin
{
    /// <summary>Renew this long before expiry, so a request never leaves with a token that dies on the way.</summary>
    private static readonly TimeSpan RenewAhead = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan RefreshTimeout = TimeSpan.FromSeconds(60);

    private readonly AccountPool _pool;
    private readonly Lock _gate = new();
    private State _state;
    private Task<AccountSecret>? _pending;

    private sealed record State(string Label, AccountSecret Secret, string? DeadReason);

    internal UserAccount(AccountPool pool, UpstreamLogin row, AccountSecret secret)
    {
        _pool = pool;
        Id = row.Id;
        UserId = row.UserId;
        Provider = row.Provider;
        _state = new State(row.Label, secret, row.Status == UpstreamLoginStatus.Dead ? row.LastError ?? "marked dead" : null);
    }

    public long Id { get; }

    public long UserId { get; }

    public string Provider { get; }

    public string Label => Volatile.Read(ref _state).Label;

    public bool IsDead => Volatile.Read(ref _state).DeadReason is not null;

    public string Kind => Volatile.Read(ref _state).Secret.Kind;

    public override string ToString() => $"{Provider} login #{Id} '{Label}' of user {UserId}";

    public ValueTask<AccountSecret> GetSecretAsync(bool forceRefresh, CancellationToken ct)
    {
        var state = Volatile.Read(ref _state);
        if (state.DeadReason is { } reason) throw Dead(state.Label, reason);
        if (!forceRefresh && !NeedsRenewal(state.Secret)) return ValueTask.FromResult(state.Secret);
        if (state.Secret.Kind != AccountSecret.OAuthKind || string.IsNullOrEmpty(state.Secret.RefreshToken))
        {
            // Keys do not expire on a clock; a refused key is reported by the upstream call itself.
            return ValueTask.FromResult(state.Secret);
        }
        return new ValueTask<AccountSecret>(RenewAsync(state.Secret, ct));
    }

    private bool NeedsRenewal(AccountSecret secret)
        => secret.Kind == AccountSecret.OAuthKind && (string.IsNullOrEmpty(secret.AccessToken) || secret.ExpiresAt is { } at && at - _pool.Time.GetUtcNow() < RenewAhead);

    private async Task<AccountSecret> RenewAsync(AccountSecret seen, CancellationToken ct)
    {
        Task<AccountSecret> work;
        lock (_gate)
        {
            var current = _state.Secret;
            // Someone renewed it since this caller looked: use theirs rather than spend the refresh token again.
            if (!ReferenceEquals(current, seen) && !NeedsRenewal(current)) return current;
            if (_pending is null || _pending.IsCompleted) _pending = Task.Run(() => RenewCoreAsync(current));
            work = _pending;
        }
        return await work.WaitAsync(ct);
    }

    private async Task<AccountSecret> RenewCoreAsync(AccountSecret current)
    {
        var label = Label;
        // Another instance may have renewed it already: refresh tokens often rotate, and spending a spent one kills the sign-in.
        try
        {
            var stored = AccountSecret.Parse(await _pool.Store.UpstreamLogins.ReadSecretAsync(Id));
            if (stored.ExpiresAt > current.ExpiresAt && !NeedsRenewal(stored))
            {
                Swap(stored);
                return stored;
            }
        }
        catch (UpstreamLoginNotFoundException)
        {
            throw new GatewayException(ErrorKind.UpstreamLogin, $"The {Provider} login '{label}' was removed.");
        }
        catch (Exception e) when (e is not OperationCanceledException and not GatewayException)
        {
            _pool.Log.LogWarning("Could not re-read {Login} before renewing it ({Error}); renewing the copy in memory", this, e.Message);
        }

        if (_pool.RefresherFor(Provider) is not { } refresher)
            throw new GatewayException(ErrorKind.UpstreamLogin, $"The {Provider} sign-in '{label}' has expired and this gateway cannot renew {Provider} sign-ins; sign in again.");
        AccountSecret renewed;
        try
        {
            using var timeout = new CancellationTokenSource(RefreshTimeout);
            renewed = await refresher.RefreshAsync(current, timeout.Token);
        }
        catch (GatewayException e) when (e.Kind == ErrorKind.UpstreamLogin)
        {
            await MarkDeadAsync(e.Message);
            throw Dead(label, e.Message);
        }
        Swap(renewed);
        try
        {
            await _pool.Store.UpstreamLogins.UpdateSecretAsync(Id, renewed.Serialize());
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The token in memory works; another instance renews on its own if it must.
            _pool.Log.LogWarning("Could not write the renewed {Login} back to the database: {Error}", this, e.Message);
        }
        _pool.Log.LogInformation("{Login} renewed; expires {ExpiresAt:O}", this, renewed.ExpiresAt);
        return renewed;
    }

    private void Swap(AccountSecret secret)
    {
        lock (_gate) Volatile.Write(ref _state, _state with { Secret = secret });
    }

    /// <summary>The upstream refused this login's credential outright: it is dead until connected anew.</summary>
    public Task MarkRefusedAsync(string reason) => MarkDeadAsync("refused by the upstream: " + reason);

    private async Task MarkDeadAsync(string reason)
    {
        lock (_gate) Volatile.Write(ref _state, _state with { DeadReason = reason });
        await UserLogins.RecordDeadAsync(_pool.Store, _pool.Log, this, Id, reason);
    }

    private GatewayException Dead(string label, string reason) => new(ErrorKind.UpstreamLogin,
        $"Your {Provider} login '{label}' needs a fresh sign-in ({reason}). Connect it again with `gapura login {Provider} --user <your email>`.");

    /// <summary>
    /// Takes the database's view after a change (relabel, new secret, another instance's renewal or dead mark).
    /// A secret is taken unless ours is a newer renewal of the same sign-in, so a racing change never rolls back.
    /// </summary>
    internal void Update(UpstreamLogin row, AccountSecret stored)
    {
        lock (_gate)
        {
            var current = _state;
            var next = current with { Label = row.Label };
            var sameSignIn = stored.Kind == current.Secret.Kind && stored.Kind == AccountSecret.OAuthKind;
            if (!sameSignIn || !(current.Secret.ExpiresAt > stored.ExpiresAt)) next = next with { Secret = stored };
            next = row.Status == UpstreamLoginStatus.Dead
                ? next with { DeadReason = row.LastError ?? "marked dead" }
                : next with { DeadReason = null };
            Volatile.Write(ref _state, next);
        }
    }
}
