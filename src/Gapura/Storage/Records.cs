namespace Gapura.Storage;

internal enum UserRole
{
    User,
    Admin,
}

/// <summary>A user as the gateway sees it. Credentials (password hash, TOTP seed) are read separately, never carried here.</summary>
internal sealed record User(
    long Id,
    string Email,
    string DisplayName,
    UserRole Role,
    bool Disabled,
    bool HasPassword,
    bool TotpEnabled,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    public bool IsAdmin => Role == UserRole.Admin;
}

internal sealed record NewUser(string Email, string DisplayName = "", UserRole Role = UserRole.User, string? PasswordHash = null);

/// <summary>A stored client API key. Only the SHA-256 of the key is kept; <see cref="Prefix"/> is what people see.</summary>
internal sealed record ApiKey(
    long Id,
    long UserId,
    string Name,
    string Prefix,
    string Hash,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? RevokedAt,
    DateTimeOffset? LastUsedAt)
{
    public bool IsActiveAt(DateTimeOffset now) => RevokedAt is null && (ExpiresAt is not { } expires || expires > now);
}

internal sealed record NewApiKey(long UserId, string Name, string Prefix, string Hash, DateTimeOffset? ExpiresAt = null);

/// <summary>An active key together with what authorisation needs to know about its owner.</summary>
internal sealed record ActiveApiKey(ApiKey Key, string OwnerEmail, UserRole OwnerRole);

internal enum UpstreamLoginStatus
{
    Alive,
    Dead,
}

/// <summary>A user's login at an upstream provider. The tokens are read with <see cref="IUpstreamLoginRepository.ReadSecretAsync"/>.</summary>
internal sealed record UpstreamLogin(
    long Id,
    long UserId,
    string Provider,
    string Label,
    UpstreamLoginStatus Status,
    string? LastError,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

internal sealed record AuditEntry(long Id, DateTimeOffset At, string Actor, string Action, string? Target, string? Detail, string? RemoteAddr);

/// <summary>Who did what to what, from where. <paramref name="Detail"/> must never carry a secret.</summary>
internal sealed record NewAuditEntry(string Actor, string Action, string? Target = null, string? Detail = null, string? RemoteAddr = null);

internal sealed record AuditQuery(DateTimeOffset? Since = null, string? Actor = null, string? Target = null, long? BeforeId = null, int Limit = 100);

internal sealed record Setting(string Key, string? Value, bool IsSecret, DateTimeOffset UpdatedAt);

/// <summary>What kind of row a change-feed entry is about.</summary>
internal static class ChangeEntity
{
    public const string User = "user";
    public const string ApiKey = "api_key";
    public const string UpstreamLogin = "upstream_login";
    public const string Setting = "setting";
}

internal sealed record Change(long Seq, string Entity, string EntityId);

/// <param name="Version">The change sequence the caller is now up to date with.</param>
/// <param name="Complete">
/// False when entries between the caller's version and <paramref name="Version"/> are gone (pruned, or
/// the database was replaced): the caller must reload everything instead of applying the list.
/// </param>
internal sealed record ChangeBatch(long Version, IReadOnlyList<Change> Changes, bool Complete);
