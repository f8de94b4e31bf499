using System.Diagnostics;
using System.Net;
using Gapura.Api.Admin;
using Gapura.Storage;
using Gapura.Tests.Integration;
using Gapura.Tests.Storage;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Gapura.Tests.Admin;

/// <summary>
/// Sign-in back-off per (e-mail, client address) over real HTTP: it never tells a known e-mail from an unknown one,
/// a stranger at one address cannot hold back the owner at another, the wait doubles and ends, and instances sharing
/// the database count together. Callers at different addresses connect from different loopback addresses (127.0.0.x).
/// </summary>
public sealed class SignInThrottleTests(ITestOutputHelper output) : AdminTestBase
{
    private static readonly IPAddress Stranger = IPAddress.Parse("127.0.0.2");

    // Moves the back-off's clock only: sessions, audit and the rest keep the real one.
    private readonly ManualTime _clock = new(DateTimeOffset.UtcNow);

    protected override IEnumerable<string> ExtraSettings => ["--Admin:MaxFailedLogins=3", "--Admin:LockoutMinutes=1"];

    private protected override Action<IServiceCollection>? ConfigureServices => services => services.AddSingleton(sp =>
        new SignInThrottle(sp.GetRequiredService<SignInFailures>(), sp.GetRequiredService<AdminSettings>(), _clock));

    [Fact]
    public async Task A_known_and_an_unknown_email_get_the_same_answers_before_and_after_the_threshold()
    {
        await CreateUserAsync("bob@example.com");
        using var client = Anonymous();

        var known = new List<AdminResponse>();
        var unknown = new List<AdminResponse>();
        for (var i = 0; i < 4; i++)
        {
            known.Add(await client.SignInAsync("bob@example.com", "Wrong-password-000" + i));
            unknown.Add(await client.SignInAsync("nobody@example.com", "Wrong-password-000" + i));
        }
        // The right password of a backing-off account gets the same refusal as any password of a made-up e-mail.
        known.Add(await client.SignInAsync("bob@example.com", Password));
        unknown.Add(await client.SignInAsync("nobody@example.com", Password));

        string[] expected = ["401 authentication_error", "401 authentication_error", "429 rate_limit_error", "429 rate_limit_error", "429 rate_limit_error"];
        Assert.Equal(expected, known.Select(Summary));
        Assert.Equal(expected, unknown.Select(Summary));
        Assert.Equal(known.Select(Body), unknown.Select(Body)); // byte for byte: messages, types, fields
        Assert.Equal(known.Select(r => r.Headers.RetryAfter?.Delta), unknown.Select(r => r.Headers.RetryAfter?.Delta));
        Assert.Equal(TimeSpan.FromSeconds(1), known[2].Headers.RetryAfter?.Delta);

        // The audit (admins only) still tells them apart.
        var audit = await AuditAsync();
        Assert.Contains(audit, e => e.Target == "user:nobody@example.com" && e.Detail!.Contains("no such user"));
        Assert.Equal(2, audit.Count(e => e.Action == "session.throttled" && e.Target == "user:bob@example.com"));
    }

    [Fact]
    public async Task A_stranger_failing_at_one_address_cannot_stop_the_owner_at_another()
    {
        using var stranger = Anonymous(Stranger);
        var answers = new List<HttpStatusCode>();
        for (var i = 0; i < 10; i++) answers.Add((await stranger.SignInAsync(GatewayFixture.AdminEmail, "Guess-number-" + i)).Status);

        using var owner = Anonymous();
        var signIn = await owner.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword);

        Assert.Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized], answers.Take(2));
        Assert.All(answers.Skip(2), s => Assert.Equal(HttpStatusCode.TooManyRequests, s));
        Assert.Equal(HttpStatusCode.OK, signIn.Status);
        // The stranger is still held back, even with the right password, and the audit names their address.
        Assert.Equal(HttpStatusCode.TooManyRequests, (await stranger.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword)).Status);
        var audit = await AuditAsync();
        Assert.Contains(audit, e => e.Action == "session.create_failed" && e.RemoteAddr == "127.0.0.2");
        Assert.Contains(audit, e => e.Action == "session.create" && e.RemoteAddr == "127.0.0.1");
    }

    [Fact]
    public async Task The_wait_doubles_with_each_further_failure_up_to_the_lockout_and_ends()
    {
        await CreateUserAsync("carol@example.com");
        using var client = Anonymous();
        await client.SignInAsync("carol@example.com", "Wrong-password-0001");
        await client.SignInAsync("carol@example.com", "Wrong-password-0002");

        var waits = new List<int>();
        for (var i = 0; i < 9; i++)
        {
            var failed = await client.SignInAsync("carol@example.com", "Wrong-password-1" + i);
            Assert.Equal(HttpStatusCode.TooManyRequests, failed.Status);
            var wait = (int)failed.Headers.RetryAfter!.Delta!.Value.TotalSeconds;
            waits.Add(wait);
            // Still waiting a moment before the end: refused unchecked, and the wait does not grow.
            _clock.Advance(TimeSpan.FromSeconds(wait) - TimeSpan.FromMilliseconds(100));
            var early = await client.SignInAsync("carol@example.com", Password);
            Assert.Equal((HttpStatusCode.TooManyRequests, TimeSpan.FromSeconds(1)), (early.Status, early.Headers.RetryAfter?.Delta));
            _clock.Advance(TimeSpan.FromMilliseconds(100));
        }

        Assert.Equal([1, 2, 4, 8, 16, 32, 60, 60, 60], waits); // LockoutMinutes=1 caps it
        // The wait over, the right password signs in and the count starts again.
        Assert.Equal(HttpStatusCode.OK, (await client.SignInAsync("carol@example.com", Password)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.SignInAsync("carol@example.com", "Wrong-password-0003")).Status);
    }

    [Fact]
    public async Task A_known_and_an_unknown_email_take_the_same_time_to_refuse()
    {
        using var admin = AdminByKey();
        await admin.PutAsync("/admin/api/settings/auth.max_failed_logins", new System.Text.Json.Nodes.JsonObject { ["value"] = "100" });
        await CreateUserAsync("dora@example.com");
        using var client = Anonymous();
        await client.SignInAsync("warm-up@example.com", "Wrong-password-0000");

        var known = new List<double>();
        var unknown = new List<double>();
        for (var i = 0; i < 20; i++)
        {
            // Interleaved, so a change in the machine's load falls on both alike.
            known.Add(await TimeAsync(client, "dora@example.com"));
            unknown.Add(await TimeAsync(client, "nobody-" + i + "@example.com"));
        }

        var (knownMs, unknownMs) = (Median(known), Median(unknown));
        output.WriteLine($"median of 20 wrong-password sign-ins: known {knownMs:F1} ms, unknown {unknownMs:F1} ms");
        Assert.InRange(knownMs / unknownMs, 0.67, 1.5);
    }

    private static async Task<double> TimeAsync(AdminClient client, string email)
    {
        var clock = Stopwatch.StartNew();
        var answer = await client.SignInAsync(email, "Wrong-password-9999");
        var ms = clock.Elapsed.TotalMilliseconds;
        Assert.Equal(HttpStatusCode.Unauthorized, answer.Status);
        return ms;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return (sorted[(sorted.Count - 1) / 2] + sorted[sorted.Count / 2]) / 2;
    }

    private static string Summary(AdminResponse r) => $"{(int)r.Status} {r.ErrorType}";

    private static string Body(AdminResponse r) => r.Json?.ToJsonString() ?? "";
}

/// <summary>Two gateways on one SQLite file: failures counted by one hold back the same caller on the other.</summary>
public sealed class SignInThrottleSharedTests : IAsyncLifetime
{
    private readonly string _folder = Directory.CreateTempSubdirectory("gapura-throttle-").FullName;
    private GatewayFixture _first = null!;
    private GatewayFixture _second = null!;

    public async Task InitializeAsync()
    {
        string[] settings = [$"--Storage:Path={Path.Combine(_folder, "gapura.db")}", "--Admin:MaxFailedLogins=4", "--Admin:LockoutMinutes=10"];
        _first = new GatewayFixture();
        _first.Settings.AddRange(settings);
        await _first.InitializeAsync();
        _second = new GatewayFixture();
        _second.Settings.AddRange(settings);
        await _second.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await _second.DisposeAsync();
        await _first.DisposeAsync();
        try { Directory.Delete(_folder, recursive: true); } catch (IOException) { }
    }

    [Fact]
    public async Task Failures_on_two_instances_add_up()
    {
        using var onFirst = new AdminClient(_first.BaseUrl);
        using var onSecond = new AdminClient(_second.BaseUrl);

        var answers = new List<HttpStatusCode>
        {
            (await onFirst.SignInAsync(GatewayFixture.AdminEmail, "Guess-number-1")).Status,
            (await onSecond.SignInAsync(GatewayFixture.AdminEmail, "Guess-number-2")).Status,
            (await onFirst.SignInAsync(GatewayFixture.AdminEmail, "Guess-number-3")).Status,
            (await onSecond.SignInAsync(GatewayFixture.AdminEmail, "Guess-number-4")).Status,
            (await onFirst.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword)).Status,
        };

        Assert.Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized,
            HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], answers);
        // Another address is not held back on either instance.
        using var elsewhere = new AdminClient(_second.BaseUrl, from: IPAddress.Parse("127.0.0.3"));
        Assert.Equal(HttpStatusCode.OK, (await elsewhere.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword)).Status);
    }
}
