using System.CommandLine;

namespace Gapura.Cli;

/// <summary>
/// The command line: <c>serve</c> runs the gateway; the other verbs manage logins (and, later,
/// users, keys and usage). Tokens the parser does not know (<c>--urls</c>, <c>--Section:Key=value</c>)
/// are handed to ASP.NET configuration untouched.
/// </summary>
public static class GapuraCli
{
    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("Gapura — a self-hosted AI gateway for coding agents.");
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(LoginCommand.Create());
        return await root.Parse(args).InvokeAsync();
    }
}
