using Gapura.Secrets;

namespace Gapura.Tests.Secrets;

public class SecretBoxTests
{
    private readonly SecretKey _key = SecretKey.Generate();

    [Fact]
    public void A_sealed_value_opens_to_the_same_text_and_carries_its_key_id()
    {
        var box = new SecretBox(new KeyRing(_key));

        var sealedValue = box.Seal("refresh-token ✓", "upstream_login:7");

        Assert.Matches(@"^gp1:[A-Za-z0-9_-]{8}:[A-Za-z0-9_-]+$", sealedValue);
        Assert.Equal(_key.Id, SecretBox.KeyIdOf(sealedValue));
        Assert.DoesNotContain("refresh", sealedValue);
        Assert.Equal("refresh-token ✓", box.Open(sealedValue, "upstream_login:7"));
        Assert.NotEqual(sealedValue, box.Seal("refresh-token ✓", "upstream_login:7"));
        Assert.Equal("", box.Open(box.Seal("", "p"), "p"));
    }

    [Fact]
    public void Flipping_any_byte_of_nonce_ciphertext_or_tag_is_detected()
    {
        var box = new SecretBox(new KeyRing(_key));
        var sealedValue = box.Seal("a secret worth keeping", "setting:x");
        var head = sealedValue[..13];
        Assert.True(Base64Url.TryDecode(sealedValue[13..], out var payload));

        for (var i = 0; i < payload.Length; i++)
        {
            var tampered = (byte[])payload.Clone();
            tampered[i] ^= 0x01;
            var error = Assert.Throws<SecretDecryptionException>(() => box.Open(head + Base64Url.Encode(tampered), "setting:x"));
            Assert.Equal(SecretFailure.Tampered, error.Failure);
            Assert.DoesNotContain("worth", error.Message);
        }
    }

    [Fact]
    public void A_value_opened_for_another_purpose_is_refused()
    {
        var box = new SecretBox(new KeyRing(_key));
        var sealedValue = box.Seal("tokens", "upstream_login:1");

        var error = Assert.Throws<SecretDecryptionException>(() => box.Open(sealedValue, "upstream_login:2"));

        Assert.Equal(SecretFailure.Tampered, error.Failure);
        Assert.Contains("upstream_login:2", error.Message);
    }

    [Fact]
    public void A_value_under_a_key_the_ring_lacks_names_that_key()
    {
        var other = SecretKey.Generate();
        var sealedValue = new SecretBox(new KeyRing(other)).Seal("tokens", "p");

        var error = Assert.Throws<SecretDecryptionException>(() => new SecretBox(new KeyRing(_key)).Open(sealedValue, "p"));

        Assert.Equal(SecretFailure.UnknownKey, error.Failure);
        Assert.Contains(other.Id, error.Message);
        Assert.Contains(_key.Id, error.Message);
        Assert.Contains("Secrets:PreviousKeys", error.Message);
    }

    [Fact]
    public void A_key_id_rewritten_to_another_key_of_the_ring_does_not_open()
    {
        var old = SecretKey.Generate();
        var box = new SecretBox(new KeyRing(_key, [old]));
        var sealedValue = box.Seal("tokens", "p");

        var relabelled = $"gp1:{old.Id}:{sealedValue[13..]}";

        Assert.Equal(SecretFailure.Tampered, Assert.Throws<SecretDecryptionException>(() => box.Open(relabelled, "p")).Failure);
    }

    [Theory]
    [InlineData("plaintext")]
    [InlineData("gp1:")]
    [InlineData("gp1:abcdefgh:")]
    [InlineData("gp1:abcdefgh:!!!")]
    [InlineData("gp2:abcdefgh:AAAA")]
    public void Values_not_in_the_sealed_format_are_refused(string value)
    {
        var box = new SecretBox(new KeyRing(_key));
        var failure = Assert.Throws<SecretDecryptionException>(() => box.Open(value.Replace("abcdefgh", _key.Id), "p")).Failure;
        Assert.Equal(SecretFailure.Malformed, failure);
    }

    [Fact]
    public void A_previous_key_still_opens_what_it_sealed_while_new_values_use_the_current_key()
    {
        var old = SecretKey.Generate();
        var sealedOld = new SecretBox(new KeyRing(old)).Seal("tokens", "p");
        var box = new SecretBox(new KeyRing(_key, [old, old]));

        Assert.Equal("tokens", box.Open(sealedOld, "p"));
        Assert.False(box.IsUnderCurrentKey(sealedOld));
        Assert.True(box.IsUnderCurrentKey(box.Seal("tokens", "p")));
        Assert.Single(box.Ring.Previous);
    }

    [Fact]
    public void Key_ids_are_stable_per_key_and_distinct_between_keys()
    {
        var again = SecretKey.Parse(_key.ToBase64(), "test");
        Assert.Equal(_key.Id, again.Id);
        Assert.NotEqual(_key.Id, SecretKey.Generate().Id);
        Assert.Equal(SecretBox.KeyIdLength, _key.Id.Length);
        Assert.DoesNotContain(_key.ToBase64(), _key.ToString());
    }

    [Theory]
    [InlineData("not base64 at all!")]
    [InlineData("c2hvcnQ=")]
    public void A_bad_key_setting_names_the_setting_but_not_the_value(string value)
    {
        var error = Assert.Throws<SecretKeyException>(() => SecretKey.Parse(value, "Secrets:Key"));
        Assert.Contains("Secrets:Key", error.Message);
        Assert.DoesNotContain(value, error.Message);
    }
}
