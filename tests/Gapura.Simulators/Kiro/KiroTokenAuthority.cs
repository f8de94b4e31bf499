using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Gapura.Simulators.Kiro;

/// <summary>Which refresh path a login uses.</summary>
public enum KiroLoginKind
{
    /// <summary>Kiro desktop (Google/GitHub): refreshed at <c>POST /refreshToken</c>.</summary>
    Social,

    /// <summary>AWS SSO OIDC (Builder ID / IAM Identity Center): refreshed at <c>POST /token</c> with client credentials.</summary>
    Oidc,
}

/// <summary>A login minted by <see cref="KiroSimulator.IssueCredentials"/>.</summary>
public sealed record KiroIssuedCredentials(
    KiroLoginKind Kind,
    string AccessToken,
    string RefreshToken,
    DateTimeOffset ExpiresAt,
    string? ProfileArn,
    string? ClientId,
    string? ClientSecret,
    string Region)
{
    // Tests print records on failure; tokens stay out of that output too.
    public override string ToString() => $"{Kind} login, expires {ExpiresAt:O}";
}

/// <summary>The device-authorization state of one user code.</summary>
public enum KiroDeviceState
{
    Pending,
    Approved,
    Denied,
    Expired,
    Redeemed,
}

/// <summary>
/// The simulator's book of issued tokens, OIDC clients and device codes. Everything the simulated
/// endpoints accept must have been issued here, so a client cannot pass with a made-up token.
/// </summary>
internal sealed class KiroTokenAuthority(KiroSimulatorOptions options, TimeProvider time)
{
    private sealed record Client(string Secret, DateTimeOffset SecretExpiresAt);

    private sealed record Refresh(KiroLoginKind Kind, string? ClientId)
    {
        public bool Revoked { get; set; }
    }

    internal sealed class Device(string deviceCode, string userCode, string clientId, DateTimeOffset expiresAt)
    {
        public string DeviceCode { get; } = deviceCode;
        public string UserCode { get; } = userCode;
        public string ClientId { get; } = clientId;
        public DateTimeOffset ExpiresAt { get; } = expiresAt;
        public int Polls { get; set; }
        public KiroDeviceState State { get; set; }
    }

    private readonly ConcurrentDictionary<string, DateTimeOffset> _access = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Refresh> _refresh = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Client> _clients = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Device> _devices = new(StringComparer.Ordinal);
    private readonly object _deviceLock = new();

    public DateTimeOffset Now => time.GetUtcNow();

    public bool IsValidAccessToken(string? token)
        => token is not null && _access.TryGetValue(token, out var expires) && expires > Now;

    public (string AccessToken, DateTimeOffset ExpiresAt) MintAccess(TimeSpan? lifetime)
    {
        var token = "aoa" + Secret(96);
        var expires = Now + (lifetime ?? options.AccessTokenLifetime);
        _access[token] = expires;
        return (token, expires);
    }

    public string MintRefresh(KiroLoginKind kind, string? clientId)
    {
        var token = "aor" + Secret(160);
        _refresh[token] = new Refresh(kind, clientId);
        return token;
    }

    public (string ClientId, string ClientSecret, DateTimeOffset SecretExpiresAt) RegisterClient()
    {
        var id = Secret(22);
        var secret = "eyJraWQiOiJzaW0ifQ." + Secret(120);
        var expires = Now.AddDays(90);
        _clients[id] = new Client(secret, expires);
        return (id, secret, expires);
    }

    public bool IsValidClient(string? clientId, string? clientSecret)
        => clientId is not null && _clients.TryGetValue(clientId, out var client) && client.Secret == clientSecret && client.SecretExpiresAt > Now;

    /// <summary>Checks a refresh token for the given path; null when valid, else the OAuth error code.</summary>
    public string? CheckRefresh(string? token, KiroLoginKind kind, string? clientId)
    {
        if (token is null || !_refresh.TryGetValue(token, out var grant) || grant.Revoked) return "invalid_grant";
        if (grant.Kind != kind) return "invalid_grant";
        if (kind == KiroLoginKind.Oidc && grant.ClientId != clientId) return "invalid_grant";
        return null;
    }

    public bool Revoke(string refreshToken)
    {
        if (!_refresh.TryGetValue(refreshToken, out var grant)) return false;
        grant.Revoked = true;
        return true;
    }

    public void ExpireAccess(string accessToken)
    {
        if (_access.ContainsKey(accessToken)) _access[accessToken] = DateTimeOffset.MinValue;
    }

    public Device StartDevice(string clientId)
    {
        var userCode = $"{Letters(4)}-{Letters(4)}";
        var device = new Device(Secret(40), userCode, clientId, Now + options.DeviceCodeLifetime);
        _devices[device.DeviceCode] = device;
        return device;
    }

    public Device? FindDevice(string deviceCode) => _devices.TryGetValue(deviceCode, out var device) ? device : null;

    public Device? FindByUserCode(string userCode) => _devices.Values.FirstOrDefault(d => string.Equals(d.UserCode, userCode, StringComparison.OrdinalIgnoreCase));

    /// <summary>One poll of a device code: the OAuth error to answer, or null when tokens may be issued.</summary>
    public string? Poll(Device device)
    {
        lock (_deviceLock)
        {
            device.Polls++;
            if (device.State == KiroDeviceState.Pending && device.ExpiresAt <= Now) device.State = KiroDeviceState.Expired;
            switch (device.State)
            {
                case KiroDeviceState.Expired or KiroDeviceState.Redeemed:
                    return "expired_token";
                case KiroDeviceState.Denied:
                    return "access_denied";
                case KiroDeviceState.Approved:
                    device.State = KiroDeviceState.Redeemed;
                    return null;
            }
            if (options.SlowDownOnPolls.Contains(device.Polls)) return "slow_down";
            if (options.PollsUntilApproved > 0 && device.Polls > options.PollsUntilApproved)
            {
                device.State = KiroDeviceState.Redeemed;
                return null;
            }
            return "authorization_pending";
        }
    }

    public bool SetDeviceState(string userCode, KiroDeviceState state)
    {
        lock (_deviceLock)
        {
            var device = FindByUserCode(userCode);
            if (device is null || device.State != KiroDeviceState.Pending) return false;
            device.State = state;
            return true;
        }
    }

    private static string Secret(int length)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        return RandomNumberGenerator.GetString(alphabet, length);
    }

    private static string Letters(int length) => RandomNumberGenerator.GetString("BCDFGHJKLMNPQRSTVWXZ", length);
}
