using Gapura.Storage;

namespace Gapura.Identity;

/// <summary>
/// A deliberately plain email check: one <c>@</c>, something on each side, a dot in the domain, no
/// spaces or control characters. Deliverability is the mail server's business; this only catches typos
/// and pasted junk before they become accounts.
/// </summary>
internal static class EmailAddress
{
    public const int MaxLength = 254;

    /// <summary>Returns the address trimmed, or throws <see cref="InvalidEmailException"/> saying what is wrong.</summary>
    public static string Validate(string? email)
    {
        var value = (email ?? "").Trim();
        if (value.Length == 0) throw new InvalidEmailException(value, "it is empty");
        if (value.Length > MaxLength) throw new InvalidEmailException(value[..40] + "…", $"it is longer than {MaxLength} characters");
        foreach (var c in value)
        {
            if (char.IsWhiteSpace(c) || char.IsControl(c)) throw new InvalidEmailException(value, "it contains a space or control character");
        }
        var at = value.IndexOf('@');
        if (at < 0 || at != value.LastIndexOf('@')) throw new InvalidEmailException(value, "it needs exactly one '@'");
        if (at == 0) throw new InvalidEmailException(value, "nothing comes before the '@'");
        var domain = value[(at + 1)..];
        if (domain.Length == 0) throw new InvalidEmailException(value, "nothing comes after the '@'");
        if (!domain.Contains('.') || domain.StartsWith('.') || domain.EndsWith('.') || domain.Contains(".."))
            throw new InvalidEmailException(value, "the domain after the '@' is not a domain name");
        return value;
    }
}
