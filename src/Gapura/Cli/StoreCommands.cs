using System.CommandLine;
using Gapura.Identity;
using Gapura.Secrets;
using Gapura.Storage;
using Gapura.Storage.Migrations;

namespace Gapura.Cli;

/// <summary>A refusal of a CLI verb: the message goes to standard error, the code is the process's exit code.</summary>
internal sealed class CliException(string message, int exitCode = CliExit.Refused) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>Exit codes of the verbs that work on the database.</summary>
internal static class CliExit
{
    public const int Ok = 0;
    /// <summary>The request was refused: bad or duplicate input, unknown user or key, last admin.</summary>
    public const int Refused = 1;
    /// <summary>The command line itself is wrong (unknown option, missing argument).</summary>
    public const int Usage = 2;
    /// <summary>The database cannot be reached or migrated, or the secrets key does not fit it.</summary>
    public const int Unavailable = 3;
}

/// <summary>
/// What a verb that works on the database gets: the store of the database <c>serve</c> would use (same
/// settings: appsettings.json, environment, <c>--Section:Key=value</c>), migrated first, plus the two
/// output streams and the actor name the audit log records.
/// </summary>
internal sealed class CliSession(ServiceProvider services, IGapuraStore store, TextWriter output, TextWriter error) : IAsyncDisposable
{
    public IServiceProvider Services => services;
    public IGapuraStore Store { get; } = store;

    /// <summary>Data only (a key, a table): what scripts capture.</summary>
    public TextWriter Out { get; } = output;

    /// <summary>Everything said to the person: confirmations, warnings, errors.</summary>
    public TextWriter Err { get; } = error;

    /// <summary>Who the audit log says did it: the operating-system account that ran the command.</summary>
    public string Actor { get; } = "cli:" + Environment.UserName;

    public TimeProvider Time => services.GetRequiredService<TimeProvider>();

    public Task AuditAsync(IGapuraStore s, string action, string? target, string? detail, CancellationToken ct)
        => s.Audit.WriteAsync(new NewAuditEntry(Actor, action, target, detail, "local"), ct);

    public async Task<User> UserByEmailAsync(string email, CancellationToken ct)
        => await Store.Users.FindByEmailAsync(email, ct) ?? throw new CliException($"There is no user with the email '{email.Trim()}' (see `gapura users list`).");

    /// <param name="upstreams">
    /// Also build the configured upstreams and their model catalogs (the gateway's whole service set, no web host), with
    /// the database's logins and routing settings loaded: for verbs that must know what the upstreams offer.
    /// </param>
    public static async Task<CliSession> OpenAsync(IConfiguration configuration, TextWriter output, TextWriter error, CancellationToken ct, bool upstreams = false)
    {
        var services = new ServiceCollection();
        services.AddLogging(b =>
        {
            b.ClearProviders();
            b.AddProvider(new CliLoggerProvider(error));
            b.SetMinimumLevel(LogLevel.Warning);
        });
        if (upstreams)
        {
            services.AddSingleton(configuration);
            services.AddSingleton(TimeProvider.System);
            Api.GatewayHost.AddGatewayServices(services, configuration);
        }
        else services.AddGapuraStorage(configuration);
        var provider = services.BuildServiceProvider();
        try
        {
            await provider.GetRequiredService<Migrator>().MigrateAsync(ct);
            if (upstreams)
                foreach (var listener in provider.GetServices<Routing.IStoreChangeListener>()) await listener.ReloadAllAsync(ct);
            return new CliSession(provider, provider.GetRequiredService<IGapuraStore>(), output, error);
        }
        catch
        {
            await provider.DisposeAsync();
            throw;
        }
    }

    public ValueTask DisposeAsync() => services.DisposeAsync();

    /// <summary>
    /// Gives <paramref name="command"/> an action that opens the database, runs <paramref name="run"/> and turns
    /// every known failure into a message on standard error and a non-zero exit code. Tokens the parser
    /// does not know must be settings (<c>--Section:Key=value</c>); <see cref="GapuraCli"/> refuses anything else as a
    /// usage error before any verb runs, so a mistyped option is not silently taken for a setting.
    /// </summary>
    public static void SetAction(Command command, Func<CliSession, ParseResult, CancellationToken, Task<int>> run, bool upstreams = false)
    {
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            try
            {
                await using var session = await OpenAsync(LoginCommand.BuildConfiguration([.. parse.UnmatchedTokens]), output, error, ct, upstreams);
                return await run(session, parse, ct);
            }
            catch (Exception e) when (Describe(e) is { } failure)
            {
                await error.WriteLineAsync("error: " + failure.Message);
                return failure.Code;
            }
        });
    }

    private static (string Message, int Code)? Describe(Exception e) => e switch
    {
        CliException c => (c.Message, c.ExitCode),
        Routing.RoutingConfigException => (e.Message, CliExit.Refused),
        DatabaseUnavailableException or MigrationException => (e.Message, CliExit.Unavailable),
        SecretKeyException or SecretDecryptionException => (e.Message, CliExit.Unavailable),
        StorageException or WeakPasswordException => (e.Message, CliExit.Refused),
        // A bad Storage:Provider or a missing connection string.
        InvalidOperationException when e.Message.Contains("Storage:", StringComparison.Ordinal) => (e.Message, CliExit.Unavailable),
        System.Data.Common.DbException => ("the database failed: " + e.Message, CliExit.Unavailable),
        _ => null,
    };
}

/// <summary>Warnings of the storage layer (say, a generated key file) as plain lines on standard error.</summary>
internal sealed class CliLoggerProvider(TextWriter error) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(error);

    public void Dispose() { }

    private sealed class Logger(TextWriter error) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            lock (error) error.WriteLine($"{(logLevel >= LogLevel.Error ? "error" : "warning")}: {formatter(state, exception)}");
        }
    }
}

/// <summary>Plain fixed-width tables for list verbs.</summary>
internal static class CliTable
{
    public static void Write(TextWriter output, IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = rows.ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, all.Count == 0 ? 0 : all.Max(r => r[i].Length))).ToArray();
        output.WriteLine(Line(headers, widths));
        foreach (var row in all) output.WriteLine(Line(row, widths));
    }

    private static string Line(IReadOnlyList<string> cells, int[] widths)
        => string.Join("  ", cells.Select((c, i) => i == cells.Count - 1 ? c : c.PadRight(widths[i]))).TrimEnd();

    public static string Time(DateTimeOffset? t) => t?.ToUniversalTime().ToString("yyyy-MM-dd HH:mm'Z'", System.Globalization.CultureInfo.InvariantCulture) ?? "-";
}
