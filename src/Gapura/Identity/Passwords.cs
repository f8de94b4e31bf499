using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Gapura.Identity;

internal enum PasswordCheck
{
    Failed,
    Succeeded,
    /// <summary>Right password, but hashed with fewer iterations than today's: store a fresh hash.</summary>
    SucceededNeedsRehash,
}

/// <summary>
/// PBKDF2-HMAC-SHA256 password hashes that describe themselves —
/// <c>pbkdf2-sha256$&lt;iterations&gt;$&lt;salt&gt;$&lt;hash&gt;</c> (base64) — so the iteration count can rise
/// later without invalidating stored hashes: old ones still verify and are flagged for rehash.
/// </summary>
internal sealed class PasswordHasher
{
    /// <summary>OWASP's 2023 figure for PBKDF2-HMAC-SHA256.</summary>
    public const int DefaultIterations = 600_000;
    public const string Scheme = "pbkdf2-sha256";

    private const int SaltSize = 16;
    private const int HashSize = 32;

    /// <summary>Above this a password is refused before hashing: PBKDF2 time grows with its length.</summary>
    public const int MaxPasswordLength = 1024;

    // Verified against when a user does not exist or has no password, so the answer takes as long as a real check.
    private readonly Lazy<string> _dummyHash;

    public PasswordHasher(int iterations = DefaultIterations)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 1);
        Iterations = iterations;
        _dummyHash = new Lazy<string>(() => Hash(Convert.ToBase64String(RandomNumberGenerator.GetBytes(16))));
    }

    public int Iterations { get; }

    public string Hash(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        if (password.Length > MaxPasswordLength) throw new ArgumentException($"Passwords are at most {MaxPasswordLength} characters.", nameof(password));
        var salt = RandomNumberGenerator.GetBytes(SaltSize);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, Iterations, HashAlgorithmName.SHA256, HashSize);
        return string.Join('$', Scheme, Iterations.ToString(CultureInfo.InvariantCulture), Convert.ToBase64String(salt), Convert.ToBase64String(hash));
    }

    /// <summary>
    /// Checks <paramref name="password"/> against <paramref name="encoded"/> in constant time. A null or
    /// unreadable hash fails — after the same work as a real check, so timing does not tell a missing
    /// account from a wrong password.
    /// </summary>
    public PasswordCheck Verify(string password, string? encoded)
    {
        ArgumentNullException.ThrowIfNull(password);
        if (password.Length > MaxPasswordLength) return PasswordCheck.Failed;
        if (!TryParse(encoded, out var iterations, out var salt, out var expected))
        {
            _ = TryParse(_dummyHash.Value, out iterations, out salt, out expected);
            _ = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, expected.Length);
            return PasswordCheck.Failed;
        }
        var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, expected.Length);
        if (!CryptographicOperations.FixedTimeEquals(actual, expected)) return PasswordCheck.Failed;
        return iterations < Iterations ? PasswordCheck.SucceededNeedsRehash : PasswordCheck.Succeeded;
    }

    private static bool TryParse(string? encoded, out int iterations, out byte[] salt, out byte[] hash)
    {
        iterations = 0;
        salt = hash = [];
        var parts = encoded?.Split('$');
        if (parts is not { Length: 4 } || parts[0] != Scheme) return false;
        if (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out iterations) || iterations < 1) return false;
        try
        {
            salt = Convert.FromBase64String(parts[2]);
            hash = Convert.FromBase64String(parts[3]);
        }
        catch (FormatException)
        {
            return false;
        }
        return salt.Length >= 8 && hash.Length >= 16;
    }
}

/// <summary>A password that breaks the strength rule; <see cref="Exception.Message"/> lists every problem.</summary>
internal sealed class WeakPasswordException(IReadOnlyList<string> problems)
    : Exception("The password is too weak: " + string.Join("; ", problems) + ".")
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>
/// The strength rule: at least 12 characters, at least two kinds of character (lower case, upper case,
/// digits, others), and not the email address or its local part. Length does most of the work; the rest
/// only stops the obvious.
/// </summary>
internal static class PasswordPolicy
{
    public const int MinLength = 12;

    public static IReadOnlyList<string> Problems(string? password, string? email)
    {
        var problems = new List<string>();
        password ??= "";
        if (password.Length < MinLength) problems.Add($"it must be at least {MinLength} characters long (it has {password.Length})");
        if (password.Length > PasswordHasher.MaxPasswordLength) problems.Add($"it must be at most {PasswordHasher.MaxPasswordLength} characters long");
        var classes = 0;
        if (password.Any(char.IsLower)) classes++;
        if (password.Any(char.IsUpper)) classes++;
        if (password.Any(char.IsDigit)) classes++;
        if (password.Any(c => !char.IsLetterOrDigit(c))) classes++;
        if (password.Length > 0 && classes < 2) problems.Add("it must mix at least two kinds of character (lower case, upper case, digits, symbols)");
        if (password.Length > 0 && password.Distinct().Count() == 1) problems.Add("it must not repeat a single character");
        if (!string.IsNullOrWhiteSpace(email))
        {
            var address = email.Trim();
            var local = address.Split('@')[0];
            if (password.Contains(address, StringComparison.OrdinalIgnoreCase))
                problems.Add("it must not contain the email address");
            else if (local.Length >= 4 && password.Contains(local, StringComparison.OrdinalIgnoreCase) && password.Length - local.Length < MinLength)
                problems.Add("it must not be built on the email address's name");
        }
        return problems;
    }

    /// <summary>Throws <see cref="WeakPasswordException"/> naming every rule the password breaks.</summary>
    public static void Enforce(string? password, string? email)
    {
        var problems = Problems(password, email);
        if (problems.Count > 0) throw new WeakPasswordException(problems);
    }
}
