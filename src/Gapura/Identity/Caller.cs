using Gapura.Storage;

namespace Gapura.Identity;

/// <summary>
/// Who is calling: the user behind the API key (or session). <see cref="KeyId"/> is null for the bootstrap key;
/// <see cref="KeyPrefix"/> is the key's public prefix (<c>bootstrap</c> for the bootstrap key), for the usage ledger.
/// </summary>
internal sealed record Caller(long UserId, string Email, UserRole Role, long? KeyId, string? KeyPrefix = null)
{
    public bool IsAdmin => Role == UserRole.Admin;
}

internal static class CallerHttpContextExtensions
{
    private static readonly object Key = typeof(Caller);

    public static void SetCaller(this HttpContext http, Caller caller) => http.Items[Key] = caller;

    /// <summary>The authenticated caller; endpoints behind the key filter always have one.</summary>
    public static Caller GetCaller(this HttpContext http) =>
        http.Items.TryGetValue(Key, out var caller) && caller is Caller c ? c : throw new InvalidOperationException("No authenticated caller on this request.");

    public static Caller? FindCaller(this HttpContext http) => http.Items.TryGetValue(Key, out var caller) ? caller as Caller : null;
}
