using Gapura.Conversations;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Kiro.Auth;

/// <summary>The outcome of one device-grant poll: the login once approved, else whether to slow down.</summary>
internal readonly record struct KiroDeviceStep(KiroCredential? Login, bool SlowDown)
{
    public override string ToString() => Login is null ? (SlowDown ? "slow_down" : "pending") : "approved";
}

/// <summary>
/// <c>gapura login kiro</c>: the AWS SSO OIDC device flow (kiro.md §2) against <c>Kiro:StartUrl</c>
/// (Builder ID by default, an Identity Center portal otherwise). The login lands in Gapura's own store,
/// readable by the owner only, and is found there by <see cref="KiroCredentialStore"/>.
/// </summary>
internal sealed class KiroDeviceLogin
{
    public const string ClientName = "Gapura";
    private static readonly TimeSpan SlowDownStep = TimeSpan.FromSeconds(5);

    private readonly KiroOptions _options;
    private readonly KiroAuthClient _client;
    private readonly KiroCredentialStore _store;
    private readonly TimeProvider _time;
    private readonly Func<TimeSpan, CancellationToken, Task> _delay;

    /// <param name="delay">Waits between polls; tests pass one that records and returns at once.</param>
    public KiroDeviceLogin(IOptions<KiroOptions> options, KiroAuthClient client, KiroCredentialStore store,
        TimeProvider? time = null, Func<TimeSpan, CancellationToken, Task>? delay = null)
    {
        _options = options.Value;
        _client = client;
        _store = store;
        _time = time ?? TimeProvider.System;
        _delay = delay ?? ((wait, ct) => Task.Delay(wait, _time, ct));
    }

    /// <summary>Registers a client and asks for a device code; show <see cref="KiroDeviceCode.VerificationUriComplete"/> and the user code.</summary>
    public Task<KiroDeviceCode> StartAsync(CancellationToken ct)
        => _client.StartDeviceAuthorizationAsync(ClientName, _options.StartUrl, ct);

    /// <summary>Polls until the user approves, then stores the login in Gapura's home-folder store and returns it.</summary>
    /// <exception cref="GatewayException">Authentication when the user refused or the code expired.</exception>
    public async Task<KiroCredential> CompleteAsync(KiroDeviceCode code, CancellationToken ct)
    {
        var login = await WaitForApprovalAsync(code, ct);
        return _store.SaveNewLogin(login, code.StartUrl, code.ClientSecretExpiresAt);
    }

    /// <summary>
    /// Polls until the user approves and returns the login without storing it, for callers that keep
    /// logins elsewhere (a user's login in the database). Its source is a placeholder until stored.
    /// </summary>
    public async Task<KiroCredential> WaitForApprovalAsync(KiroDeviceCode code, CancellationToken ct)
    {
        var interval = code.Interval;
        while (true)
        {
            if (_time.GetUtcNow() >= code.ExpiresAt) throw Expired();
            await _delay(interval, ct);
            var step = await PollOnceAsync(code, ct);
            if (step.Login is { } login) return login;
            if (step.SlowDown) interval += SlowDownStep;
        }
    }

    /// <summary>
    /// One poll of the device grant, for callers that poll at their own pace (the admin API answers each
    /// poll at once). Pending: <see cref="KiroDeviceStep.Login"/> is null, and <see cref="KiroDeviceStep.SlowDown"/>
    /// says the service wants five more seconds between polls (RFC 8628 §3.5) for the rest of the flow.
    /// </summary>
    /// <exception cref="GatewayException">UpstreamLogin when the user refused or the code expired.</exception>
    public async Task<KiroDeviceStep> PollOnceAsync(KiroDeviceCode code, CancellationToken ct)
    {
        if (_time.GetUtcNow() >= code.ExpiresAt) throw Expired();
        var poll = await _client.PollDeviceTokenAsync(code, ct);
        switch (poll.Error)
        {
            case null:
                return new KiroDeviceStep(new KiroCredential(poll.AccessToken!, poll.RefreshToken!, poll.ExpiresAt, NullIfEmpty(_options.ProfileArn), _options.Region, "IdC",
                    code.ClientId, code.ClientSecret, new KiroCredentialSource(KiroCredentialSourceKind.GapuraStore, _store.GapuraStorePath)), false);
            case "authorization_pending":
                return new KiroDeviceStep(null, false);
            case "slow_down":
                return new KiroDeviceStep(null, true);
            case "expired_token":
                throw Expired();
            case "access_denied":
                throw new GatewayException(ErrorKind.UpstreamLogin, "The sign-in was denied in the browser.");
            default:
                throw new GatewayException(ErrorKind.UpstreamLogin, $"AWS SSO OIDC refused the device login: {poll.Error}.");
        }
    }

    private static GatewayException Expired()
        => new(ErrorKind.UpstreamLogin, "The sign-in code expired before it was approved. Start the sign-in again.");

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
