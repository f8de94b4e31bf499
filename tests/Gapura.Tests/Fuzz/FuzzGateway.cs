using Gapura.Tests.Integration;

namespace Gapura.Tests.Fuzz;

/// <summary>
/// The fuzz suites' gateway: a <see cref="GatewayFixture"/> whose own warnings (one per refused request, thousands per
/// run) stay out of the console, and whose GitHub addresses point at a closed loopback port, so a generated request
/// that starts a Copilot device sign-in never leaves the machine.
/// </summary>
public sealed class FuzzGateway : IAsyncLifetime
{
    public GatewayFixture Gateway { get; } = new();

    public async Task InitializeAsync()
    {
        Gateway.Settings.AddRange(
        [
            "--Logging:LogLevel:Gapura=Error",
            "--Providers:Copilot:GitHubBaseUrl=http://127.0.0.1:9",
            "--Providers:Copilot:GitHubApiBaseUrl=http://127.0.0.1:9",
            "--Providers:Copilot:ApiBaseUrl=http://127.0.0.1:9",
        ]);
        await Gateway.InitializeAsync();
    }

    public Task DisposeAsync() => Gateway.DisposeAsync();
}
