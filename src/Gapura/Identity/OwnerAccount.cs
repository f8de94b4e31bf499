using Gapura.Storage;

namespace Gapura.Identity;

/// <summary>
/// The owner account: the admin <c>serve</c> creates on a fresh database so the bootstrap key (which belongs to the
/// first enabled admin) works at once, with no set-up step. It has no e-mail and no password until someone claims it
/// — <c>gapura users claim</c>, the set-up API or the console's set-up page — which gives it both; the key keeps
/// working throughout, because the account (its id) stays the same.
/// </summary>
internal static class OwnerAccount
{
    /// <summary>
    /// Stands in for the e-mail the owner does not have yet (the column is required and unique). The <c>.invalid</c>
    /// top-level domain is reserved (RFC 2606), so this can never be someone's real address.
    /// </summary>
    public const string PlaceholderEmail = "owner@gapura.invalid";

    public const string DisplayName = "Owner";

    public static bool IsUnclaimed(User user) => string.Equals(user.Email, PlaceholderEmail, StringComparison.OrdinalIgnoreCase);

    public static Task<User?> FindUnclaimedAsync(IGapuraStore store, CancellationToken ct) => store.Users.FindByEmailAsync(PlaceholderEmail, ct);

    /// <summary>Creates the owner on an empty database; false when another instance starting at the same moment got there first.</summary>
    public static async Task<bool> TryCreateAsync(IGapuraStore store, CancellationToken ct)
    {
        try
        {
            await store.Users.CreateAsync(new NewUser(PlaceholderEmail, DisplayName, UserRole.Admin), ct);
            return true;
        }
        catch (DuplicateEmailException)
        {
            return false;
        }
    }

    /// <summary>Set-up (the one-time code) is open while there are no users or the owner has no e-mail yet.</summary>
    public static async Task<bool> IsSetupOpenAsync(IGapuraStore store, CancellationToken ct)
        => await store.Users.CountAsync(ct) == 0 || await FindUnclaimedAsync(store, ct) is not null;

    /// <summary>
    /// Whether the console's sign-in page should send people to set-up instead: set-up is open and nobody could sign
    /// in anyway (no user has a password). An admin given a password through the API can still reach sign-in.
    /// </summary>
    public static async Task<bool> ShouldOfferSetupAsync(IGapuraStore store, CancellationToken ct)
        => await IsSetupOpenAsync(store, ct) && !(await store.Users.ListAsync(ct)).Any(u => u.HasPassword);

    /// <summary>
    /// Gives the unclaimed owner its e-mail, name and password; on a database with no users at all (the CLI ran
    /// before any <c>serve</c>), creates the first admin instead. Null when set-up is over (the owner was claimed, or
    /// other users exist but no owner). Call inside a transaction: the check and the change must be one step.
    /// </summary>
    public static async Task<User?> ClaimAsync(IGapuraStore s, string email, string? displayName, string? passwordHash, CancellationToken ct)
    {
        var name = (displayName ?? "").Trim();
        if (await FindUnclaimedAsync(s, ct) is { } owner)
        {
            var claimed = await s.Users.SetEmailAsync(owner.Id, email, ct);
            if (name.Length > 0) claimed = await s.Users.UpdateDisplayNameAsync(owner.Id, name, ct);
            if (passwordHash is not null)
            {
                await s.Users.SetPasswordHashAsync(owner.Id, passwordHash, ct);
                claimed = await s.Users.GetAsync(owner.Id, ct);
            }
            return claimed;
        }
        if (await s.Users.CountAsync(ct) > 0) return null;
        return await s.Users.CreateAsync(new NewUser(email, name.Length > 0 ? name : "Administrator", UserRole.Admin, passwordHash), ct);
    }
}
