using Gapura.Conversations;

namespace Gapura.Tests;

public class TokenEstimatorTests
{
    [Theory]
    [InlineData("", 0)]
    [InlineData("Hello, world!", 4)]   // Hello , world !
    [InlineData("12345", 2)]
    [InlineData("ApiKeyAuthenticator", 4)]
    public void Counts_are_calibrated_to_the_documented_rules(string text, int expected)
        => Assert.Equal(expected, TokenEstimator.Count(text));

    [Fact]
    public void English_prose_lands_near_three_and_a_half_characters_per_token()
    {
        const string prose = "The quick brown fox jumps over the lazy dog. It was a bright cold day in April, and the clocks were striking thirteen.";
        var ratio = prose.Length / (double)TokenEstimator.Count(prose);
        Assert.InRange(ratio, 3.0, 4.5);
    }
}
