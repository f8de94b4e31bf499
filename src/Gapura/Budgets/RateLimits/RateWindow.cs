namespace Gapura.Budgets.RateLimits;

/// <summary>Where an instant falls: its minute since the Unix epoch (UTC) and the milliseconds into that minute.</summary>
internal readonly record struct RateClock(long Minute, long IntoMs)
{
    public const long MinuteMs = 60_000;

    public static RateClock Of(DateTimeOffset now)
    {
        var ms = now.ToUnixTimeMilliseconds();
        var minute = Math.DivRem(ms, MinuteMs, out var into);
        return into >= 0 ? new RateClock(minute, into) : new RateClock(minute - 1, into + MinuteMs);
    }
}

/// <summary>
/// A scope's sliding minute, kept as two one-minute buckets (a two-bucket weighted sliding window): the counts of
/// <see cref="Minute"/> and of the minute before it. At <c>x</c> ms into the current minute, the last 60 s hold all of
/// the current bucket and an estimated <c>(60000 − x)/60000</c> of the previous one (its requests assumed spread
/// evenly). Exact to within one minute's unevenness, two numbers per scope, and no per-request rows.
/// <para>Comparisons use the window scaled by 60 000 (<see cref="Scaled"/>), which is a whole number: the SQL and the
/// Redis implementation (Lua's doubles) reach the same decision to the millisecond without rounding doubt.</para>
/// </summary>
internal readonly record struct RateWindow(long Minute, long Requests, long Tokens, long PrevRequests, long PrevTokens)
{
    public static RateWindow Empty(long minute) => new(minute, 0, 0, 0, 0);

    /// <summary>
    /// The same window seen from <paramref name="minute"/>: one minute later the current bucket becomes the previous,
    /// two or more later both are empty. A clock behind the stored minute (another instance's, skewed) leaves it as it is.
    /// </summary>
    public RateWindow RollTo(long minute) => minute <= Minute ? this
        : minute == Minute + 1 ? new RateWindow(minute, 0, 0, Requests, Tokens)
        : Empty(minute);

    /// <summary>
    /// The weight of the previous bucket in thousandths of a second: <c>60000 − x</c> at <c>x</c> ms into the window's
    /// minute (a clock behind the window's minute counts as its start).
    /// </summary>
    public long PrevWeight(RateClock clock) => clock.Minute == Minute ? RateClock.MinuteMs - clock.IntoMs : RateClock.MinuteMs;

    /// <summary>The sliding minute's count × 60 000. Doubles, in the same order of operations as the Lua script.</summary>
    public static double Scaled(long current, long previous, long prevWeight) => (double)current * RateClock.MinuteMs + (double)previous * prevWeight;

    public double ScaledRequests(RateClock clock) => Scaled(Requests, PrevRequests, PrevWeight(clock));

    public double ScaledTokens(RateClock clock) => Scaled(Tokens, PrevTokens, PrevWeight(clock));

    /// <summary>The sliding minute's requests (fractional: the estimate of the previous minute's share).</summary>
    public double SlidingRequests(RateClock clock) => ScaledRequests(clock) / RateClock.MinuteMs;

    public double SlidingTokens(RateClock clock) => ScaledTokens(clock) / RateClock.MinuteMs;

    /// <summary>This window with one more request of <paramref name="tokens"/> in the current bucket.</summary>
    public RateWindow Count(long tokens) => this with { Requests = Requests + 1, Tokens = Tokens + tokens };

    /// <summary>
    /// A finished request's token correction (already rolled to the current minute): extra use is counted now; a
    /// refund comes off the bucket it was charged to, if that is still in the window, never below zero.
    /// </summary>
    public RateWindow Correct(long acquiredMinute, long delta)
    {
        if (delta > 0) return this with { Tokens = Tokens + delta };
        if (delta == 0) return this;
        if (acquiredMinute == Minute) return this with { Tokens = Math.Max(0, Tokens + delta) };
        if (acquiredMinute == Minute - 1) return this with { PrevTokens = Math.Max(0, PrevTokens + delta) };
        return this;
    }
}

/// <summary>The decision shared by every counter store: which limit, if any, refuses a request, and for how long.</summary>
internal static class RateCheck
{
    /// <summary>
    /// The refusal that lifts last among every scope's limits, or null when all admit. <paramref name="states"/> are in
    /// the order of <paramref name="scopes"/>, rolled to <paramref name="clock"/>'s minute.
    /// </summary>
    public static RateRefusal? Evaluate(IReadOnlyList<RateScopeCharge> scopes, IReadOnlyList<RateScopeState> states, RateClock clock)
    {
        RateRefusal? worst = null;
        for (var i = 0; i < scopes.Count; i++)
        {
            var charge = scopes[i];
            var state = states[i];
            var w = state.Window;
            if (charge.RequestsPerMinute is { } rpm && w.ScaledRequests(clock) + RateClock.MinuteMs > (double)rpm * RateClock.MinuteMs)
                worst = Worse(worst, new RateRefusal(charge.Scope, RateDimension.Requests, rpm,
                    Wait(w.Requests, w.PrevRequests, ((double)rpm - 1) * RateClock.MinuteMs, w, clock)));
            if (charge.TokensPerMinute is { } tpm && w.ScaledTokens(clock) >= (double)tpm * RateClock.MinuteMs)
                worst = Worse(worst, new RateRefusal(charge.Scope, RateDimension.Tokens, tpm,
                    Wait(w.Tokens, w.PrevTokens, (double)tpm * RateClock.MinuteMs - 1, w, clock)));
            if (charge.ConcurrentRequests is { } concurrent && state.OpenLeases + 1 > concurrent)
                // When a running request ends cannot be known; a second is the soonest worth trying again.
                worst = Worse(worst, new RateRefusal(charge.Scope, RateDimension.Concurrent, concurrent, TimeSpan.FromSeconds(1)));
        }
        return worst;
    }

    private static RateRefusal Worse(RateRefusal? a, RateRefusal b) => a is null || b.RetryAfter > a.RetryAfter ? b : a;

    /// <summary>
    /// Whole seconds (at least one) until the window's scaled count falls to <paramref name="admitAtMost"/> with nothing
    /// new counted: within this minute as the previous bucket's weight shrinks, else during the next minute as the
    /// current bucket (by then the previous) does.
    /// </summary>
    internal static TimeSpan Wait(long current, long previous, double admitAtMost, RateWindow w, RateClock clock)
    {
        var into = RateClock.MinuteMs - w.PrevWeight(clock); // 0 for a clock behind the window's minute
        double waitMs;
        var currentScaled = (double)current * RateClock.MinuteMs;
        if (currentScaled <= admitAtMost && previous > 0)
        {
            // current·60000 + previous·(60000 − x) ≤ limit  ⇔  x ≥ 60000 − (limit − current·60000) / previous
            var x = Math.Ceiling(RateClock.MinuteMs - (admitAtMost - currentScaled) / previous);
            waitMs = x - into;
        }
        else if (currentScaled <= admitAtMost)
        {
            waitMs = 0;
        }
        else
        {
            // Next minute: current·(60000 − x) ≤ limit  ⇔  x ≥ 60000 − limit / current
            var x = Math.Ceiling(RateClock.MinuteMs - Math.Max(0, admitAtMost) / current);
            waitMs = RateClock.MinuteMs - into + x;
        }
        return TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling(waitMs / 1000)));
    }
}
