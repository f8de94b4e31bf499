using System.CommandLine;
using Gapura.Api;

namespace Gapura.Cli;

internal static class ServeCommand
{
    public static Command Create()
    {
        var command = new Command("serve", "Run the gateway (default http://127.0.0.1:8000; --urls to change).")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        command.SetAction(async (parse, ct) =>
        {
            var app = GatewayHost.Build([.. parse.UnmatchedTokens]);
            await app.RunAsync(ct);
            return 0;
        });
        return command;
    }
}
