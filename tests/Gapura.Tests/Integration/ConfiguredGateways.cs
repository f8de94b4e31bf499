namespace Gapura.Tests.Integration;

/// <summary>
/// A <see cref="GatewayFixture"/> started with extra settings. Composed rather than derived (the fixture is
/// sealed), and one class per settings set so each test class gets its own gateway and simulator.
/// </summary>
public abstract class ConfiguredGateway : IAsyncLifetime
{
    protected ConfiguredGateway(params string[] settings)
    {
        Gateway = new GatewayFixture();
        Gateway.Settings.AddRange(settings);
    }

    public GatewayFixture Gateway { get; }

    public Task InitializeAsync() => Gateway.InitializeAsync();

    public Task DisposeAsync() => Gateway.DisposeAsync();
}

/// <summary>A 4 KiB body limit, so "too large" needs no megabytes on the wire.</summary>
public sealed class SmallBodyGateway() : ConfiguredGateway("--Gateway:MaxRequestBodyBytes=4096")
{
    public const int Limit = 4096;
}

/// <summary>
/// A first-byte timeout far below the keep-alive interval: a silent upstream must become a 504 before the
/// gateway would have committed to a 200 with its first keep-alive.
/// </summary>
public sealed class FirstByteTimeoutGateway() : ConfiguredGateway(
    "--Gateway:FirstByteTimeoutSeconds=0.5", "--Gateway:KeepAliveSeconds=15");

/// <summary>Keep-alives every 0.2 s, and an idle timeout short enough to test in seconds.</summary>
public sealed class KeepAliveGateway() : ConfiguredGateway(
    "--Gateway:KeepAliveSeconds=0.2", "--Gateway:IdleTimeoutSeconds=2.5");

/// <summary>A small Kiro payload limit, so a modest history has to be trimmed.</summary>
public sealed class SmallPayloadGateway() : ConfiguredGateway("--Kiro:MaxPayloadBytes=20000")
{
    public const int Limit = 20000;
}
