using Gapura.Conversations;
using Gapura.Providers.Accounts;

namespace Gapura.Tests.Providers.Accounts;

/// <summary>The admin API's device sign-ins, whichever service runs them: paced polls, a cap per user, one poll at a time.</summary>
public class DeviceFlowsTests
{
    private sealed class Clock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private sealed record Code(string UserCode, DateTimeOffset ExpiresAt, TimeSpan Interval) : IDeviceCode
    {
        public string VerificationUri => "https://example.test/device";
        public string VerificationUriComplete => VerificationUri + "?code=" + UserCode;
    }

    private static readonly DateTimeOffset Start = DateTimeOffset.Parse("2026-11-22T10:00:00Z");

    /// <summary>Flows over a fake service whose polls answer from <paramref name="answers"/> in turn, counting them.</summary>
    private static (DeviceFlows<Code, string> Flows, Func<int> Polls) Flows(Clock clock, params Func<(string?, bool)>[] answers)
    {
        var polls = 0;
        var flows = new DeviceFlows<Code, string>(
            _ => Task.FromResult(new Code("ABCD-1234", clock.Now.AddMinutes(10), TimeSpan.FromSeconds(5))),
            (_, _) => Task.FromResult(answers[Math.Min(Interlocked.Increment(ref polls) - 1, answers.Length - 1)]()),
            clock);
        return (flows, () => polls);
    }

    [Fact]
    public async Task Polls_faster_than_the_interval_are_answered_pending_without_asking_the_service_and_slow_down_widens_it()
    {
        var clock = new Clock(Start);
        var (flows, polls) = Flows(clock, () => (null, true), () => (null, false), () => ("token-1", false));
        var flow = await flows.StartAsync(7, "work", default);

        Assert.Null(await flows.PollAsync(flow, default));
        Assert.Equal(0, polls());
        clock.Now += TimeSpan.FromSeconds(5);
        Assert.Null(await flows.PollAsync(flow, default)); // slow_down: 5 s more from now on
        Assert.Equal((1, TimeSpan.FromSeconds(10)), (polls(), flow.Interval));
        clock.Now += TimeSpan.FromSeconds(9);
        Assert.Null(await flows.PollAsync(flow, default));
        Assert.Equal(1, polls());
        clock.Now += TimeSpan.FromSeconds(1);
        Assert.Null(await flows.PollAsync(flow, default));
        clock.Now += TimeSpan.FromSeconds(10);
        Assert.Equal("token-1", await flows.PollAsync(flow, default));
        Assert.Null(flows.Find(7, flow.Id)); // finished
    }

    [Fact]
    public async Task A_flow_belongs_to_its_user_expires_and_a_refusal_ends_it()
    {
        var clock = new Clock(Start);
        var (flows, _) = Flows(clock, () => throw new GatewayException(ErrorKind.UpstreamLogin, "access denied"));
        var flow = await flows.StartAsync(7, null, default);
        Assert.Null(flows.Find(8, flow.Id));
        Assert.Same(flow, flows.Find(7, flow.Id));

        clock.Now += TimeSpan.FromSeconds(5);
        await Assert.ThrowsAsync<GatewayException>(() => flows.PollAsync(flow, default));
        Assert.Null(flows.Find(7, flow.Id));

        var late = await flows.StartAsync(7, null, default);
        clock.Now += TimeSpan.FromMinutes(11);
        Assert.Null(flows.Find(7, late.Id));
    }

    [Fact]
    public async Task A_user_has_at_most_five_sign_ins_waiting()
    {
        var (flows, _) = Flows(new Clock(Start), () => (null, false));
        for (var i = 0; i < DeviceFlows<Code, string>.MaxFlowsPerUser; i++) await flows.StartAsync(7, null, default);
        var e = await Assert.ThrowsAsync<GatewayException>(() => flows.StartAsync(7, null, default));
        Assert.Equal(ErrorKind.RateLimited, e.Kind);
        await flows.StartAsync(8, null, default); // another user is not affected
    }
}
