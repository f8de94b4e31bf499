using System.CommandLine;
using System.Security.Cryptography;
using Gapura.Api;
using Gapura.Storage;

namespace Gapura.Cli;

internal static class ServeCommand
{
    public const string Name = "serve";

    public static Command Create()
    {
        var command = new Command(Name, "Run the gateway (default http://127.0.0.1:8000; --urls to change).")
        {
            TreatUnmatchedTokensAsErrors = false,
        };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                var app = GatewayHost.Build([.. parse.UnmatchedTokens]);
                await app.RunAsync(ct);
                return 0;
            }
            catch (Exception e) when (e is StorageException or InvalidOperationException or CryptographicException
                                          or Budgets.BudgetConfigException or Routing.RoutingConfigException)
            {
                // Start-up problems (database unreachable, wrong Secrets:Key, bad settings) are the operator's to
                // fix: one clear line and a non-zero exit, not a stack trace.
                parse.InvocationConfiguration.Error.WriteLine($"gapura serve: {e.Message}");
                return 2;
            }
        });
        return command;
    }
}
