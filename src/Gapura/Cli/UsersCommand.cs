using System.CommandLine;
using Gapura.Identity;
using Gapura.Storage;

namespace Gapura.Cli;

/// <summary><c>gapura users add|claim|list|disable|enable|delete</c>: accounts, straight on the database.</summary>
internal static class UsersCommand
{
    public static Command Create()
    {
        var users = new Command("users", "Manage user accounts (works on the database named by Storage:* / ConnectionStrings:Postgres, like serve).");
        users.Subcommands.Add(Add());
        users.Subcommands.Add(Claim());
        users.Subcommands.Add(List());
        users.Subcommands.Add(SetDisabled("disable", true));
        users.Subcommands.Add(SetDisabled("enable", false));
        users.Subcommands.Add(Delete());
        return users;
    }

    private static Command Add()
    {
        var email = new Argument<string>("email") { Description = "The new user's email address." };
        var admin = new Option<bool>("--admin") { Description = "Make the user an admin." };
        var name = new Option<string?>("--name") { Description = "Display name." };
        var password = new Option<string?>("--password") { Description = "Password for the admin API (at least 12 characters). Without one the user has no password sign-in until it is set." };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read the password from the first line of standard input (keeps it out of the process list)." };
        var command = new Command("add", "Create a user.") { email, admin, name, password, passwordStdin };
        CliSession.SetAction(command, async (cli, parse, ct) =>
        {
            var address = ValidateEmail(parse.GetValue(email));
            var hash = await PasswordHashAsync(parse, password, passwordStdin, address, ct);
            var role = parse.GetValue(admin) ? UserRole.Admin : UserRole.User;
            // The first admin someone adds on a single-user install is meant to be them: the owner account (which holds the
            // bootstrap key) becomes that admin, rather than a second admin beside a nameless owner.
            if (role == UserRole.Admin && await OnlyTheUnclaimedOwnerAsync(cli, ct))
                return await ClaimOwnerAsync(cli, address, parse.GetValue(name), hash, ct);
            var user = await cli.Store.InTransactionAsync(async s =>
            {
                var created = await s.Users.CreateAsync(new NewUser(address, parse.GetValue(name) ?? "", role, hash), ct);
                await cli.AuditAsync(s, "user.create", "user:" + created.Email, $"role={UserRepository.RoleText(role)}{(hash is null ? "" : ", with password")}", ct);
                return created;
            }, ct);
            await cli.Err.WriteLineAsync($"Created {UserRepository.RoleText(user.Role)} {user.Email} (id {user.Id})." +
                (hash is null ? " No password yet: give them a key with `gapura keys create --user " + user.Email + "`, or set one through the admin API." : ""));
            return CliExit.Ok;
        });
        return command;
    }

    private static Command Claim()
    {
        var email = new Argument<string>("email") { Description = "Your email address: the owner account's from now on." };
        var name = new Option<string?>("--name") { Description = "Display name." };
        var password = new Option<string?>("--password") { Description = "Password for the web console and admin API (at least 12 characters)." };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "Read the password from the first line of standard input (keeps it out of the process list)." };
        var command = new Command("claim", "Give the owner account — the admin the first start created, which holds the key in data/api-key — your e-mail and a password, so you can sign in to the console.")
            { email, name, password, passwordStdin };
        CliSession.SetAction(command, async (cli, parse, ct) =>
        {
            var address = ValidateEmail(parse.GetValue(email));
            // Claiming is for signing in: without a password it would end set-up and leave nobody able to.
            var hash = await PasswordHashAsync(parse, password, passwordStdin, address, ct)
                ?? throw new CliException("Give the password with --password-stdin (or --password).", CliExit.Usage);
            return await ClaimOwnerAsync(cli, address, parse.GetValue(name), hash, ct);
        });
        return command;
    }

    private static async Task<int> ClaimOwnerAsync(CliSession cli, string address, string? name, string? hash, CancellationToken ct)
    {
        var user = await cli.Store.InTransactionAsync(async s =>
        {
            var claimed = await OwnerAccount.ClaimAsync(s, address, name, hash, ct)
                ?? throw new CliException("There is no unclaimed owner account: the owner already has an e-mail (see `gapura users list`).");
            await cli.AuditAsync(s, "user.claim", "user:" + claimed.Email, hash is null ? "owner account given an e-mail" : "owner account given an e-mail and password", ct);
            return claimed;
        }, ct);
        await cli.Err.WriteLineAsync($"The owner account (id {user.Id}, admin; it holds the bootstrap key) is now {user.Email}." +
            (hash is null ? " No password yet: set one through the admin API to sign in to the console." : " Sign in to the console with it."));
        return CliExit.Ok;
    }

    private static async Task<bool> OnlyTheUnclaimedOwnerAsync(CliSession cli, CancellationToken ct)
        => await cli.Store.Users.ListAsync(ct) is [var only] && OwnerAccount.IsUnclaimed(only);

    /// <summary>The password from --password or --password-stdin, checked and hashed; null when neither was given.</summary>
    private static async Task<string?> PasswordHashAsync(ParseResult parse, Option<string?> password, Option<bool> passwordStdin, string address, CancellationToken ct)
    {
        var secret = parse.GetValue(password);
        if (parse.GetValue(passwordStdin))
        {
            if (secret is not null) throw new CliException("Give --password or --password-stdin, not both.", CliExit.Usage);
            secret = (await Console.In.ReadLineAsync(ct))?.TrimEnd('\r', '\n') ?? "";
        }
        if (secret is null) return null;
        PasswordPolicy.Enforce(secret, address);
        return new PasswordHasher().Hash(secret);
    }

    private static Command List()
    {
        var command = new Command("list", "List users.");
        CliSession.SetAction(command, async (cli, _, ct) =>
        {
            var users = await cli.Store.Users.ListAsync(ct);
            CliTable.Write(cli.Out, ["ID", "EMAIL", "ROLE", "STATUS", "2FA", "PASSWORD", "CREATED", "NAME"], users.Select(u => (IReadOnlyList<string>)
            [
                u.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), u.Email, UserRepository.RoleText(u.Role),
                u.Disabled ? "disabled" : "active", u.TotpEnabled ? "totp" : "-", u.HasPassword ? "yes" : "no",
                CliTable.Time(u.CreatedAt), u.DisplayName,
            ]));
            return CliExit.Ok;
        });
        return command;
    }

    private static Command SetDisabled(string verb, bool disabled)
    {
        var email = new Argument<string>("email") { Description = "The user's email address." };
        var command = new Command(verb, disabled
            ? "Disable a user: their keys and sessions stop working on every instance within seconds."
            : "Enable a disabled user again.") { email };
        CliSession.SetAction(command, async (cli, parse, ct) =>
        {
            var user = await cli.UserByEmailAsync(parse.GetValue(email)!, ct);
            if (user.Disabled == disabled)
            {
                await cli.Err.WriteLineAsync($"{user.Email} is already {(disabled ? "disabled" : "enabled")}.");
                return CliExit.Ok;
            }
            await cli.Store.InTransactionAsync(async s =>
            {
                await s.Users.SetDisabledAsync(user.Id, disabled, ct);
                if (disabled) await s.Sessions.DeleteForUserAsync(user.Id, ct: ct);
                await cli.AuditAsync(s, "user.update", "user:" + user.Email, disabled ? "disabled" : "enabled", ct);
            }, ct);
            await cli.Err.WriteLineAsync($"{(disabled ? "Disabled" : "Enabled")} {user.Email}.");
            return CliExit.Ok;
        });
        return command;
    }

    private static Command Delete()
    {
        var email = new Argument<string>("email") { Description = "The user's email address." };
        var command = new Command("delete", "Delete a user with their keys, upstream logins and sessions.") { email };
        CliSession.SetAction(command, async (cli, parse, ct) =>
        {
            var user = await cli.UserByEmailAsync(parse.GetValue(email)!, ct);
            await cli.Store.InTransactionAsync(async s =>
            {
                await s.Users.DeleteAsync(user.Id, ct);
                await cli.AuditAsync(s, "user.delete", "user:" + user.Email, null, ct);
            }, ct);
            await cli.Err.WriteLineAsync($"Deleted {user.Email}.");
            return CliExit.Ok;
        });
        return command;
    }

    private static string ValidateEmail(string? email) => EmailAddress.Validate(email);
}
