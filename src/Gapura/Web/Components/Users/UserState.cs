using Gapura.Api.Admin;
using MudBlazor;

namespace Gapura.Web.Components.Users;

/// <summary>How the console names an account's state, the same on the list and on a user's page.</summary>
internal static class UserState
{
    public static string Of(UserView user)
        => user.Disabled ? "disabled"
            : !user.HasPassword ? "no password"
            : "active";

    public static Color ColorOf(UserView user) => Of(user) switch
    {
        "disabled" => Color.Error,
        "active" => Color.Success,
        _ => Color.Default,
    };
}
