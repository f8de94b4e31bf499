using Gapura.Identity;

namespace Gapura.Tests.Identity;

/// <summary>
/// API keys and recovery codes as stored and shown: the exact hash a stored code is found by, what a printed key
/// reveals, and the key shape at its edges (found by mutation testing: see DEVELOPERS.md, "Mutation testing").
/// </summary>
public class KeysAndCodesMutationTests
{
    [Fact]
    public void A_printed_generated_key_shows_its_prefix_only()
    {
        var key = ApiKeys.Generate();
        Assert.Equal($"GeneratedApiKey {{ Prefix = {key.Prefix} }}", key.ToString());
    }

    [Theory]
    [InlineData("sk-gp", "sk-gp")]
    [InlineData("sk-gp-abcdef", "sk-gp-abcdef")]
    [InlineData("sk-gp-abcdefg", "sk-gp-abcdef")]
    public void The_prefix_is_the_first_twelve_characters_or_the_whole_of_a_shorter_text(string key, string prefix)
        => Assert.Equal(prefix, ApiKeys.PrefixOf(key));

    [Theory]
    [InlineData("sk-gp-=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("sk-gp-AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAA")]
    [InlineData("SK-GP-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public void A_text_with_the_marker_but_a_character_outside_base64url_is_not_a_key(string text)
        => Assert.False(ApiKeys.LooksLikeKey(text));

    [Fact]
    public void A_generated_key_has_the_shape_it_is_recognised_by()
        => Assert.True(ApiKeys.LooksLikeKey(ApiKeys.Generate().Key));

    [Fact]
    public void A_recovery_code_hash_is_the_salted_sha256_already_stored_for_it()
    {
        // SHA-256 of "gapura-recovery:abcdefghijkl", computed independently.
        const string stored = "3c4a75d044fd81afa395af77b95972471d65440a75638c8177305eb99ca528c8";
        Assert.Equal(stored, RecoveryCodes.Hash("abcd-efgh-ijkl"));
        Assert.Equal(stored, RecoveryCodes.Hash("ABCD EFGH IJKL"));
        Assert.Equal(RecoveryCodes.Hash(""), RecoveryCodes.Hash(null!));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(12)]
    public void As_many_distinct_codes_as_asked_for(int count)
    {
        var codes = RecoveryCodes.Generate(count);
        Assert.Equal(count, codes.Count);
        Assert.Equal(count, codes.Distinct().Count());
        Assert.All(codes, c => Assert.Matches("^[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}$", c));
    }
}
