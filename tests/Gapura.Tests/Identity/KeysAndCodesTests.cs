using System.Security.Cryptography;
using System.Text;
using Gapura.Identity;
using Gapura.Storage;

namespace Gapura.Tests.Identity;

public class KeysAndCodesTests
{
    [Fact]
    public void Api_keys_are_sk_gp_and_43_url_safe_characters_stored_as_sha256_with_a_prefix()
    {
        var key = ApiKeys.Generate();

        Assert.Matches("^sk-gp-[A-Za-z0-9_-]{43}$", key.Key);
        Assert.Equal(key.Key[..12], key.Prefix);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key.Key))), key.Hash);
        Assert.Equal(key.Hash, ApiKeys.Hash(key.Key));
        Assert.DoesNotContain(key.Key, key.ToString());
        Assert.NotEqual(key.Key, ApiKeys.Generate().Key);
    }

    [Theory]
    [InlineData("sk-gp-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", true)]
    [InlineData("sk-gp-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false)]
    [InlineData("sk-gp-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", false)]
    [InlineData("sk-ant-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", false)]
    [InlineData(null, false)]
    public void Key_shape_is_recognised(string? text, bool expected)
        => Assert.Equal(expected, ApiKeys.LooksLikeKey(text));

    [Fact]
    public void Recovery_codes_are_random_distinct_and_hash_the_same_however_typed()
    {
        var codes = RecoveryCodes.Generate();

        Assert.Equal(10, codes.Count);
        Assert.Equal(10, codes.Distinct().Count());
        Assert.All(codes, c => Assert.Matches("^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$", c));
        var code = codes[0];
        Assert.Equal(RecoveryCodes.Hash(code), RecoveryCodes.Hash(" " + code.ToUpperInvariant().Replace("-", " ") + " "));
        Assert.NotEqual(RecoveryCodes.Hash(code), RecoveryCodes.Hash(codes[1]));
        Assert.DoesNotContain(code.Replace("-", ""), RecoveryCodes.Hash(code));
    }

    [Theory]
    [InlineData(" ada@example.com ", "ada@example.com")]
    [InlineData("First.Last+tag@sub.example.co.uk", "First.Last+tag@sub.example.co.uk")]
    public void Plausible_emails_are_accepted_trimmed(string input, string expected)
        => Assert.Equal(expected, EmailAddress.Validate(input));

    [Theory]
    [InlineData(null, "empty")]
    [InlineData("ada", "exactly one '@'")]
    [InlineData("ada@", "after the '@'")]
    [InlineData("ada@example..com", "not a domain name")]
    [InlineData("ada@.example.com", "not a domain name")]
    [InlineData("a\tb@example.com", "space or control")]
    public void Implausible_emails_say_why(string? input, string reason)
        => Assert.Contains(reason, Assert.Throws<InvalidEmailException>(() => EmailAddress.Validate(input)).Message);
}
