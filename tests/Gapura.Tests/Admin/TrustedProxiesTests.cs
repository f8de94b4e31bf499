using System.Net;
using Gapura.Api;
using Gapura.Hosting;
using Gapura.Tests.Integration;
using Microsoft.Extensions.Options;

namespace Gapura.Tests.Admin;

/// <summary>
/// <c>Gateway:TrustedProxies</c> over real HTTP: behind a listed proxy (the test connects from 127.0.0.1) the sign-in
/// back-off and the audit see the address <c>X-Forwarded-For</c> names, so callers behind one proxy are held back one
/// by one; from an address not listed, and when nothing is listed, the header is ignored.
/// </summary>
public sealed class TrustedProxiesTests : AdminTestBase
{
    private static readonly IPAddress Unlisted = IPAddress.Parse("127.0.0.2");

    protected override IEnumerable<string> ExtraSettings => ["--Admin:MaxFailedLogins=3", "--Gateway:TrustedProxies=127.0.0.1, 10.0.0.0/8"];

    [Fact]
    public async Task Behind_a_listed_proxy_a_stranger_backing_off_does_not_hold_back_the_owner()
    {
        using var stranger = Anonymous();
        stranger.Headers.Add("X-Forwarded-For", "203.0.113.7");
        var answers = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++) answers.Add((await stranger.SignInAsync(GatewayFixture.AdminEmail, "Guess-number-" + i)).Status);

        // Same proxy, same connection address: only the forwarded address differs. A chain of listed proxies is walked.
        using var owner = Anonymous();
        owner.Headers.Add("X-Forwarded-For", "198.51.100.4, 10.1.2.3");
        var signIn = await owner.SignInAsync(GatewayFixture.AdminEmail, GatewayFixture.AdminPassword);

        Assert.Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests], answers);
        Assert.Equal(HttpStatusCode.OK, signIn.Status);
        var audit = await AuditAsync();
        Assert.Contains(audit, e => e.Action == "session.create_failed" && e.RemoteAddr == "203.0.113.7");
        Assert.Contains(audit, e => e.Action == "session.create" && e.RemoteAddr == "198.51.100.4");
    }

    [Fact]
    public async Task A_caller_that_is_not_a_listed_proxy_cannot_choose_its_address()
    {
        using var caller = Anonymous(Unlisted);
        caller.Headers.Add("X-Forwarded-For", "192.0.2.99");
        Assert.Equal(HttpStatusCode.Unauthorized, (await caller.SignInAsync(GatewayFixture.AdminEmail, "Guess-number-1")).Status);

        var audit = await AuditAsync();
        Assert.Contains(audit, e => e.Action == "session.create_failed" && e.RemoteAddr == "127.0.0.2");
        Assert.DoesNotContain(audit, e => e.RemoteAddr == "192.0.2.99");
    }

    [Theory]
    [InlineData("10.0.0.0/33")]
    [InlineData("proxy.internal")]
    [InlineData("10.0.0.1, 300.1.1.1")]
    public void A_list_the_gateway_cannot_use_is_refused_at_start_naming_the_setting(string value)
    {
        var e = Assert.Throws<OptionsValidationException>(() => SettingsValidation.Checked(new GatewayOptions { TrustedProxies = value }, GatewayOptions.Section));
        Assert.Contains("Gateway:TrustedProxies must be IP addresses or networks", SettingsValidation.Describe(e));
    }
}

/// <summary>Without <c>Gateway:TrustedProxies</c>, <c>X-Forwarded-For</c> is anyone's to send, so it changes nothing.</summary>
public sealed class UntrustedForwardedHeadersTests : AdminTestBase
{
    protected override IEnumerable<string> ExtraSettings => ["--Admin:MaxFailedLogins=3"];

    [Fact]
    public async Task Without_listed_proxies_a_forwarded_address_is_ignored()
    {
        using var caller = Anonymous();
        var answers = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++)
        {
            caller.Headers.Remove("X-Forwarded-For");
            caller.Headers.Add("X-Forwarded-For", $"203.0.113.{i + 1}"); // a new address each time would dodge the back-off
            answers.Add((await caller.SignInAsync(GatewayFixture.AdminEmail, "Guess-number-" + i)).Status);
        }

        Assert.Equal([HttpStatusCode.Unauthorized, HttpStatusCode.Unauthorized, HttpStatusCode.TooManyRequests], answers);
        Assert.All((await AuditAsync()).Where(e => e.Action.StartsWith("session.", StringComparison.Ordinal)), e => Assert.Equal("127.0.0.1", e.RemoteAddr));
    }
}
