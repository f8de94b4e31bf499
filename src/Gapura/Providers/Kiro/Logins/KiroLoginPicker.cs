using Gapura.Identity;
using Gapura.Providers.Kiro.Auth;
using Gapura.Routing;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Kiro.Logins;

/// <summary>
/// The Kiro logins a request may use, in order (<see cref="UpstreamLoginPolicy"/>): the caller's own,
/// else the process-wide login when <c>Kiro:ShareProcessLogin</c> allows — the value in the settings table
/// when an admin set one there (effective within a second on every instance), else the configuration's.
/// </summary>
internal sealed class KiroLoginPicker(KiroLoginPool pool, KiroTokenProvider process, RoutingState routing, IOptions<KiroOptions> options)
{
    public const string ShareSetting = "Kiro:ShareProcessLogin";

    private readonly KiroOptions _options = options.Value;

    public bool ShareProcessLogin => routing.GetBool(ShareSetting) ?? _options.ShareProcessLogin;

    public IReadOnlyList<LoginCandidate<IKiroTokenSource>> For(Caller? caller)
    {
        // No caller: a request made by the gateway itself, which has only its own login.
        if (caller is null) return [new LoginCandidate<IKiroTokenSource>("process", process, true)];
        var own = pool.ForUser(caller.UserId);
        var list = new List<(string, IKiroTokenSource, bool)>(own.Count);
        foreach (var login in own) list.Add((login.Label, login, !login.IsDead));
        return UpstreamLoginPolicy.Order<IKiroTokenSource>(KiroLoginPool.Provider, list, process, ShareProcessLogin);
    }
}
