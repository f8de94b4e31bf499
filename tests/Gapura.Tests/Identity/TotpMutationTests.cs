using System.Text;
using Gapura.Identity;

namespace Gapura.Tests.Identity;

/// <summary>
/// TOTP codes at the edges a user meets: the 30-second boundary, the drift window, the digits an app shows, and
/// which step a code is booked against (found by mutation testing: see DEVELOPERS.md, "Mutation testing").
/// </summary>
public class TotpMutationTests
{
    private static readonly string RfcSecret = Base32.Encode(Encoding.ASCII.GetBytes("12345678901234567890"));

    [Fact]
    public void A_code_typed_in_two_groups_of_three_is_accepted()
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(1_796_000_010);
        var code = Totp.Compute(RfcSecret, now);
        Assert.Equal(Totp.StepAt(now), Totp.Verify(RfcSecret, $"{code[..3]} {code[3..]}", now));
    }

    [Fact]
    public void A_step_is_thirty_seconds_starting_on_the_minute_and_half_minute()
    {
        Assert.Equal(0, Totp.StepAt(DateTimeOffset.FromUnixTimeSeconds(29)));
        Assert.Equal(1, Totp.StepAt(DateTimeOffset.FromUnixTimeSeconds(30)));
        var now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000); // a step boundary
        Assert.Equal(Totp.Compute(RfcSecret, now), Totp.Compute(RfcSecret, now.AddSeconds(29)));
        Assert.NotEqual(Totp.Compute(RfcSecret, now), Totp.Compute(RfcSecret, now.AddSeconds(30)));
    }

    [Theory]
    [InlineData(5)]
    [InlineData(10)]
    public void Codes_are_six_to_nine_digits(int digits)
        => Assert.Throws<ArgumentOutOfRangeException>(() => Totp.Compute(Encoding.ASCII.GetBytes("12345678901234567890"), 1, digits));

    [Fact]
    public void Nine_digit_codes_match_the_rfc_value_modulo_ten_to_the_nine()
    {
        // RFC 6238 appendix B, T = 59 s: 94287082 as eight digits; as nine, the same truncated value modulo 10^9.
        Assert.Equal(9, Totp.Compute(Encoding.ASCII.GetBytes("12345678901234567890"), 1, 9).Length);
        Assert.EndsWith("94287082", Totp.Compute(Encoding.ASCII.GetBytes("12345678901234567890"), 1, 9));
        Assert.Equal("287082", Totp.Compute(Encoding.ASCII.GetBytes("12345678901234567890"), 1, 6));
    }

    [Fact]
    public void The_window_is_how_many_steps_of_drift_are_forgiven()
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(1_111_111_111);
        var step = Totp.StepAt(now);

        Assert.Null(Totp.Verify(RfcSecret, Totp.Compute(RfcSecret, now.AddSeconds(30)), now, window: 0));
        Assert.Equal(step, Totp.Verify(RfcSecret, Totp.Compute(RfcSecret, now), now, window: 0));
        Assert.Equal(step - 2, Totp.Verify(RfcSecret, Totp.Compute(RfcSecret, now.AddSeconds(-60)), now, window: 2));
        Assert.Equal(step + 2, Totp.Verify(RfcSecret, Totp.Compute(RfcSecret, now.AddSeconds(60)), now, window: 2));
    }

    [Fact]
    public void A_code_two_steps_of_the_window_share_is_booked_against_the_earlier_one()
    {
        // With the RFC seed, steps 57017782 and 57017784 both give 882938 (found by search). Booking the earlier
        // step keeps the next step's code usable once this one has been used.
        var now = DateTimeOffset.FromUnixTimeSeconds(57017783L * 30);

        Assert.Equal(57017782, Totp.Verify(RfcSecret, "882938", now));
        Assert.Equal(57017784, Totp.Verify(RfcSecret, "882938", now, lastUsedStep: 57017782));
        Assert.Null(Totp.Verify(RfcSecret, "882938", now, lastUsedStep: 57017784));
    }

    [Fact]
    public void Eight_digit_codes_are_checked_as_eight_digits()
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(59);
        Assert.Equal(1, Totp.Verify(RfcSecret, "94287082", now, digits: 8));
        Assert.Null(Totp.Verify(RfcSecret, "287082", now, digits: 8));
    }

    [Fact]
    public void The_uri_escapes_a_custom_issuer_in_label_and_parameter()
        => Assert.Equal("otpauth://totp/My%20Org:ada?secret=ABC&issuer=My%20Org&algorithm=SHA1&digits=6&period=30", Totp.OtpAuthUri("ABC", "ada", "My Org"));
}
