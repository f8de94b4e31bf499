using System.Text.RegularExpressions;
using Gapura.Storage;

namespace Gapura.Providers.Accounts;

/// <summary>
/// Stores a user's upstream login — any provider's — from the CLI or the admin API alike. Connecting again
/// under an existing label replaces that login's secret and revives it if it was dead: the way out of a dead
/// sign-in. The change and its audit entry are one transaction.
/// </summary>
internal static partial class UserLogins
{
    public const string DefaultLabel = "default";

    /// <summary>Labels appear in headers (<c>x-gapura-login</c>), logs and commands: printable, short, no quotes.</summary>
    public static string? ValidateLabel(string? label)
    {
        if (label is null) return null;
        return LabelPattern().IsMatch(label.Trim()) ? null
            : "label: use 1–64 ASCII letters, digits, spaces or . _ - @ (e.g. 'work' or 'personal').";
    }

    /// <summary>
    /// Records that a login's sign-in was refused, for the admin API and the other instances. The login has
    /// already stopped serving in memory; a database that cannot be reached only costs the record, logged.
    /// </summary>
    public static async Task RecordDeadAsync(IGapuraStore store, ILogger log, object login, long id, string reason)
    {
        log.LogError("{Login} is dead until it is connected anew: {Reason}", login, reason);
        try
        {
            await store.UpstreamLogins.MarkDeadAsync(id, reason);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogWarning("Could not mark {Login} dead in the database: {Error}", login, e.Message);
        }
    }

    /// <returns>The stored login and whether it replaced one with the same label.</returns>
    public static async Task<(UpstreamLogin Login, bool Replaced)> SaveAsync(IGapuraStore store, long userId, string provider, string? label, string secret,
        NewAuditEntry audit, CancellationToken ct)
    {
        label = string.IsNullOrWhiteSpace(label) ? DefaultLabel : label.Trim();
        if (ValidateLabel(label) is { } problem) throw new ArgumentException(problem, nameof(label));
        return await store.InTransactionAsync(async tx =>
        {
            var existing = (await tx.UpstreamLogins.ListAsync(userId, provider, ct))
                .FirstOrDefault(l => string.Equals(l.Label, label, StringComparison.Ordinal));
            UpstreamLogin saved;
            if (existing is not null)
            {
                await tx.UpstreamLogins.UpdateSecretAsync(existing.Id, secret, ct);
                saved = (await tx.UpstreamLogins.FindAsync(existing.Id, ct))!;
            }
            else saved = await tx.UpstreamLogins.AddAsync(userId, provider, label, secret, ct);
            await tx.Audit.WriteAsync(audit with
            {
                Target = $"user:{userId}/login:{saved.Id}",
                Detail = $"{provider} login '{label}' {(existing is null ? "connected" : "replaced by a new sign-in")}",
            }, ct);
            return (saved, existing is not null);
        }, ct);
    }

    [GeneratedRegex(@"^[A-Za-z0-9 ._@-]{1,64}$")]
    private static partial Regex LabelPattern();
}
