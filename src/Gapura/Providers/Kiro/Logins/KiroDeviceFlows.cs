using Gapura.Providers.Accounts;
using Gapura.Providers.Kiro.Auth;

namespace Gapura.Providers.Kiro.Logins;

/// <summary>Kiro device sign-ins started through the admin API (AWS SSO OIDC device grant).</summary>
internal sealed class KiroDeviceFlows(KiroDeviceLogin login, TimeProvider time) : DeviceFlows<KiroDeviceCode, KiroCredential>(
    login.StartAsync,
    async (code, ct) =>
    {
        var step = await login.PollOnceAsync(code, ct);
        return (step.Login, step.SlowDown);
    },
    time);
