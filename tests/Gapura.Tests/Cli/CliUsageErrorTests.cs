using Gapura.Cli;
using Gapura.Tests.Hosting;

namespace Gapura.Tests.Cli;

/// <summary>A wrong command line — an unknown verb, a missing argument or option, a stray word — exits 2 with one short line.</summary>
public sealed class CliUsageErrorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gapura-cli-usage-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    /// <remarks>No <c>--Storage:Path</c> here: after a verb it would be taken for the missing argument. A usage error is found
    /// before any database is opened.</remarks>
    public static TheoryData<string[], string> UsageErrors => new()
    {
        { [], "gapura: Required command was not provided" },
        { ["frobnicate"], "gapura: Unrecognized command or argument 'frobnicate'" },
        { ["users"], "gapura users: Required command was not provided" },
        { ["users", "add"], "gapura users add: Required argument missing" },
        { ["users", "claim"], "gapura users claim: Required argument missing" },
        { ["users", "delete"], "gapura users delete: Required argument missing" },
        { ["keys", "create"], "gapura keys create: Option '--user' is required" },
        { ["keys", "create", "--user"], "gapura keys create:" },
        { ["keys", "revoke"], "gapura keys revoke:" },
        { ["login"], "gapura login:" },
        { ["secrets"], "gapura secrets:" },
        { ["routing"], "gapura routing:" },
        { ["budgets"], "gapura budgets:" },
        { ["models"], "gapura models:" },
        { ["users", "list", "stray"], "unknown argument 'stray'" },
    };

    [Theory]
    [MemberData(nameof(UsageErrors))]
    public async Task A_usage_error_exits_2_with_one_line(string[] args, string expected)
    {
        var output = new StringWriter();
        var error = new StringWriter();

        var code = await GapuraCli.RunAsync(args, output, error);

        var lines = error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(code == 2 && lines.Length == 1, $"gapura {string.Join(' ', args)}: exit {code}, stderr:\n{error}");
        Assert.Contains(expected, lines[0]);
        Assert.Equal("", output.ToString());
    }

    [Fact]
    public async Task The_real_program_exits_2_on_an_unknown_command()
    {
        var (code, stdout, stderr) = await GapuraProcess.RunAsync(_dir, "frobnicate");

        Assert.Equal(2, code);
        Assert.Equal("gapura: Unrecognized command or argument 'frobnicate'. (see `gapura --help`)", stderr.Trim());
        Assert.Equal("", stdout);
    }
}
