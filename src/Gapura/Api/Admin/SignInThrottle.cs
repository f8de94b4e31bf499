using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Gapura.Storage;

namespace Gapura.Api.Admin;

/// <summary>
/// Back-off for password checks, per (e-mail, client address) rather than per account: failures are counted for
/// unknown e-mails exactly as for known ones, so the answer never tells which accounts exist, and a stranger's
/// failures from one address never hold back the account's owner at another. After <c>auth.max_failed_logins</c>
/// failures the pair waits <see cref="FirstBackOff"/>, doubling with each further failure up to
/// <c>auth.lockout_minutes</c>; a success from that address clears its count, and a day without failures forgets it.
/// The client address is the connection's, the same the audit log records (no forwarded header is trusted).
/// </summary>
internal sealed class SignInThrottle(SignInFailures failures, AdminSettings settings, TimeProvider time)
{
    public static readonly TimeSpan FirstBackOff = TimeSpan.FromSeconds(1);

    /// <summary>How long a pair's failures are remembered after its last one.</summary>
    public static readonly TimeSpan Memory = TimeSpan.FromDays(1);

    /// <summary>How long the pair must still wait before its password is checked again (null: not backing off).</summary>
    public async Task<TimeSpan?> WaitAsync(string email, string? remoteAddr, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var count = await failures.FindAsync(Key(email), AddressKey(remoteAddr), now - Memory, ct);
        return count?.BlockedUntil is { } until && until > now ? until - now : null;
    }

    /// <summary>Counts a failure of the pair; the answer says whether it must now wait (then throw <see cref="TooMany"/>).</summary>
    public async Task<SignInFailureOutcome> RecordFailureAsync(string email, string? remoteAddr, CancellationToken ct)
    {
        var max = (int)await settings.GetNumberAsync(AdminSettings.MaxFailedLogins, ct);
        var cap = TimeSpan.FromMinutes(await settings.GetNumberAsync(AdminSettings.LockoutMinutes, ct));
        var now = time.GetUtcNow();
        var count = await failures.RecordAsync(Key(email), AddressKey(remoteAddr), now, now - Memory, n => BackOff(n, max, cap), ct);
        return new SignInFailureOutcome(count.Failures, max, count.BlockedUntil is { } until ? until - now : null);
    }

    /// <summary>A success from this address: its failures no longer count.</summary>
    public Task ForgetAsync(string email, string? remoteAddr, CancellationToken ct) => failures.ForgetAsync(Key(email), AddressKey(remoteAddr), ct);

    /// <summary>A new password set by an admin: no address needs to wait any more.</summary>
    public Task ForgetEverywhereAsync(string email, CancellationToken ct) => failures.ForgetEverywhereAsync(Key(email), ct);

    /// <summary>The wait after the <paramref name="failures"/>-th failure: none below the threshold, then 1 s, 2 s, 4 s… up to the cap.</summary>
    public static TimeSpan? BackOff(int failures, int max, TimeSpan cap)
    {
        if (failures < max) return null;
        var doublings = Math.Min(failures - max, 30);
        var wait = FirstBackOff * Math.Pow(2, doublings);
        return wait < cap ? wait : cap;
    }

    public static AdminApiException TooMany(TimeSpan wait)
    {
        var seconds = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
        return new AdminApiException(StatusCodes.Status429TooManyRequests, ErrorTypes.TooManySignIns,
            $"Too many failed sign-ins for this e-mail from your address: wait {seconds} s before trying again.")
        {
            RetryAfterSeconds = seconds,
        };
    }

    /// <summary>The e-mail as typed, trimmed and lower-cased, so case variants share one count (as they share one account).</summary>
    public static string Key(string email) => email.Trim().ToLowerInvariant();

    /// <summary>
    /// The address failures are counted under: an IPv4 address as it is (an IPv4-mapped IPv6 one as IPv4), an IPv6
    /// address by its /64 — one host usually holds a whole /64, and counting each of its addresses apart would hand it
    /// 2^64 fresh starts.
    /// </summary>
    public static string AddressKey(string? remoteAddr)
    {
        if (remoteAddr is null || !IPAddress.TryParse(remoteAddr, out var ip)) return remoteAddr ?? "";
        if (ip.IsIPv4MappedToIPv6) ip = ip.MapToIPv4();
        if (ip.AddressFamily != AddressFamily.InterNetworkV6 || IPAddress.IsLoopback(ip)) return ip.ToString();
        var bytes = ip.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes).ToString() + "/64";
    }
}

/// <summary>What one counted failure led to: the pair's count, the threshold, and the wait it must now observe (if any).</summary>
internal sealed record SignInFailureOutcome(int Failures, int Max, TimeSpan? Wait)
{
    public string Describe(string why) => Wait is { } wait
        ? $"{why}; {Failures} failures from this address, backing off {Math.Ceiling(wait.TotalSeconds).ToString(CultureInfo.InvariantCulture)} s"
        : $"{why} ({Failures} of {Max} from this address)";
}
