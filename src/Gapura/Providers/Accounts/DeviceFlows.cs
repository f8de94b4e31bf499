using System.Collections.Concurrent;
using System.Security.Cryptography;
using Gapura.Conversations;

namespace Gapura.Providers.Accounts;

/// <summary>What a user is shown to approve a device sign-in (RFC 8628), whichever service issued the code.</summary>
internal interface IDeviceCode
{
    string UserCode { get; }
    string VerificationUri { get; }

    /// <summary>The address with the code filled in, where the service gives one (else <see cref="VerificationUri"/>).</summary>
    string VerificationUriComplete { get; }

    DateTimeOffset ExpiresAt { get; }
    TimeSpan Interval { get; }
}

/// <summary>A device sign-in started through the admin API, waiting for the user to approve it.</summary>
internal sealed class DeviceFlow<TCode>(string id, long userId, string? label, TCode code, DateTimeOffset nextPollAt) where TCode : IDeviceCode
{
    public string Id { get; } = id;
    public long UserId { get; } = userId;
    public string? Label { get; } = label;
    public TCode Code { get; } = code;
    public TimeSpan Interval { get; set; } = code.Interval;
    public DateTimeOffset NextPollAt { get; set; } = nextPollAt;
    public int Polling;

    public override string ToString() => $"device sign-in {Id} for user {UserId}";
}

/// <summary>
/// Device sign-ins of the admin API (Kiro's AWS SSO, GitHub's for Copilot): the browser-side client starts one,
/// shows the code, and polls; each poll asks the service at most once per interval (a faster client gets
/// "pending" without an upstream call, so the service never answers slow_down because of it), one poll per
/// flow at a time (two would redeem the code twice). Flows live in this instance's memory for the few minutes
/// a code is valid — behind a load balancer, poll the instance that started the flow.
/// </summary>
/// <param name="start">Asks the service for a code.</param>
/// <param name="pollOnce">One poll: the result once approved, else null and whether the service asked to slow down.
/// Throws <see cref="GatewayException"/> UpstreamLogin when the user refused or the code expired.</param>
internal class DeviceFlows<TCode, TResult>(
    Func<CancellationToken, Task<TCode>> start,
    Func<TCode, CancellationToken, Task<(TResult? Result, bool SlowDown)>> pollOnce,
    TimeProvider time) where TCode : IDeviceCode where TResult : class
{
    public const int MaxFlowsPerUser = 5;

    /// <summary>RFC 8628 §3.5: after slow_down, poll 5 seconds less often from then on.</summary>
    public static TimeSpan SlowedDown(TimeSpan interval) => interval + TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, DeviceFlow<TCode>> _flows = new(StringComparer.Ordinal);

    public async Task<DeviceFlow<TCode>> StartAsync(long userId, string? label, CancellationToken ct)
    {
        Sweep();
        if (_flows.Values.Count(f => f.UserId == userId) >= MaxFlowsPerUser)
            throw new GatewayException(ErrorKind.RateLimited, $"There are already {MaxFlowsPerUser} sign-ins waiting for this user; finish or let them expire first.");
        var code = await start(ct);
        var flow = new DeviceFlow<TCode>(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), userId, label, code, time.GetUtcNow() + code.Interval);
        _flows[flow.Id] = flow;
        return flow;
    }

    public DeviceFlow<TCode>? Find(long userId, string flowId)
        => _flows.TryGetValue(flowId, out var flow) && flow.UserId == userId && flow.Code.ExpiresAt > time.GetUtcNow() ? flow : null;

    /// <summary>One poll: the result once approved (the flow is then finished), else null while pending.</summary>
    /// <exception cref="GatewayException">UpstreamLogin when the user refused or the code expired; the flow is over.</exception>
    public async Task<TResult?> PollAsync(DeviceFlow<TCode> flow, CancellationToken ct)
    {
        if (time.GetUtcNow() < flow.NextPollAt) return null;
        if (Interlocked.Exchange(ref flow.Polling, 1) == 1) return null;
        try
        {
            var (result, slowDown) = await pollOnce(flow.Code, ct);
            if (slowDown) flow.Interval = SlowedDown(flow.Interval);
            flow.NextPollAt = time.GetUtcNow() + flow.Interval;
            if (result is not null) _flows.TryRemove(flow.Id, out _);
            return result;
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
