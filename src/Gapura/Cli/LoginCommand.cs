using System.CommandLine;

namespace Gapura.Cli;

internal static class LoginCommand
{
    public static Command Create()
    {
        var login = new Command("login", "Sign in to an upstream provider.");
        var kiro = new Command("kiro", "Sign in to Kiro (AWS Builder ID / IAM Identity Center device flow).")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        kiro.SetAction((parse, ct) => Task.FromResult(KiroLoginPlaceholder()));
        login.Subcommands.Add(kiro);
        return login;
    }

    private static int KiroLoginPlaceholder()
    {
        Console.Error.WriteLine("login kiro: not yet wired");
        return 1;
    }
}
