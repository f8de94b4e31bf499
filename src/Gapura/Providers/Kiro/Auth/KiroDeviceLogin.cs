using Gapura.Conversations;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Kiro.Auth;

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

    /// <summary>Polls until the user approves, then stores the login and returns it.</summary>
    /// <exception cref="GatewayException">Authentication when the user refused or the code expired.</exception>
    public async Task<KiroCredential> CompleteAsync(KiroDeviceCode code, CancellationToken ct)
    {
        var interval = code.Interval;
        while (true)
        {
            if (_time.GetUtcNow() >= code.ExpiresAt)
                throw new GatewayException(ErrorKind.UpstreamLogin, "The sign-in code expired before it was approved. Run `gapura login kiro` again.");
            await _delay(interval, ct);
            var poll = await _client.PollDeviceTokenAsync(code, ct);
            switch (poll.Error)
            {
                case null:
                    var login = new KiroCredential(poll.AccessToken!, poll.RefreshToken!, poll.ExpiresAt, NullIfEmpty(_options.ProfileArn), _options.Region, "IdC",
                        code.ClientId, code.ClientSecret, new KiroCredentialSource(KiroCredentialSourceKind.GapuraStore, _store.GapuraStorePath));
                    return _store.SaveNewLogin(login, code.StartUrl, code.ClientSecretExpiresAt);
                case "authorization_pending":
                    continue;
                case "slow_down":
                    // RFC 8628 §3.5: every slow_down adds five seconds to the interval for the rest of the flow.
                    interval += SlowDownStep;
                    continue;
                case "expired_token":
                    throw new GatewayException(ErrorKind.UpstreamLogin, "The sign-in code expired before it was approved. Run `gapura login kiro` again.");
                case "access_denied":
                    throw new GatewayException(ErrorKind.UpstreamLogin, "The sign-in was denied in the browser.");
                default:
                    throw new GatewayException(ErrorKind.UpstreamLogin, $"AWS SSO OIDC refused the device login: {poll.Error}.");
            }
        }
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
