using Gapura.Providers.Accounts;

namespace Gapura.Providers.Copilot;

/// <summary>GitHub device sign-ins for users' Copilot seats, started through the admin API.</summary>
internal sealed class CopilotDeviceFlows(GitHubDeviceFlow github, TimeProvider time) : DeviceFlows<GitHubDeviceCode, string>(
    github.StartAsync,
    async (code, ct) =>
    {
        var (token, slowDownTo) = await github.PollOnceAsync(code, ct);
        return (token, slowDownTo is not null);
    },
    time);
