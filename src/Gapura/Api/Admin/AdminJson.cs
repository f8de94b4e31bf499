using System.Text.Json.Serialization;
using Gapura.Storage;

namespace Gapura.Api.Admin;

// The admin API's wire shapes: snake_case JSON through the source generator (no reflection), unknown
// fields refused so a typo is a 400 naming it rather than a silently ignored setting.

internal sealed record ErrorBody(ErrorDetail Error);

internal sealed record ErrorDetail(string Message, string Type, [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Param = null);

internal sealed record SetupRequest(string? Code, string? Email, string? Password, string? DisplayName = null);

internal sealed record SignInRequest(string? Email, string? Password, string? Totp = null, string? RecoveryCode = null);

internal sealed record CreateUserRequest(string? Email, string? DisplayName = null, string? Role = null, string? Password = null);

internal sealed record UpdateUserRequest(string? DisplayName = null, string? Role = null, bool? Disabled = null);

internal sealed record SetPasswordRequest(string? Password, string? CurrentPassword = null);

internal sealed record TotpCodeRequest(string? Code);

internal sealed record DisableTotpRequest(string? Password = null);

internal sealed record CreateKeyRequest(string? Name = null, long? UserId = null, DateTimeOffset? ExpiresAt = null, int? ExpiresInDays = null);

internal sealed record SetSettingRequest(string? Value);

/// <summary>A model's price, USD per million tokens of each bucket.</summary>
internal sealed record SetPriceRequest(double? Input, double? Output, double? CacheRead, double? CacheWrite);

/// <summary><paramref name="Source"/>: builtin, config, admin (or none once an admin price is removed from a model nothing else prices).</summary>
internal sealed record PriceView(string Model, double? Input, double? Output, double? CacheRead, double? CacheWrite, string Source);

internal sealed record PriceList(IReadOnlyList<PriceView> Data, double? KiroUsdPerCredit);

internal sealed record UserView(
    long Id, string Email, string DisplayName, string Role, bool Disabled, bool HasPassword, bool TotpEnabled,
    DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public static UserView From(User u) => new(u.Id, u.Email, u.DisplayName, UserRepository.RoleText(u.Role), u.Disabled,
        u.HasPassword, u.TotpEnabled, u.CreatedAt, u.UpdatedAt);
}

internal sealed record UserList(IReadOnlyList<UserView> Data);

/// <summary>A key as listed: never its hash, never the key.</summary>
internal sealed record KeyView(
    long Id, long UserId, string? UserEmail, string Name, string Prefix, DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt, DateTimeOffset? LastUsedAt, DateTimeOffset? RevokedAt, bool Active)
{
    public static KeyView From(ApiKey k, string? email, DateTimeOffset now)
        => new(k.Id, k.UserId, email, k.Name, k.Prefix, k.CreatedAt, k.ExpiresAt, k.LastUsedAt, k.RevokedAt, k.IsActiveAt(now));
}

internal sealed record KeyList(IReadOnlyList<KeyView> Data);

/// <summary>The answer to creating a key: the only time <see cref="Key"/> is ever shown.</summary>
internal sealed record CreatedKey(string Key, KeyView Info);

internal sealed record SessionView(UserView User, string CsrfToken, DateTimeOffset ExpiresAt);

internal sealed record MeView(UserView User, string Auth, string Actor, string? CsrfToken, DateTimeOffset? SessionExpiresAt, int RecoveryCodesLeft);

internal sealed record TotpEnrollment(string Secret, string OtpauthUri, DateTimeOffset ExpiresAt);

internal sealed record RecoveryCodeList(IReadOnlyList<string> RecoveryCodes);

internal sealed record SettingView(string Key, string? Value, string Default, string Effective, string Description);

internal sealed record SettingList(IReadOnlyList<SettingView> Data);

internal sealed record AuditView(long Id, DateTimeOffset At, string Actor, string Action, string? Target, string? Detail, string? RemoteAddr)
{
    public static AuditView From(AuditEntry e) => new(e.Id, e.At, e.Actor, e.Action, e.Target, e.Detail, e.RemoteAddr);
}

internal sealed record AuditList(IReadOnlyList<AuditView> Data, long? NextBeforeId);

/// <summary>
/// One row of a usage report. The group values appear only for the dimensions grouped by; <c>cost_usd</c> is
/// null when no request of the row had a price (never a made-up 0).
/// </summary>
internal sealed record UsageRowView(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateTimeOffset? Day,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] DateTimeOffset? Hour,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? UserId,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? UserEmail,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? KeyId,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? KeyPrefix,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Client,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Model,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Provider,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Task,
    long Requests, long Errors, long ClientClosed, long InputTokens, long OutputTokens, long CacheReadTokens, long CacheWriteTokens,
    long ReasoningTokens, double Credits, double? CostUsd, long UnpricedRequests, double? AvgDurationMs, double? AvgTtfbMs);

/// <summary>A usage report: the window actually read (bucket starts in [from, to)), the grouping, which rollup answered, rows and their total.</summary>
internal sealed record UsageReportView(DateTimeOffset From, DateTimeOffset To, IReadOnlyList<string> GroupBy, string Source,
    IReadOnlyList<UsageRowView> Data, UsageRowView Totals);

[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(SetupRequest))]
[JsonSerializable(typeof(SignInRequest))]
[JsonSerializable(typeof(CreateUserRequest))]
[JsonSerializable(typeof(UpdateUserRequest))]
[JsonSerializable(typeof(SetPasswordRequest))]
[JsonSerializable(typeof(TotpCodeRequest))]
[JsonSerializable(typeof(DisableTotpRequest))]
[JsonSerializable(typeof(CreateKeyRequest))]
[JsonSerializable(typeof(SetSettingRequest))]
[JsonSerializable(typeof(SetPriceRequest))]
[JsonSerializable(typeof(PriceView))]
[JsonSerializable(typeof(PriceList))]
[JsonSerializable(typeof(UserView))]
[JsonSerializable(typeof(UserList))]
[JsonSerializable(typeof(KeyView))]
[JsonSerializable(typeof(KeyList))]
[JsonSerializable(typeof(CreatedKey))]
[JsonSerializable(typeof(SessionView))]
[JsonSerializable(typeof(MeView))]
[JsonSerializable(typeof(TotpEnrollment))]
[JsonSerializable(typeof(RecoveryCodeList))]
[JsonSerializable(typeof(SettingView))]
[JsonSerializable(typeof(SettingList))]
[JsonSerializable(typeof(AuditView))]
[JsonSerializable(typeof(AuditList))]
[JsonSerializable(typeof(UsageRowView))]
[JsonSerializable(typeof(UsageReportView))]
[JsonSerializable(typeof(StartCanaryRequest))]
[JsonSerializable(typeof(CanaryView))]
[JsonSerializable(typeof(CanaryList))]
[JsonSerializable(typeof(CanaryStatusView))]
[JsonSerializable(typeof(CanaryEndedView))]
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
internal sealed partial class AdminJsonContext : JsonSerializerContext;
