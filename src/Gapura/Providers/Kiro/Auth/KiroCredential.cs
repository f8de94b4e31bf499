namespace Gapura.Providers.Kiro.Auth;

/// <summary>Where a Kiro login was found, so refreshed tokens go back to the same place.</summary>
internal enum KiroCredentialSourceKind
{
    /// <summary>The file named by <c>Kiro:CredentialsFile</c> (Kiro IDE JSON format).</summary>
    ConfiguredFile,

    /// <summary>Gapura's own store, <c>~/.gapura/kiro-credentials.json</c>, written by <c>gapura login kiro</c>.</summary>
    GapuraStore,

    /// <summary>The Kiro IDE's <c>~/.aws/sso/cache/kiro-auth-token.json</c>.</summary>
    KiroIde,

    /// <summary>kiro-cli's (or the older Amazon Q CLI's) SQLite database.</summary>
    KiroCli,

    /// <summary>A user's own login in the gateway database (<c>upstream_logins</c>); <see cref="KiroCredentialSource.Path"/> names the row.</summary>
    UserLogin,
}

/// <param name="Path">The JSON file or SQLite database.</param>
/// <param name="Key">The <c>auth_kv</c> key, for SQLite sources.</param>
internal sealed record KiroCredentialSource(KiroCredentialSourceKind Kind, string Path, string? Key = null)
{
    /// <summary>
    /// What to do when this login is dead or unreadable. A file named by <c>Kiro:CredentialsFile</c> always wins over other
    /// logins, so `gapura login kiro` cannot help there: the file itself must be fixed, or the setting removed.
    /// </summary>
    public string FixAdvice => Kind switch
    {
        KiroCredentialSourceKind.ConfiguredFile =>
            $"Put a working Kiro login in {Path} (sign in again with the program that wrote it), or unset Kiro:CredentialsFile to use `gapura login kiro` instead",
        KiroCredentialSourceKind.UserLogin => "Connect it again: `gapura login kiro --user <email> --label <label>` or the admin API",
        _ => "Run `gapura login kiro` (or sign in again in Kiro)",
    };

    public override string ToString() => Key is null ? $"{Kind} ({Path})" : $"{Kind} ({Path}, {Key})";
}

/// <summary>
/// A Kiro login: the token pair plus what is needed to refresh it. Both login kinds (kiro.md §2) fit:
/// client id and secret present ⇒ AWS SSO OIDC refresh, otherwise the Kiro desktop refresh.
/// </summary>
internal sealed record KiroCredential(
    string AccessToken,
    string RefreshToken,
    DateTimeOffset ExpiresAt,
    string? ProfileArn,
    string? Region,
    string? AuthMethod,
    string? ClientId,
    string? ClientSecret,
    KiroCredentialSource Source)
{
    /// <summary>Whether refreshing goes through AWS SSO OIDC (Builder ID, IAM Identity Center) rather than the desktop endpoint.</summary>
    public bool UsesOidc => !string.IsNullOrEmpty(ClientId) && !string.IsNullOrEmpty(ClientSecret)
        && !string.Equals(AuthMethod, "social", StringComparison.OrdinalIgnoreCase);

    // Records print every member by default; a credential must never reach a log line or a test report with its secrets.
    public override string ToString()
        => $"Kiro {(UsesOidc ? "OIDC" : "social")} login from {Source}, expires {ExpiresAt:O}";
}

/// <summary>What a Kiro call needs: a bearer token and, when known, the profile ARN for the body.</summary>
internal readonly record struct KiroAccessToken(string Token, string? ProfileArn, DateTimeOffset ExpiresAt)
{
    public override string ToString() => $"Kiro access token (expires {ExpiresAt:O})";
}

/// <summary>
/// Anything that hands out Kiro access tokens: the process-wide login (<see cref="KiroTokenProvider"/>) or one
/// user's stored login. <paramref name="forceRefresh"/> after the service refused the token.
/// </summary>
internal interface IKiroTokenSource
{
    ValueTask<KiroAccessToken> GetAsync(bool forceRefresh, CancellationToken ct);

    /// <summary>
    /// Kiro refused <paramref name="rejectedToken"/>: refresh unless the current token is already a different
    /// one. A refused token must never be handed out again, however recent the last refresh.
    /// </summary>
    ValueTask<KiroAccessToken> RefreshRejectedAsync(string rejectedToken, CancellationToken ct);
}

/// <summary>The user's home directory, injectable so tests can point discovery at a temporary folder.</summary>
internal sealed record KiroAuthEnvironment(string HomeDirectory)
{
    public static KiroAuthEnvironment FromSystem() => new(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));

    /// <summary>Expands a leading <c>~/</c> against the home directory.</summary>
    public string Expand(string path)
        => path == "~" ? HomeDirectory
            : path.StartsWith("~/", StringComparison.Ordinal) ? System.IO.Path.Combine(HomeDirectory, path[2..])
            : path;
}
