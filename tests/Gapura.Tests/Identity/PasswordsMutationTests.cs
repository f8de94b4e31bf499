using System.Security.Cryptography;
using System.Text;
using Gapura.Identity;

namespace Gapura.Tests.Identity;

/// <summary>
/// Password hashes and the strength rule at their edges: the lengths, sizes and counts a user or a stored hash sits
/// exactly on (found by mutation testing: see DEVELOPERS.md, "Mutation testing").
/// </summary>
public class PasswordsMutationTests
{
    private readonly PasswordHasher _fast = new(iterations: 1_000);

    private static string Encoded(int iterations, byte[] salt, byte[] hash)
        => $"pbkdf2-sha256${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";

    private static byte[] Derive(string password, byte[] salt, int iterations, int size)
        => Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, size);

    [Fact]
    public void A_hasher_needs_at_least_one_iteration_and_writes_its_count()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new PasswordHasher(iterations: 0));
        var once = new PasswordHasher(iterations: 1);
        Assert.Equal("1", once.Hash("one iteration!").Split('$')[1]);
        Assert.Equal(PasswordCheck.Succeeded, once.Verify("one iteration!", once.Hash("one iteration!")));
        Assert.Equal("password", Assert.Throws<ArgumentNullException>(() => _fast.Hash(null!)).ParamName);
        Assert.Equal("password", Assert.Throws<ArgumentNullException>(() => _fast.Verify(null!, null)).ParamName);
        Assert.Equal("1000", _fast.Hash("correct horse battery staple").Split('$')[1]);
    }

    [Fact]
    public void A_password_of_exactly_the_maximum_length_is_hashed_and_one_longer_is_refused()
    {
        var longest = new string('a', PasswordHasher.MaxPasswordLength - 1) + "B";
        var hash = _fast.Hash(longest);
        Assert.Equal(PasswordCheck.Succeeded, _fast.Verify(longest, hash));

        var error = Assert.Throws<ArgumentException>(() => _fast.Hash(longest + "c"));
        Assert.Contains("at most 1024 characters", error.Message);
        Assert.Equal(PasswordCheck.Failed, _fast.Verify(longest + "c", hash));
    }

    [Fact]
    public void The_smallest_readable_salt_and_hash_verify_and_anything_shorter_fails()
    {
        var salt = new byte[8];
        Assert.Equal(PasswordCheck.Succeeded, _fast.Verify("correct horse", Encoded(1_000, salt, Derive("correct horse", salt, 1_000, 16))));
        Assert.Equal(PasswordCheck.Failed, _fast.Verify("wrong horse", Encoded(1_000, salt, Derive("correct horse", salt, 1_000, 16))));

        var shortSalt = new byte[7];
        Assert.Equal(PasswordCheck.Failed, _fast.Verify("correct horse", Encoded(1_000, shortSalt, Derive("correct horse", shortSalt, 1_000, 16))));
        Assert.Equal(PasswordCheck.Failed, _fast.Verify("correct horse", Encoded(1_000, salt, Derive("correct horse", salt, 1_000, 15))));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void A_stored_hash_claiming_no_iterations_fails_without_throwing(int iterations)
    {
        var salt = new byte[16];
        var encoded = $"pbkdf2-sha256${iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(new byte[32])}";
        Assert.Equal(PasswordCheck.Failed, _fast.Verify("correct horse", encoded));
    }

    [Fact]
    public void A_hash_with_more_iterations_than_today_verifies_without_a_rehash()
    {
        var stronger = new PasswordHasher(iterations: 2_000).Hash("correct horse battery staple");
        Assert.Equal(PasswordCheck.Succeeded, _fast.Verify("correct horse battery staple", stronger));
        Assert.Equal(PasswordCheck.SucceededNeedsRehash, new PasswordHasher(iterations: 1_001).Verify("correct horse battery staple", _fast.Hash("correct horse battery staple")));
    }

    [Fact]
    public void A_hash_with_a_broken_salt_or_digest_fails_without_throwing()
    {
        var parts = _fast.Hash("correct horse battery staple").Split('$');
        Assert.Equal(PasswordCheck.Failed, _fast.Verify("correct horse battery staple", $"{parts[0]}${parts[1]}$!!!${parts[3]}"));
        Assert.Equal(PasswordCheck.Failed, _fast.Verify("correct horse battery staple", $"{parts[0]}${parts[1]}${parts[2]}$!!!"));
        Assert.Equal(PasswordCheck.Failed, _fast.Verify("correct horse battery staple", $"{parts[0]}${parts[1]}${parts[2]}${parts[3]}$extra"));
    }

    [Theory]
    [InlineData("abcdefghijk1")] // lower + digit, exactly the minimum length
    [InlineData("abcdefghijkL")] // lower + upper
    [InlineData("abcdefghijk!")] // lower + symbol
    [InlineData("ABCDEFGHIJK1")] // upper + digit
    [InlineData("12345678901!")] // digit + symbol
    public void Twelve_characters_of_two_kinds_pass(string password)
        => Assert.Empty(PasswordPolicy.Problems(password, "someone@example.com"));

    [Fact]
    public void Each_rule_reports_exactly_its_own_problem()
    {
        Assert.Equal(["it must be at least 12 characters long (it has 11)"], PasswordPolicy.Problems("abcdefghij1", null));
        Assert.Equal(["it must be at least 12 characters long (it has 0)"], PasswordPolicy.Problems(null, null));
        Assert.Equal(["it must mix at least two kinds of character (lower case, upper case, digits, symbols)"], PasswordPolicy.Problems("abcdefghijkl", null));
        Assert.Equal(["it must be at most 1024 characters long"], PasswordPolicy.Problems(new string('a', 1024) + "B", null));
        Assert.Empty(PasswordPolicy.Problems(new string('a', 1023) + "B", null));
    }

    [Fact]
    public void A_password_repeating_one_character_breaks_two_rules_and_the_message_lists_both()
    {
        var error = Assert.Throws<WeakPasswordException>(() => PasswordPolicy.Enforce("aaaaaaaaaaaa", null));

        Assert.Equal(["it must mix at least two kinds of character (lower case, upper case, digits, symbols)", "it must not repeat a single character"], error.Problems);
        Assert.Equal("The password is too weak: it must mix at least two kinds of character (lower case, upper case, digits, symbols); it must not repeat a single character.", error.Message);
        PasswordPolicy.Enforce("abcdefghijk1", null);
    }

    [Theory]
    [InlineData("lova1234567!", "lova@example.com", true)]   // a four-letter name plus fewer than twelve others
    [InlineData("lova1234567890!", "lova@example.com", true)]   // plus eleven others
    [InlineData("lova12345678901!", "lova@example.com", false)] // plus twelve others: long enough on its own
    [InlineData("bob123456789!", "bob@example.com", false)]  // a three-letter name is too common to refuse
    [InlineData("xLOVA1234567!", " Lova@Example.com ", true)]
    public void A_password_built_on_the_email_name_is_refused_unless_the_rest_is_long_enough(string password, string email, bool refused)
        => Assert.Equal(refused, PasswordPolicy.Problems(password, email).Contains("it must not be built on the email address's name"));

    [Theory]
    [InlineData("ada@example.com", "my ada@example.com pass", "it must not contain the email address")]
    [InlineData("  ada@example.com  ", "my ADA@EXAMPLE.COM pass", "it must not contain the email address")]
    public void A_password_containing_the_whole_address_says_so_once(string email, string password, string problem)
        => Assert.Equal([problem], PasswordPolicy.Problems(password, email));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    public void Without_an_email_only_the_password_itself_is_judged(string? email)
        => Assert.Empty(PasswordPolicy.Problems("lova1234567!", email));
}
