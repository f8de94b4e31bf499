using Gapura.Api.Admin;

namespace Gapura.Web.Components.Users;

/// <summary>How the console names an account's state, the same on the list and on a user's page.</summary>
internal static class UserState
{
    public static string Of(UserView user)
        => user.Disabled ? "disabled"
            : user.LockedUntil is { } until && until > DateTimeOffset.UtcNow ? "locked"
            : !user.HasPassword ? "no password"
            : "active";
}
