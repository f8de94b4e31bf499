using System.Text.Json.Serialization;
using Gapura.Providers.Accounts;
using Gapura.Providers.Kiro.Auth;
using Gapura.Storage.Shared;

namespace Gapura.Providers.Kiro.Logins;

/// <summary>Kiro device sign-ins started through the admin API (AWS SSO OIDC device grant), kept in the shared store.</summary>
internal sealed class KiroDeviceFlows(KiroDeviceLogin login, SignInFlowStore flows) : DeviceFlows<KiroDeviceCode, KiroCredential>(
    "device:kiro",
    login.StartAsync,
    async (code, ct) =>
    {
        var step = await login.PollOnceAsync(code, ct);
        return (step.Login, step.SlowDown);
    },
    KiroDeviceFlowJson.Default.KiroDeviceCode,
    flows);

/// <summary>How a waiting Kiro device code (with its client registration) is kept, sealed, in the shared store.</summary>
[JsonSerializable(typeof(KiroDeviceCode))]
internal sealed partial class KiroDeviceFlowJson : JsonSerializerContext;
