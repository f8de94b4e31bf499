using System.Collections.Concurrent;
using System.Security.Cryptography;
using Gapura.Conversations;
using Gapura.Providers.Kiro.Auth;

namespace Gapura.Providers.Kiro.Logins;

/// <summary>A device sign-in started through the admin API, waiting for the user to approve it.</summary>
internal sealed class KiroDeviceFlow(string id, long userId, string? label, KiroDeviceCode code, DateTimeOffset nextPollAt)
{
    public string Id { get; } = id;
    public long UserId { get; } = userId;
    public string? Label { get; } = label;
    public KiroDeviceCode Code { get; } = code;
    public TimeSpan Interval { get; set; } = code.Interval;
    public DateTimeOffset NextPollAt { get; set; } = nextPollAt;
    public int Polling;

    public override string ToString() => $"Kiro device sign-in {Id} for user {UserId}";
}

/// <summary>
/// Device sign-ins of the admin API: the browser-side client starts one, shows the code, and polls; each
/// poll asks AWS SSO OIDC at most once per interval (a faster client gets "pending" without an upstream
/// call, so the service never answers slow_down because of it). Flows live in this instance's memory for
/// the few minutes a code is valid — behind a load balancer, poll the instance that started the flow.
/// </summary>
internal sealed class KiroDeviceFlows(KiroDeviceLogin login, TimeProvider time)
{
    public const int MaxFlowsPerUser = 5;

    private readonly ConcurrentDictionary<string, KiroDeviceFlow> _flows = new(StringComparer.Ordinal);

    public async Task<KiroDeviceFlow> StartAsync(long userId, string? label, CancellationToken ct)
    {
        Sweep();
        if (_flows.Values.Count(f => f.UserId == userId) >= MaxFlowsPerUser)
            throw new GatewayException(ErrorKind.RateLimited, $"There are already {MaxFlowsPerUser} sign-ins waiting for this user; finish or let them expire first.");
        var code = await login.StartAsync(ct);
        var flow = new KiroDeviceFlow(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), userId, label, code, time.GetUtcNow() + code.Interval);
        _flows[flow.Id] = flow;
        return flow;
    }

    public KiroDeviceFlow? Find(long userId, string flowId)
        => _flows.TryGetValue(flowId, out var flow) && flow.UserId == userId && flow.Code.ExpiresAt > time.GetUtcNow() ? flow : null;

    /// <summary>One poll: the login once approved (the flow is then finished), else null while pending.</summary>
    /// <exception cref="GatewayException">UpstreamLogin when the user refused or the code expired; the flow is over.</exception>
    public async Task<KiroCredential?> PollAsync(KiroDeviceFlow flow, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        if (now < flow.NextPollAt) return null;
        // One upstream poll per flow at a time: a second concurrent poll would redeem the code twice.
        if (Interlocked.Exchange(ref flow.Polling, 1) == 1) return null;
        try
        {
            var step = await login.PollOnceAsync(flow.Code, ct);
            if (step.SlowDown) flow.Interval = KiroDeviceLogin.SlowedDown(flow.Interval);
            flow.NextPollAt = time.GetUtcNow() + flow.Interval;
            if (step.Login is { } credential) _flows.TryRemove(flow.Id, out _);
            return step.Login;
        }
        catch (GatewayException)
        {
            _flows.TryRemove(flow.Id, out _);
            throw;
        }
        finally
        {
            Volatile.Write(ref flow.Polling, 0);
        }
    }

    private void Sweep()
    {
        var now = time.GetUtcNow();
        foreach (var (id, flow) in _flows)
            if (flow.Code.ExpiresAt <= now) _flows.TryRemove(id, out _);
    }
}
