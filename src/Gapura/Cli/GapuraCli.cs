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
        root.Subcommands.Add(DoctorCommand.Create());
        root.Subcommands.Add(SetupCommand.Create());
        root.Subcommands.Add(ProbeLimitsCommand.Create());
        var invocation = new InvocationConfiguration();
        if (output is not null) invocation.Output = output;
        if (error is not null) invocation.Error = error;
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // A wrong command line is the caller's to fix: one short line and exit code 2, not the parser's help page and 1.
            var command = string.Join(' ', ParentNames(parse.CommandResult.Command));
            // "Unrecognized command 'foo'" says more than the "Required command was not provided" that comes with it.
            var errors = parse.Errors.Select(e => e.Message).ToList();
            if (errors.Count > 1) errors.RemoveAll(m => m.StartsWith("Required command", StringComparison.Ordinal));
            await invocation.Error.WriteLineAsync($"error: {string.Join(" ", errors)} (see `{command} --help`)");
            return CliExit.Usage;
        }
        if (StrayToken(parse) is { } stray)
        {
            var command = string.Join(' ', ParentNames(parse.CommandResult.Command));
            await invocation.Error.WriteLineAsync($"error: unknown argument '{stray}' (settings are given as --Section:Key=value; see `{command} --help`)");
            return CliExit.Usage;
        }
        // `serve` stops through the web host (graceful shutdown, Gateway:ShutdownTimeoutSeconds). System.CommandLine's own
        // Ctrl-C / SIGTERM handling would return 2 s after the signal and so end the process, cutting open streams mid-answer.
        if (parse.CommandResult.Command.Name == ServeCommand.Name) invocation.ProcessTerminationTimeout = null;
        return await parse.InvokeAsync(invocation, ct);
    }

    /// <summary>
    /// The first token no verb knows that is not a setting. Verbs hand tokens they do not know to configuration, so a
    /// mistyped option or a stray word must be caught here, or it would be silently taken for a setting (or ignored).
    /// <c>serve</c> also takes ASP.NET's own forms: <c>--urls http://…</c> (a value after a name) and <c>--urls=…</c>.
    /// </summary>
    private static string? StrayToken(ParseResult parse)
    {
        var serve = parse.CommandResult.Command.Name == ServeCommand.Name;
        string? previous = null;
        foreach (var token in parse.UnmatchedTokens)
        {
            var isName = token.StartsWith("--", StringComparison.Ordinal);
            var valueOfPrevious = serve && !isName && previous is not null && previous.StartsWith("--", StringComparison.Ordinal) && !previous.Contains('=');
            if (!valueOfPrevious && (!isName || (!serve && !token.Contains(':')))) return token;
            previous = token;
        }
        return null;
    }

    /// <summary>"gapura users add" for the <c>add</c> command under <c>users</c>.</summary>
    private static IEnumerable<string> ParentNames(Command command)
    {
        var names = new List<string>();
        for (Symbol? s = command; s is not null; s = s.Parents.OfType<Command>().FirstOrDefault())
            names.Insert(0, s is RootCommand ? "gapura" : s.Name);
        return names;
    }
}
