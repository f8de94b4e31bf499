using Gapura.Providers.Accounts;
using Gapura.Providers.Kiro.Auth;
using Gapura.Storage;

namespace Gapura.Providers.Kiro.Logins;

/// <summary>
/// Stores a user's new Kiro login after a device sign-in (<see cref="UserLogins.SaveAsync"/>), in the Kiro IDE's token-file format.
/// </summary>
internal static class KiroUserLogins
{
    public const string DefaultLabel = UserLogins.DefaultLabel;

    public static string? ValidateLabel(string? label) => UserLogins.ValidateLabel(label);

    /// <returns>The stored login and whether it replaced one with the same label.</returns>
    public static Task<(UpstreamLogin Login, bool Replaced)> SaveAsync(IGapuraStore store, long userId, string? label, KiroCredential credential,
        string? startUrl, DateTimeOffset? clientSecretExpiresAt, NewAuditEntry audit, CancellationToken ct)
        => UserLogins.SaveAsync(store, userId, KiroLoginPool.Provider, label,
            KiroLoginSecret.Serialize(KiroCredentialFile.ToJson(credential, startUrl, clientSecretExpiresAt)), audit, ct);
}
