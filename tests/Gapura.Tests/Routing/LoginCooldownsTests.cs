using Gapura.Conversations;
using Gapura.Providers;
using Gapura.Providers.Accounts;
using Gapura.Routing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gapura.Tests.Routing;

/// <summary>An account that failed for a reason of its own rests for the upstream's Retry-After: tried last, not never.</summary>
public class LoginCooldownsTests
{
    private sealed class Clock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    /// <summary>A stored login: its id names it on every instance.</summary>
    private sealed record Account(string Name, long Id) : IStoredUpstreamLogin;

    private static readonly Account A = new("a", 1), B = new("b", 2), C = new("c", 3);

    private static IReadOnlyList<LoginCandidate<Account>> Candidates(params Account[] accounts)
        => [.. accounts.Select(a => new LoginCandidate<Account>(a.Name, a, false))];

    /// <summary>Sends with the candidates in turn; <paramref name="failing"/> answer with <paramref name="error"/>. Returns who was asked, in order.</summary>
    private static async Task<(string Answered, List<string> Asked)> SendAsync(LoginCooldowns cooldowns, IReadOnlyList<LoginCandidate<Account>> candidates,
        Func<GatewayException> error, params Account[] failing)
    {
        var asked = new List<string>();
        var context = new ChatContext();
        var answered = await AccountFallback.FirstAsync("test", candidates, (account, _) =>
        {
            asked.Add(account.Name);
            return failing.Contains(account) ? Task.FromException<string>(error()) : Task.FromResult(account.Name);
        }, context, NullLogger.Instance, default, cooldowns);
        Assert.Equal(answered, context.ResponseHeaders[ProviderChain.LoginHeader]);
        return (answered, asked);
    }

    private static GatewayException Throttled(TimeSpan? retryAfter = null) => new(ErrorKind.RateLimited, "slow down", 429, retryAfter);

    [Fact]
    public async Task A_throttled_account_is_asked_last_for_its_retry_after_then_first_again()
    {
        var clock = new Clock(DateTimeOffset.Parse("2026-11-22T10:00:00Z"));
        var cooldowns = new LoginCooldowns(clock);

        var first = await SendAsync(cooldowns, Candidates(A, B, C), () => Throttled(TimeSpan.FromSeconds(20)), A);
        Assert.Equal("b", first.Answered);
        Assert.Equal(["a", "b"], first.Asked);

        clock.Now += TimeSpan.FromSeconds(19);
        var resting = await SendAsync(cooldowns, Candidates(A, B, C), () => Throttled());
        Assert.Equal("b", resting.Answered);
        Assert.Equal(["b"], resting.Asked);
        Assert.Equal(["b", "c", "a"], cooldowns.Order("test", Candidates(A, B, C)).Select(c => c.Label));

        clock.Now += TimeSpan.FromSeconds(2);
        Assert.Equal(["a", "b", "c"], cooldowns.Order("test", Candidates(A, B, C)).Select(c => c.Label));
    }

    [Fact]
    public async Task Without_a_retry_after_the_rest_is_thirty_seconds_and_when_all_rest_the_order_stays()
    {
        var clock = new Clock(DateTimeOffset.Parse("2026-11-22T10:00:00Z"));
        var cooldowns = new LoginCooldowns(clock);
        var e = await Assert.ThrowsAsync<GatewayException>(() => SendAsync(cooldowns, Candidates(A, B), () => Throttled(), A, B));
        Assert.Equal(ErrorKind.RateLimited, e.Kind);
        Assert.True(cooldowns.IsResting("test", A.Id) && cooldowns.IsResting("test", B.Id));
        Assert.Equal(["a", "b"], cooldowns.Order("test", Candidates(A, B)).Select(c => c.Label));
        clock.Now += TimeSpan.FromSeconds(29);
        Assert.True(cooldowns.IsResting("test", A.Id));
        clock.Now += TimeSpan.FromSeconds(2);
        Assert.False(cooldowns.IsResting("test", A.Id));
    }

    [Fact]
    public async Task A_refused_login_moves_on_but_does_not_rest_so_a_fresh_sign_in_is_used_at_once()
    {
        var cooldowns = new LoginCooldowns(new Clock(DateTimeOffset.Parse("2026-11-22T10:00:00Z")));
        var moved = await SendAsync(cooldowns, Candidates(A, B), () => new GatewayException(ErrorKind.UpstreamLogin, "refused", 503), A);
        Assert.Equal("b", moved.Answered);
        Assert.False(cooldowns.IsResting("test", A.Id));
    }

    [Fact]
    public async Task A_failure_of_the_request_itself_moves_on_to_nobody_and_rests_nobody()
    {
        var cooldowns = new LoginCooldowns(new Clock(DateTimeOffset.Parse("2026-11-22T10:00:00Z")));
        var e = await Assert.ThrowsAsync<GatewayException>(() => SendAsync(cooldowns, Candidates(A, B), () => GatewayException.BadRequest("bad field"), A));
        Assert.Equal(400, e.Status);
        Assert.False(cooldowns.IsResting("test", A.Id));
    }
}
