using System.CommandLine;
using System.Net.Sockets;
using Gapura.Api;
using Gapura.Hosting;
using Microsoft.Extensions.Options;

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
            WebApplication app;
            try
            {
                app = GatewayHost.Build([.. parse.UnmatchedTokens]);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return Refuse(parse, e, urls: null);
            }
            await using (app)
            {
                try
                {
                    await app.StartAsync(ct);
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    return Refuse(parse, e, app.Configuration["urls"]);
                }
                await app.WaitForShutdownAsync(ct);
            }
            return CliExit.Ok;
        });
        return command;
    }

    /// <summary>
    /// A start-up failure (a bad setting, an unreadable key or login file, a database that cannot be reached, an address
    /// in use) is the operator's to fix: one line saying what and how on standard error, exit code 2 — no stack trace.
    /// </summary>
    private static int Refuse(ParseResult parse, Exception e, string? urls)
    {
        parse.InvocationConfiguration.Error.WriteLine("gapura serve: " + StartupFailure.Describe(e, urls));
        return CliExit.Usage;
    }
}

/// <summary>Turns whatever stopped the gateway from starting into one line a person can act on.</summary>
internal static class StartupFailure
{
    public static string Describe(Exception e, string? urls)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } or System.Reflection.TargetInvocationException && e.InnerException is not null)
            e = e.InnerException!;
        var message = e switch
        {
            OptionsValidationException invalid => SettingsValidation.Describe(invalid),
            IOException when InUse(e) =>
                $"cannot listen on {urls ?? GatewayHost.DefaultUrl}: the address is already in use. Stop whatever uses it, or choose another address with --urls=http://127.0.0.1:<port>.",
            // Exceptions of Gapura's own making, and those of settings and files, already say what is wrong in words.
            _ when e.GetType().Namespace?.StartsWith("Gapura", StringComparison.Ordinal) == true => e.Message,
            InvalidOperationException or IOException or UnauthorizedAccessException or FormatException
                or System.Security.Cryptography.CryptographicException or System.Data.Common.DbException => e.Message,
            _ => $"{e.GetType().Name}: {e.Message}",
        };
        // One line, always: a multi-line message would break log shippers that read a line per event.
        return string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    private static bool InUse(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
            if (x is Microsoft.AspNetCore.Connections.AddressInUseException or SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse }) return true;
        return false;
    }
}
