using Gapura.Conversations;
using Gapura.Identity;
using Gapura.Routing;

namespace Gapura.Providers.Accounts;

/// <summary>
/// The accounts one provider may call its upstream with, and which of them serve a given caller
/// (<see cref="UpstreamLoginPolicy"/>): the caller's own alive accounts first, else the process-wide account
/// when sharing is allowed — the setting in the settings table when an admin set one there, else the
/// configuration's. Everything is read from memory.
/// </summary>
internal sealed class ProviderAccounts
{
    private readonly AccountPool? _pool;
    private readonly RoutingState? _routing;
    private readonly bool _shareDefault;

    /// <param name="pool">Users' accounts; null for a provider used without users (tools, unit tests): then only <paramref name="process"/> serves.</param>
    public ProviderAccounts(string provider, IUpstreamAccount? process, bool shareDefault, AccountPool? pool, RoutingState? routing,
        LoginCooldowns? cooldowns = null)
    {
        Cooldowns = cooldowns;
        Provider = provider;
        Process = process;
        _shareDefault = shareDefault;
        _pool = pool;
        _routing = routing;
    }

    public string Provider { get; }

    /// <summary>Which of the accounts rest after a failure of their own; null where there is only one account to try.</summary>
    public LoginCooldowns? Cooldowns { get; }

    /// <summary>The gateway's own account from the settings; null when it has none.</summary>
    public IUpstreamAccount? Process { get; }

    public string ShareSetting => UpstreamLoginPolicy.SharedLoginSetting(Provider);

    public bool ShareProcessLogin => _routing?.GetBool(ShareSetting) ?? _shareDefault;

    /// <summary>Only the process-wide account, for a provider used outside a gateway with users.</summary>
    public static ProviderAccounts ProcessOnly(string provider, IUpstreamAccount? process) => new(provider, process, true, null, null);

    /// <summary>The accounts to try for <paramref name="caller"/>, in order.</summary>
    /// <exception cref="GatewayException">UpstreamLogin (503) when none may serve the caller, saying how to connect one.</exception>
    public IReadOnlyList<LoginCandidate<IUpstreamAccount>> For(Caller? caller)
    {
        if (caller is null)
        {
            // A request made by the gateway itself: only its own account.
            return Process is null
                ? throw new GatewayException(ErrorKind.UpstreamLogin, $"The gateway has no {Provider} account of its own.")
                : [new LoginCandidate<IUpstreamAccount>(ProcessAccount.ProcessLabel, Process, true)];
        }
        IReadOnlyList<UserAccount> own = _pool?.ForUser(caller.UserId, Provider) ?? [];
        var list = new List<(string, IUpstreamAccount, bool)>(own.Count);
        foreach (var account in own) list.Add((account.Label, account, !account.IsDead));
        return UpstreamLoginPolicy.Order(Provider, list, Process, ShareProcessLogin);
    }

    /// <summary>Whether some account may serve the caller: what routing and <c>/v1/models</c> ask, without throwing.</summary>
    public bool CanServe(Caller? caller)
    {
        if (caller is null) return Process is not null;
        foreach (var account in _pool?.ForUser(caller.UserId, Provider) ?? [])
            if (!account.IsDead) return true;
        return Process is not null && ShareProcessLogin;
    }

    /// <summary>An account to read the provider's model list with: the gateway's own, else any user's alive one.</summary>
    public IUpstreamAccount? ForModelList() => Process ?? _pool?.AnyAlive(Provider);

    /// <summary>Whether the provider has any account at all (its own or a user's): without one it offers no models.</summary>
    public bool HasAnyAccount => Process is not null || _pool?.AnyFor(Provider) == true;
}
