using System.Text.Json.Serialization.Metadata;
using Gapura.Conversations;
using Gapura.Storage.Shared;

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

/// <summary>A device sign-in started through the admin API, waiting for the user to approve it (as read from the shared store).</summary>
internal sealed class DeviceFlow<TCode>(string id, long userId, string? label, TCode code, TimeSpan interval, DateTimeOffset nextPollAt) where TCode : IDeviceCode
{
    public string Id { get; } = id;
    public long UserId { get; } = userId;
    public string? Label { get; } = label;
    public TCode Code { get; } = code;
    public TimeSpan Interval { get; set; } = interval;
    public DateTimeOffset NextPollAt { get; set; } = nextPollAt;

    public override string ToString() => $"device sign-in {Id} for user {UserId}";
}

/// <summary>
/// Device sign-ins of the admin API (Kiro's AWS SSO, GitHub's for Copilot): the browser-side client starts one,
/// shows the code, and polls; each poll asks the service at most once per interval (a faster client gets
/// "pending" without an upstream call, so the service never answers slow_down because of it), one poll per
/// flow at a time (two would redeem the code twice). Flows live in the shared store (<see cref="SignInFlowStore"/>)
/// for the few minutes a code is valid, so behind a load balancer any instance answers a poll: the instance that
/// polls claims the flow's next poll in the store first, so two instances never poll the service at once either.
/// </summary>
/// <param name="kind">Names the service in the store (<c>device:kiro</c>): a flow id is only polled through its own endpoint.</param>
/// <param name="start">Asks the service for a code.</param>
/// <param name="pollOnce">One poll: the result once approved, else null and whether the service asked to slow down.
/// Throws <see cref="GatewayException"/> UpstreamLogin when the user refused or the code expired.</param>
/// <param name="json">How the code is kept (sealed) in the store.</param>
internal class DeviceFlows<TCode, TResult>(
    string kind,
    Func<CancellationToken, Task<TCode>> start,
    Func<TCode, CancellationToken, Task<(TResult? Result, bool SlowDown)>> pollOnce,
    JsonTypeInfo<TCode> json,
    SignInFlowStore flows) where TCode : IDeviceCode where TResult : class
{
    public const int MaxFlowsPerUser = 5;

    /// <summary>How long a poll holds the flow: past it (the polling instance died) another instance may poll.</summary>
    private static readonly TimeSpan PollHold = TimeSpan.FromSeconds(60);

    /// <summary>RFC 8628 §3.5: after slow_down, poll 5 seconds less often from then on.</summary>
    public static TimeSpan SlowedDown(TimeSpan interval) => interval + TimeSpan.FromSeconds(5);

    public async Task<DeviceFlow<TCode>> StartAsync(long userId, string? label, CancellationToken ct)
    {
        var code = await start(ct);
        var flow = new DeviceFlow<TCode>(SignInFlowStore.NewId(), userId, label, code, code.Interval, flows.Time.GetUtcNow() + code.Interval);
        if (!await flows.AddAsync(flow.Id, kind, userId, label, code, json, code.ExpiresAt, flow.NextPollAt, flow.Interval, MaxFlowsPerUser, ct))
            throw new GatewayException(ErrorKind.RateLimited, $"There are already {MaxFlowsPerUser} sign-ins waiting for this user; finish or let them expire first.");
        return flow;
    }

    /// <summary>The user's waiting flow, whichever instance started it; null when it is another user's, finished or expired.</summary>
    public async Task<DeviceFlow<TCode>?> FindAsync(long userId, string flowId, CancellationToken ct)
    {
        if (await flows.FindAsync(flowId, kind, userId, json, ct) is not var (row, code) || code.ExpiresAt <= flows.Time.GetUtcNow()) return null;
        return new DeviceFlow<TCode>(row.Id, row.UserId, row.Label, code, row.Interval, row.NextPollAt);
    }

    /// <summary>One poll: the result once approved (the flow is then finished), else null while pending.</summary>
    /// <exception cref="GatewayException">UpstreamLogin when the user refused or the code expired; the flow is over.</exception>
    public async Task<TResult?> PollAsync(DeviceFlow<TCode> flow, CancellationToken ct)
    {
        var now = flows.Time.GetUtcNow();
        if (now < flow.NextPollAt || !await flows.ClaimPollAsync(flow.Id, now + PollHold, ct)) return null;
        try
        {
            var (result, slowDown) = await pollOnce(flow.Code, ct);
            if (slowDown) flow.Interval = SlowedDown(flow.Interval);
            flow.NextPollAt = flows.Time.GetUtcNow() + flow.Interval;
            if (result is not null) await flows.RemoveAsync(flow.Id, CancellationToken.None);
            else await flows.SetNextPollAsync(flow.Id, flow.NextPollAt, flow.Interval, CancellationToken.None);
            return result;
        }
        catch (GatewayException)
        {
            await flows.RemoveAsync(flow.Id, CancellationToken.None);
            throw;
        }
        catch
        {
            // The service did not answer (network, cancelled): the flow stays, polled again after the interval.
            await flows.SetNextPollAsync(flow.Id, flows.Time.GetUtcNow() + flow.Interval, flow.Interval, CancellationToken.None);
            throw;
        }
    }
}
