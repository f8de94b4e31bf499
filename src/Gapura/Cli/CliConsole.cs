using Spectre.Console;

namespace Gapura.Cli;

/// <summary>A Spectre.Console for a CLI writer: colour on a terminal, plain text when captured or piped.</summary>
internal static class CliConsole
{
    public static IAnsiConsole For(TextWriter output)
    {
        var terminal = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = ColorSystemSupport.Detect,
            Interactive = InteractionSupport.No,
        });
        // Not a terminal: Spectre would assume 80 columns and wrap the table.
        if (!terminal) console.Profile.Width = 240;
        return console;
    }
}
