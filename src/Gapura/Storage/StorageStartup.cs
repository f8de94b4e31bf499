using Gapura.Secrets;
using Gapura.Storage.Migrations;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gapura.Storage;

/// <summary>
/// Runs before the gateway takes requests: reach the database, migrate it, check the secrets key.
/// Any failure stops the host with the message of the exception, which says what to fix.
/// </summary>
internal sealed class StorageStartup(Migrator migrator, SecretsStartupCheck secretsCheck, Database database, ILogger<StorageStartup> log) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var result = await migrator.MigrateAsync(cancellationToken);
        log.LogInformation("Storage: {Target}, schema version {Version}", database.Describe(), result.Version);
        await secretsCheck.RunAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
