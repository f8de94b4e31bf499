using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Gapura.Conversations;
using Gapura.Providers.Accounts;
using Gapura.Storage.Shared;
using Gapura.Tests.Storage;

namespace Gapura.Tests.Providers.Accounts;

/// <summary>
/// The admin API's device sign-ins, whichever service runs them: paced polls, a cap per user, one poll at a time — kept
/// in a real (SQLite) shared store, so a second <see cref="DeviceFlows{TCode,TResult}"/> over the same database, as another
/// instance has, sees and polls the same flows.
/// </summary>
public class DeviceFlowsTests : StoreTestBase
{
    private protected override IBackend CreateBackend() => new SqliteBackend();

    public sealed record Code(string UserCode, DateTimeOffset ExpiresAt, TimeSpan Interval) : IDeviceCode
    {
        public string VerificationUri => "https://example.test/device";
        public string VerificationUriComplete => VerificationUri + "?code=" + UserCode;
    }

    private static readonly JsonTypeInfo<Code> CodeJson = (JsonTypeInfo<Code>)JsonSerializerOptions.Default.GetTypeInfo(typeof(Code));

    /// <summary>Flows over a fake service whose polls answer from <paramref name="answers"/> in turn, counting them.</summary>
    private (DeviceFlows<Code, string> Flows, Func<int> Polls) Flows(params Func<(string?, bool)>[] answers)
    {
        var polls = 0;
        var flows = new DeviceFlows<Code, string>("device:test",
            _ => Task.FromResult(new Code("ABCD-1234", Time.Now.AddMinutes(10), TimeSpan.FromSeconds(5))),
            (_, _) => Task.FromResult(answers[Math.Min(Interlocked.Increment(ref polls) - 1, answers.Length - 1)]()),
            CodeJson, new SignInFlowStore(new SqlSharedState(Db), Box, Time));
        return (flows, () => polls);
    }

    [Fact]
    public async Task Polls_faster_than_the_interval_are_answered_pending_without_asking_the_service_and_slow_down_widens_it()
    {
        var (flows, polls) = Flows(() => (null, true), () => (null, false), () => ("token-1", false));
        var started = await flows.StartAsync(7, "work", default);

        Assert.Null(await flows.PollAsync((await flows.FindAsync(7, started.Id, default))!, default));
        Assert.Equal(0, polls());
        Time.Advance(TimeSpan.FromSeconds(5));
        var flow = (await flows.FindAsync(7, started.Id, default))!;
        Assert.Null(await flows.PollAsync(flow, default)); // slow_down: 5 s more from now on
        Assert.Equal((1, TimeSpan.FromSeconds(10)), (polls(), flow.Interval));
        Assert.Equal(TimeSpan.FromSeconds(10), (await flows.FindAsync(7, started.Id, default))!.Interval); // kept for every instance
        Time.Advance(TimeSpan.FromSeconds(9));
        Assert.Null(await flows.PollAsync((await flows.FindAsync(7, started.Id, default))!, default));
        Assert.Equal(1, polls());
        Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(await flows.PollAsync((await flows.FindAsync(7, started.Id, default))!, default));
        Time.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal("token-1", await flows.PollAsync((await flows.FindAsync(7, started.Id, default))!, default));
        Assert.Null(await flows.FindAsync(7, started.Id, default)); // finished
    }

    [Fact]
    public async Task Two_instances_polling_the_same_due_flow_ask_the_service_once()
    {
        var (a, polls) = Flows(() => (null, false));
        var started = await a.StartAsync(7, null, default);
        Time.Advance(TimeSpan.FromSeconds(5));
        // Both read the flow as due, as two instances would; only the one that claims the poll asks the service.
        var seenByA = (await a.FindAsync(7, started.Id, default))!;
        var seenByB = (await a.FindAsync(7, started.Id, default))!;
        Assert.Null(await a.PollAsync(seenByA, default));
        Assert.Null(await a.PollAsync(seenByB, default));
        Assert.Equal(1, polls());
    }

    [Fact]
    public async Task A_flow_belongs_to_its_user_expires_and_a_refusal_ends_it()
    {
        var (flows, _) = Flows(() => throw new GatewayException(ErrorKind.UpstreamLogin, "access denied"));
        var flow = await flows.StartAsync(7, null, default);
        Assert.Null(await flows.FindAsync(8, flow.Id, default));
        Assert.Equal(flow.Id, (await flows.FindAsync(7, flow.Id, default))?.Id);

        Time.Advance(TimeSpan.FromSeconds(5));
        await Assert.ThrowsAsync<GatewayException>(async () => await flows.PollAsync((await flows.FindAsync(7, flow.Id, default))!, default));
        Assert.Null(await flows.FindAsync(7, flow.Id, default));

        var late = await flows.StartAsync(7, null, default);
        Time.Advance(TimeSpan.FromMinutes(11));
        Assert.Null(await flows.FindAsync(7, late.Id, default));
        // Expired flows are swept when the next one starts.
        await flows.StartAsync(9, null, default);
        Assert.Equal(1, await CountAsync("SELECT count(*) FROM sign_in_flows"));
    }

    [Fact]
    public async Task A_user_has_at_most_five_sign_ins_waiting()
    {
        var (flows, _) = Flows(() => (null, false));
        for (var i = 0; i < DeviceFlows<Code, string>.MaxFlowsPerUser; i++) await flows.StartAsync(7, null, default);
        var e = await Assert.ThrowsAsync<GatewayException>(() => flows.StartAsync(7, null, default));
        Assert.Equal(ErrorKind.RateLimited, e.Kind);
        await flows.StartAsync(8, null, default); // another user is not affected
    }

    [Fact]
    public async Task The_device_code_is_sealed_in_the_store()
    {
        var (flows, _) = Flows(() => (null, false));
        var flow = await flows.StartAsync(7, "work", default);
        var stored = await ScalarTextAsync("SELECT state_enc AS v FROM sign_in_flows WHERE id = @id", ("id", flow.Id));
        Assert.StartsWith("gp1:", stored);
        Assert.DoesNotContain("ABCD-1234", stored);
    }
}
