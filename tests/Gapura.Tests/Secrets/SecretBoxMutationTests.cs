using Gapura.Secrets;

namespace Gapura.Tests.Secrets;

/// <summary>
/// The sealed-value format every stored secret is kept in, pinned byte for byte: a change to how a key id is derived,
/// how base64url is written or which values count as sealed would leave existing databases unreadable or accept a
/// doctored value (found by mutation testing: see DEVELOPERS.md, "Mutation testing").
/// </summary>
public class SecretBoxMutationTests
{
    /// <summary>The key 00 01 02 … 1f, whose id was computed independently (SHA-256 of the label and the key, first 6 bytes).</summary>
    private static readonly byte[] CountingKey = [.. Enumerable.Range(0, SecretKey.Size).Select(i => (byte)i)];

    [Fact]
    public void A_key_id_is_derived_exactly_as_in_the_values_already_stored()
    {
        var key = new SecretKey(CountingKey);

        Assert.Equal("ON-xQHLW", key.Id);
        Assert.Equal("ON-xQHLW", SecretKey.Parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", "Secrets:Key").Id);
        Assert.Equal("secrets key ON-xQHLW", key.ToString());
    }

    [Fact]
    public void A_key_of_the_wrong_size_is_refused_with_both_sizes()
    {
        var error = Assert.Throws<ArgumentException>(() => new SecretKey(new byte[16]));
        Assert.Contains("32 bytes", error.Message);
        Assert.Contains("16", error.Message);
    }

    [Fact]
    public void Base64url_is_the_url_safe_alphabet_without_padding_both_ways()
    {
        // API keys and sealed values are written with it; stored ones must keep decoding.
        Assert.Equal("-_8", Base64Url.Encode([0xfb, 0xff]));
        Assert.Equal("-_-_", Base64Url.Encode([0xfb, 0xff, 0xbf]));
        Assert.Equal("AA", Base64Url.Encode([0]));

        Assert.True(Base64Url.TryDecode("-_8", out var two));
        Assert.Equal([0xfb, 0xff], two);
        Assert.True(Base64Url.TryDecode("-_-_", out var three));
        Assert.Equal([0xfb, 0xff, 0xbf], three);
        Assert.True(Base64Url.TryDecode("", out var none));
        Assert.Empty(none);
        Assert.False(Base64Url.TryDecode("!!!", out var bad));
        Assert.Empty(bad);
    }

    [Fact]
    public void A_sealed_value_never_carries_base64_padding()
    {
        var box = new SecretBox(new KeyRing(new SecretKey(CountingKey)));
        // Payload lengths 28 + 0, 1, 2: one of each remainder modulo 3.
        foreach (var text in new[] { "", "a", "ab" })
        {
            var sealedValue = box.Seal(text, "p");
            Assert.DoesNotContain('=', sealedValue);
            Assert.Equal(text, box.Open(sealedValue, "p"));
        }
    }

    [Fact]
    public void A_payload_shorter_than_nonce_and_tag_is_malformed_and_the_message_names_the_purpose()
    {
        var key = new SecretKey(CountingKey);
        var box = new SecretBox(new KeyRing(key));
        var shortest = Base64Url.Encode(new byte[SecretBox.NonceSize + SecretBox.TagSize - 1]);

        foreach (var payload in new[] { "AAAA", shortest })
        {
            var error = Assert.Throws<SecretDecryptionException>(() => box.Open($"gp1:{key.Id}:{payload}", "upstream_login:9"));
            Assert.Equal(SecretFailure.Malformed, error.Failure);
            Assert.Contains("upstream_login:9", error.Message);
            Assert.Contains("truncated", error.Message);
        }
        // Exactly nonce and tag: an empty secret, whose tag then decides.
        var exact = Base64Url.Encode(new byte[SecretBox.NonceSize + SecretBox.TagSize]);
        Assert.Equal(SecretFailure.Tampered, Assert.Throws<SecretDecryptionException>(() => box.Open($"gp1:{key.Id}:{exact}", "p")).Failure);
    }

    [Fact]
    public void Only_the_exact_version_prefix_and_separators_count_as_sealed()
    {
        var key = new SecretKey(CountingKey);
        var box = new SecretBox(new KeyRing(key));
        var sealedValue = box.Seal("tokens", "p");

        // The associated data is rebuilt from the version and key id, so a value whose separators were
        // rewritten would otherwise still open: the format check alone refuses it.
        foreach (var altered in new[] { "gp1-" + sealedValue[4..], sealedValue[..12] + "-" + sealedValue[13..], "GP1:" + sealedValue[4..] })
        {
            var error = Assert.Throws<SecretDecryptionException>(() => box.Open(altered, "user.totp:3"));
            Assert.Equal(SecretFailure.Malformed, error.Failure);
            Assert.Contains("user.totp:3", error.Message);
            Assert.Contains("gp1:<key id>:", error.Message);
        }
    }

    [Fact]
    public void A_null_value_is_a_caller_bug_named_as_such()
    {
        var box = new SecretBox(new KeyRing(new SecretKey(CountingKey)));
        Assert.Equal("plaintext", Assert.Throws<ArgumentNullException>(() => box.Seal(null!, "p")).ParamName);
        Assert.Equal("sealedValue", Assert.Throws<ArgumentNullException>(() => box.Open(null!, "p")).ParamName);
    }

    [Fact]
    public void The_key_id_is_read_from_the_shortest_value_that_names_one()
    {
        Assert.Equal("ON-xQHLW", SecretBox.KeyIdOf("gp1:ON-xQHLW:"));
        Assert.Null(SecretBox.KeyIdOf("gp1:ON-xQHLW"));
        Assert.Null(SecretBox.KeyIdOf("gp1:ON-xQHLWx"));
    }

    [Fact]
    public void A_tampered_value_is_told_apart_from_a_foreign_or_malformed_one()
    {
        var key = new SecretKey(CountingKey);
        var box = new SecretBox(new KeyRing(key));
        var sealedValue = box.Seal("tokens", "setting:x");
        Assert.True(Base64Url.TryDecode(sealedValue[13..], out var payload));
        payload[^1] ^= 0x80;

        var error = Assert.Throws<SecretDecryptionException>(() => box.Open(sealedValue[..13] + Base64Url.Encode(payload), "setting:x"));

        Assert.Equal(SecretFailure.Tampered, error.Failure);
        Assert.Contains("integrity check", error.Message);
    }
}
