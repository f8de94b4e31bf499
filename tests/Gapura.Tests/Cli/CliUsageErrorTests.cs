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
        { [], "error: Required command was not provided. (see `gapura --help`)" },
        { ["frobnicate"], "error: Unrecognized command or argument 'frobnicate'. (see `gapura --help`)" },
        { ["users"], "error: Required command was not provided. (see `gapura users --help`)" },
        { ["users", "add"], "error: Required argument missing for command: 'add'. (see `gapura users add --help`)" },
        { ["users", "claim"], "error: Required argument missing for command: 'claim'. (see `gapura users claim --help`)" },
        { ["users", "delete"], "error: Required argument missing for command: 'delete'." },
        { ["keys", "create"], "error: Option '--user' is required. (see `gapura keys create --help`)" },
        { ["keys", "create", "--user"], "(see `gapura keys create --help`)" },
        { ["keys", "revoke"], "(see `gapura keys revoke --help`)" },
        { ["login"], "(see `gapura login --help`)" },
        { ["secrets"], "(see `gapura secrets --help`)" },
        { ["routing"], "(see `gapura routing --help`)" },
        { ["budgets"], "(see `gapura budgets --help`)" },
        { ["models"], "(see `gapura models --help`)" },
        { ["users", "list", "stray"], "error: unknown argument 'stray' (settings are given as --Section:Key=value; see `gapura users list --help`)" },
        { ["users", "list", "--Storage:Path", "x.db"], "error: unknown argument 'x.db'" },
        { ["login", "kiro", "stray"], "error: unknown argument 'stray'" },
        { ["secrets", "rotate", "--bogus"], "error: unknown argument '--bogus'" },
        { ["serve", "stray"], "error: unknown argument 'stray'" },
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
        Assert.Equal("error: Unrecognized command or argument 'frobnicate'. (see `gapura --help`)", stderr.Trim());
        Assert.Equal("", stdout);
    }
}
