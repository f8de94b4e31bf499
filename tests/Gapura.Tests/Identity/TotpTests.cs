using System.Text;
using Gapura.Identity;

namespace Gapura.Tests.Identity;

public class TotpTests
{
    // RFC 6238 appendix B: the SHA-1 seed is the ASCII string "12345678901234567890".
    private static readonly byte[] RfcSeed = Encoding.ASCII.GetBytes("12345678901234567890");

    [Theory]
    [InlineData(59L, "94287082")]
    [InlineData(1111111109L, "07081804")]
    [InlineData(1111111111L, "14050471")]
    [InlineData(1234567890L, "89005924")]
    [InlineData(2000000000L, "69279037")]
    [InlineData(20000000000L, "65353130")]
    public void Matches_the_rfc_6238_sha1_test_vectors(long unixSeconds, string expected)
    {
        var time = DateTimeOffset.FromUnixTimeSeconds(unixSeconds);
        Assert.Equal(expected, Totp.Compute(RfcSeed, Totp.StepAt(time), digits: 8));
        // Six digits are the same number modulo 10^6.
        Assert.Equal(expected[2..], Totp.Compute(Base32.Encode(RfcSeed), time));
    }

    [Fact]
    public void Accepts_one_step_either_side_and_returns_the_matched_step()
    {
        var secret = Base32.Encode(RfcSeed);
        var now = DateTimeOffset.FromUnixTimeSeconds(1111111111);
        var step = Totp.StepAt(now);

        Assert.Equal(step, Totp.Verify(secret, Totp.Compute(secret, now), now));
        Assert.Equal(step - 1, Totp.Verify(secret, Totp.Compute(secret, now.AddSeconds(-30)), now));
        Assert.Equal(step + 1, Totp.Verify(secret, Totp.Compute(secret, now.AddSeconds(30)), now));
        Assert.Null(Totp.Verify(secret, Totp.Compute(secret, now.AddSeconds(-60)), now));
        Assert.Null(Totp.Verify(secret, Totp.Compute(secret, now.AddSeconds(90)), now));
    }

    [Fact]
    public void A_used_step_and_older_ones_are_refused_by_the_replay_guard()
    {
        var secret = Totp.GenerateSecret();
        var now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        var code = Totp.Compute(secret, now);
        var step = Totp.Verify(secret, code, now);

        Assert.NotNull(step);
        Assert.Null(Totp.Verify(secret, code, now, lastUsedStep: step));
        Assert.Null(Totp.Verify(secret, Totp.Compute(secret, now.AddSeconds(-30)), now, lastUsedStep: step));
        Assert.Equal(step + 1, Totp.Verify(secret, Totp.Compute(secret, now.AddSeconds(30)), now, lastUsedStep: step));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("12345")]
    [InlineData("1234567")]
    [InlineData("12a456")]
    public void Malformed_codes_are_refused(string? code)
        => Assert.Null(Totp.Verify(Totp.GenerateSecret(), code, DateTimeOffset.UtcNow));

    [Fact]
    public void A_code_typed_with_a_space_is_accepted()
    {
        var secret = Totp.GenerateSecret();
        var now = DateTimeOffset.UtcNow;
        var code = Totp.Compute(secret, now);
        Assert.NotNull(Totp.Verify(secret, code[..3] + " " + code[3..], now));
    }

    [Fact]
    public void Secrets_are_160_bit_base32_and_the_uri_is_what_authenticator_apps_scan()
    {
        var secret = Totp.GenerateSecret();
        Assert.Matches("^[A-Z2-7]{32}$", secret);
        Assert.Equal(20, Base32.Decode(secret).Length);

        var uri = Totp.OtpAuthUri(secret, "ada+dev@example.com");

        Assert.Equal($"otpauth://totp/Gapura:ada%2Bdev%40example.com?secret={secret}&issuer=Gapura&algorithm=SHA1&digits=6&period=30", uri);
    }

    [Theory]
    [InlineData("", "")]
    [InlineData("f", "MY")]
    [InlineData("fo", "MZXQ")]
    [InlineData("foo", "MZXW6")]
    [InlineData("foob", "MZXW6YQ")]
    [InlineData("fooba", "MZXW6YTB")]
    [InlineData("foobar", "MZXW6YTBOI")]
    public void Base32_matches_rfc_4648(string text, string encoded)
    {
        Assert.Equal(encoded, Base32.Encode(Encoding.ASCII.GetBytes(text)));
        Assert.Equal(text, Encoding.ASCII.GetString(Base32.Decode(encoded.ToLowerInvariant() + "===")));
    }

    [Fact]
    public void Base32_refuses_characters_outside_its_alphabet()
        => Assert.Throws<FormatException>(() => Base32.Decode("MZXW1"));
}
