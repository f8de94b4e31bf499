using Gapura.Tests.Integration;

namespace Gapura.Tests.Matrix;

/// <summary>
/// One real gateway for the whole matrix, with every provider configured at once next to its simulator;
/// cases pick a provider by the <c>provider/model</c> name they send.
/// </summary>
public sealed class MatrixFixture : IAsyncLifetime
{
    public GatewayFixture Gateway { get; } = new();

    public MatrixProvider[] Providers { get; } = MatrixProvider.Create();

    public HttpClient Http { get; private set; } = null!;

    /// <summary>Client answers by case without the stream/whole part, so the second of a pair is compared with the first.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, ClientAnswer> Answers { get; } = new();

    public MatrixProvider Provider(string name) => Providers.Single(p => p.Name == name);

    public async Task InitializeAsync()
    {
        // The gateway fixture starts the Kiro simulator itself; the others must be listening before the
        // gateway reads their settings.
        var kiro = Providers.OfType<KiroRow>().Single();
        foreach (var provider in Providers.Where(p => p != kiro)) Gateway.Settings.AddRange(await provider.StartAsync(Gateway));
        await Gateway.InitializeAsync();
        await kiro.StartAsync(Gateway);
        Http = Gateway.Http();
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        await Gateway.DisposeAsync();
        foreach (var provider in Providers) await provider.DisposeAsync();
    }
}
