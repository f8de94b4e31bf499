using System.Runtime.CompilerServices;
using Gapura.Conversations;
using Gapura.Providers;
using Gapura.Routing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gapura.Tests.Providers;

/// <summary>The fallback rules of <see cref="ProviderChain"/>, over providers scripted at the canonical-event level.</summary>
public class ProviderChainTests
{
    private static readonly ChatRequest Request = new() { Model = "m", Messages = [Message.Text(Role.User, "hi")], MaxTokens = 999_999 };

    [Fact]
    public async Task Falls_back_before_the_first_event_and_names_who_answered()
    {
        var a = new ScriptedProvider("a", new GatewayException(ErrorKind.RateLimited, "slow down", retryAfter: TimeSpan.FromSeconds(20)));
        var b = new ScriptedProvider("b", null, new TextDelta("from b"));
        var chain = Chain(a, b);
        var context = new ChatContext();

        var events = await Collect(chain.StreamAsync(Request, [Model("a"), Model("b")], context, CancellationToken.None));

        Assert.Equal("from b", ((TextDelta)events[0]).Text);
        Assert.Equal("b", context.ResponseHeaders[ProviderChain.ProviderHeader]);
        Assert.Equal("b-model", context.ResponseHeaders[ProviderChain.ModelHeader]);
        Assert.Equal(1, a.Calls);
        // Each candidate gets max_tokens clamped to its own cap.
        Assert.Equal(1000, b.LastRequest!.MaxTokens);
    }

    [Fact]
    public async Task A_provider_that_failed_with_retry_after_is_tried_last_until_it_cools_down()
    {
        var time = new ManualTime();
        var a = new ScriptedProvider("a", new GatewayException(ErrorKind.QuotaExceeded, "spent", retryAfter: TimeSpan.FromMinutes(5)));
        var b = new ScriptedProvider("b", null, new TextDelta("ok"));
        var chain = Chain(time, a, b);
        await Collect(chain.StreamAsync(Request, [Model("a"), Model("b")], new ChatContext(), CancellationToken.None));

        Assert.Equal(["b", "a"], chain.Order([Model("a"), Model("b")]).Select(m => m.Model.Provider));
        time.Advance(TimeSpan.FromMinutes(6));
        Assert.Equal(["a", "b"], chain.Order([Model("a"), Model("b")]).Select(m => m.Model.Provider));
    }

    [Fact]
    public async Task Nothing_is_retried_after_the_first_event()
    {
        var a = new ScriptedProvider("a", null, new TextDelta("partial"), new GatewayException(ErrorKind.UpstreamUnavailable, "cut"));
        var b = new ScriptedProvider("b", null, new TextDelta("never"));
        var chain = Chain(a, b);
        var seen = new List<StreamEvent>();
        var error = await Assert.ThrowsAsync<GatewayException>(async () =>
        {
            await foreach (var e in chain.StreamAsync(Request, [Model("a"), Model("b")], new ChatContext(), CancellationToken.None)) seen.Add(e);
        });
        Assert.Equal("cut", error.Message);
        Assert.Single(seen);
        Assert.Equal(0, b.Calls);
    }

    [Fact]
    public async Task A_client_error_is_not_retried_elsewhere_and_the_last_candidates_error_reaches_the_caller()
    {
        var bad = new ScriptedProvider("a", GatewayException.BadRequest("messages: bad"));
        var b = new ScriptedProvider("b", null, new TextDelta("never"));
        await Assert.ThrowsAsync<GatewayException>(() => Collect(Chain(bad, b).StreamAsync(Request, [Model("a"), Model("b")], new ChatContext(), CancellationToken.None)));
        Assert.Equal(0, b.Calls);

        var down1 = new ScriptedProvider("a", new GatewayException(ErrorKind.UpstreamUnavailable, "a down"));
        var down2 = new ScriptedProvider("b", new GatewayException(ErrorKind.UpstreamUnavailable, "b down"));
        var last = await Assert.ThrowsAsync<GatewayException>(() => Collect(Chain(down1, down2).StreamAsync(Request, [Model("a"), Model("b")], new ChatContext(), CancellationToken.None)));
        Assert.Equal("b down", last.Message);
    }

    [Fact]
    public async Task Headers_of_a_failed_attempt_do_not_describe_the_answer()
    {
        var a = new ScriptedProvider("a", new GatewayException(ErrorKind.UpstreamLogin, "dead login")) { SetsLogin = "work" };
        var b = new ScriptedProvider("b", null, new TextDelta("ok"));
        var context = new ChatContext();
        await Collect(Chain(a, b).StreamAsync(Request, [Model("a"), Model("b")], context, CancellationToken.None));
        Assert.Equal("b", context.ResponseHeaders[ProviderChain.ProviderHeader]);
        Assert.False(context.ResponseHeaders.ContainsKey(ProviderChain.LoginHeader));
    }

    private sealed class ManualTime : TimeProvider
    {
        private DateTimeOffset _now = DateTimeOffset.UnixEpoch;
        public override DateTimeOffset GetUtcNow() => _now;
        public void Advance(TimeSpan by) => _now += by;
    }

    private static ProviderChain Chain(params ScriptedProvider[] providers) => Chain(TimeProvider.System, providers);

    private static ProviderChain Chain(TimeProvider time, params ScriptedProvider[] providers) => new(providers, NullLogger<ProviderChain>.Instance, time);

    private static ResolvedModel Model(string provider) => new("m", new ModelInfo($"{provider}-model", provider, 200_000, 1000, provider));

    private static async Task<List<StreamEvent>> Collect(IAsyncEnumerable<StreamEvent> events)
    {
        var list = new List<StreamEvent>();
        await foreach (var e in events) list.Add(e);
        return list;
    }

    /// <summary>Fails before its first event with <c>failFirst</c>, or yields its script (an exception in it is thrown there).</summary>
    private sealed class ScriptedProvider(string name, GatewayException? failFirst, params object[] script) : IChatProvider
    {
        public int Calls;
        public ChatRequest? LastRequest;
        public string? SetsLogin { get; init; }

        public string Name => name;

        public async IAsyncEnumerable<StreamEvent> StreamAsync(ChatRequest request, ResolvedModel model, ChatContext context, [EnumeratorCancellation] CancellationToken ct)
        {
            Calls++;
            LastRequest = request;
            if (SetsLogin is not null) context.ResponseHeaders[ProviderChain.LoginHeader] = SetsLogin;
            await Task.Yield();
            if (failFirst is not null) throw failFirst;
            foreach (var step in script)
            {
                if (step is GatewayException e) throw e;
                yield return (StreamEvent)step;
            }
            yield return new MessageEnd(StopReason.EndTurn, Usage.Zero);
        }
    }
}
