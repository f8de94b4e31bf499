using System.Text.Json.Serialization;
using Gapura.Providers.Accounts;
using Gapura.Storage.Shared;

namespace Gapura.Providers.Copilot;

/// <summary>GitHub device sign-ins for users' Copilot seats, started through the admin API, kept in the shared store.</summary>
internal sealed class CopilotDeviceFlows(GitHubDeviceFlow github, SignInFlowStore flows) : DeviceFlows<GitHubDeviceCode, string>(
    "device:copilot",
    github.StartAsync,
    async (code, ct) =>
    {
        var (token, slowDownTo) = await github.PollOnceAsync(code, ct);
        return (token, slowDownTo is not null);
    },
    CopilotDeviceFlowJson.Default.GitHubDeviceCode,
    flows);

/// <summary>How a waiting GitHub device code is kept, sealed, in the shared store.</summary>
[JsonSerializable(typeof(GitHubDeviceCode))]
internal sealed partial class CopilotDeviceFlowJson : JsonSerializerContext;
