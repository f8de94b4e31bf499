using System.CommandLine;

namespace Gapura.Cli;

/// <summary>
/// The command line: <c>serve</c> runs the gateway; <c>login</c> signs in to upstreams; <c>users</c>,
/// <c>keys</c>, <c>secrets</c> and <c>usage</c> work directly on the database. Tokens the parser does not know
/// (<c>--urls</c>, <c>--Section:Key=value</c>) are handed to ASP.NET configuration untouched.
/// </summary>
public static class GapuraCli
{
    /// <param name="output">Standard output (the console unless a caller, such as a test, captures it).</param>
    /// <param name="error">Standard error, likewise.</param>
    public static async Task<int> RunAsync(string[] args, TextWriter? output = null, TextWriter? error = null, CancellationToken ct = default)
    {
        var root = new RootCommand("Gapura — a self-hosted AI gateway for coding agents.");
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(LoginCommand.Create(args));
        root.Subcommands.Add(UsersCommand.Create());
        root.Subcommands.Add(KeysCommand.Create());
        root.Subcommands.Add(SecretsCommand.Create());
        root.Subcommands.Add(UsageCommand.Create());
        root.Subcommands.Add(RoutingCommand.Create());
        root.Subcommands.Add(BudgetsCommand.Create());
        root.Subcommands.Add(ModelsCommand.Create());
        root.Subcommands.Add(ProbeLimitsCommand.Create());
        var invocation = new InvocationConfiguration();
        if (output is not null) invocation.Output = output;
        if (error is not null) invocation.Error = error;
        return await root.Parse(args).InvokeAsync(invocation, ct);
    }
}
