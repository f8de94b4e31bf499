using Gapura.Conversations;

namespace Gapura.Providers.Accounts;

/// <summary>
/// One account a provider can call an upstream with: the process-wide one from the settings, or a user's
/// own stored login. Providers only ask for the current secret; renewing it is the account's business.
/// </summary>
internal interface IUpstreamAccount
{
    /// <summary>Shown in <c>x-gapura-login</c> and logs: <c>process</c> or the login's label. Never a secret.</summary>
    string Label { get; }

    /// <summary>The secret to sign the next call with, renewed first when it is about to run out (or <paramref name="forceRefresh"/>).</summary>
    /// <exception cref="GatewayException">UpstreamLogin when the sign-in is dead or its renewal was refused.</exception>
    ValueTask<AccountSecret> GetSecretAsync(bool forceRefresh, CancellationToken ct);
}

/// <summary>The process-wide account of a provider, from its settings: it never changes while the gateway runs.</summary>
internal sealed class ProcessAccount(AccountSecret secret) : IUpstreamAccount
{
    public const string ProcessLabel = "process";

    public string Label => ProcessLabel;

    public AccountSecret Secret { get; } = secret;

    public ValueTask<AccountSecret> GetSecretAsync(bool forceRefresh, CancellationToken ct) => ValueTask.FromResult(Secret);

    /// <summary>The account for a configured API key, or null when none is configured.</summary>
    public static ProcessAccount? ForApiKey(string? key) => string.IsNullOrWhiteSpace(key) ? null : new ProcessAccount(AccountSecret.ForApiKey(key));
}

/// <summary>Renews an OAuth sign-in of one provider (Claude, ChatGPT). Registered once per provider that has sign-ins.</summary>
internal interface IAccountRefresher
{
    string Provider { get; }

    /// <summary>A renewed secret. Throws <see cref="GatewayException"/> UpstreamLogin when the upstream refused the refresh token (the sign-in is dead).</summary>
    Task<AccountSecret> RefreshAsync(AccountSecret current, CancellationToken ct);
}
