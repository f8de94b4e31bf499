using System.Diagnostics;
using Gapura.Identity;

namespace Gapura.Tests.Identity;

public class PasswordTests
{
    // Most tests use a cheap count; the real default is checked once below.
    private readonly PasswordHasher _fast = new(iterations: 1_000);

    [Fact]
    public void The_default_hash_uses_at_least_600000_iterations_and_describes_itself()
    {
        var hasher = new PasswordHasher();
        var hash = hasher.Hash("correct horse battery staple");

        var parts = hash.Split('$');
        Assert.Equal("pbkdf2-sha256", parts[0]);
        Assert.True(int.Parse(parts[1]) >= 600_000);
        Assert.Equal(16, Convert.FromBase64String(parts[2]).Length);
        Assert.Equal(32, Convert.FromBase64String(parts[3]).Length);
        Assert.Equal(PasswordCheck.Succeeded, hasher.Verify("correct horse battery staple", hash));
    }

    [Fact]
    public void Each_hash_has_its_own_salt()
        => Assert.NotEqual(_fast.Hash("same password 1"), _fast.Hash("same password 1"));

    [Theory]
    [InlineData("Correct horse battery staple")]
    [InlineData("correct horse battery stapl")]
    [InlineData("")]
    public void A_wrong_password_fails(string attempt)
        => Assert.Equal(PasswordCheck.Failed, _fast.Verify(attempt, _fast.Hash("correct horse battery staple")));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("plain-text-password")]
    [InlineData("pbkdf2-sha256$abc$AAAA$AAAA")]
    [InlineData("pbkdf2-sha1$1000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")]
    public void A_missing_or_unreadable_hash_fails_without_throwing(string? stored)
        => Assert.Equal(PasswordCheck.Failed, _fast.Verify("whatever password", stored));

    [Fact]
    public void A_tampered_hash_fails()
    {
        var hash = _fast.Hash("correct horse battery staple");
        var parts = hash.Split('$');
        var digest = Convert.FromBase64String(parts[3]);
        digest[0] ^= 1;
        Assert.Equal(PasswordCheck.Failed, _fast.Verify("correct horse battery staple", $"{parts[0]}${parts[1]}${parts[2]}${Convert.ToBase64String(digest)}"));
    }

    [Fact]
    public void A_hash_from_a_lower_iteration_count_still_verifies_and_asks_for_a_rehash()
    {
        var old = _fast.Hash("correct horse battery staple");
        var stronger = new PasswordHasher(iterations: 2_000);

        Assert.Equal(PasswordCheck.SucceededNeedsRehash, stronger.Verify("correct horse battery staple", old));
        Assert.Equal(PasswordCheck.Succeeded, stronger.Verify("correct horse battery staple", stronger.Hash("correct horse battery staple")));
    }

    [Fact]
    public void A_missing_hash_costs_as_much_as_a_real_check()
    {
        // Without the dummy derivation an unknown email would answer in microseconds and so reveal that it is unknown.
        var hasher = new PasswordHasher(iterations: 100_000);
        var hash = hasher.Hash("correct horse battery staple");
        hasher.Verify("warm-up", null);

        var real = Median(() => hasher.Verify("wrong password!", hash));
        var missing = Median(() => hasher.Verify("wrong password!", null));

        Assert.InRange(missing.TotalMilliseconds, real.TotalMilliseconds * 0.4, real.TotalMilliseconds * 2.5);

        static TimeSpan Median(Action action)
        {
            var times = Enumerable.Range(0, 5).Select(_ =>
            {
                var clock = Stopwatch.StartNew();
                action();
                return clock.Elapsed;
            }).Order().ToList();
            return times[2];
        }
    }

    [Fact]
    public void An_overlong_password_is_refused_before_hashing()
    {
        Assert.Throws<ArgumentException>(() => _fast.Hash(new string('a', 2000)));
        Assert.Equal(PasswordCheck.Failed, _fast.Verify(new string('a', 2000), _fast.Hash("correct horse battery staple")));
    }

    [Theory]
    [InlineData("Tr0ub4dor&3x!", "ada@example.com")]
    [InlineData("correct horse battery staple", "ada@example.com")]
    [InlineData("lovelace-1815-analytical", "ada@example.com")]
    public void Strong_passwords_pass(string password, string email)
        => Assert.Empty(PasswordPolicy.Problems(password, email));

    [Theory]
    [InlineData("Sh0rt!", "ada@example.com", "at least 12 characters")]
    [InlineData("alllowercaseletters", "ada@example.com", "two kinds of character")]
    [InlineData("123456789012345", "ada@example.com", "two kinds of character")]
    [InlineData("xxxxxxxxxxxxxxxx", "ada@example.com", "single character")]
    [InlineData("ADA@EXAMPLE.COM!", "ada@example.com", "email address")]
    [InlineData("lovelace2024!", "lovelace@example.com", "email address's name")]
    public void Weak_passwords_are_refused_with_the_reason(string password, string email, string reason)
    {
        var error = Assert.Throws<WeakPasswordException>(() => PasswordPolicy.Enforce(password, email));
        Assert.Contains(error.Problems, p => p.Contains(reason));
        Assert.Contains(reason, error.Message);
        Assert.DoesNotContain(password, error.Message);
    }
}
