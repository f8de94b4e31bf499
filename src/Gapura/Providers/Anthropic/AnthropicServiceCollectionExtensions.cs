using Gapura.Routing;
using Microsoft.Extensions.Options;

namespace Gapura.Providers.Anthropic;

internal static class AnthropicServiceCollectionExtensions
{
    /// <summary>
    /// Registers the Anthropic provider (client, model catalog, provider as <see cref="IChatProvider"/> and
    /// <see cref="IPassthroughProvider"/>) — only when <c>Providers:Anthropic:ApiKey</c> is set, so a gateway
    /// without a key is exactly the Kiro-only set-up.
    /// </summary>
    public static IServiceCollection AddAnthropicProvider(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(AnthropicOptions.Section);
        if (string.IsNullOrWhiteSpace(section[nameof(AnthropicOptions.ApiKey)])) return services;

        services.Configure<AnthropicOptions>(section);
        services.AddSingleton(sp => new AnthropicClient(
            CreateStreamingHttpClient(),
            sp.GetRequiredService<IOptions<AnthropicOptions>>(),
            sp.GetRequiredService<ILogger<AnthropicClient>>(),
            sp.GetService<TimeProvider>()));
        services.AddSingleton<IAnthropicModelSource>(sp => sp.GetRequiredService<AnthropicClient>());
        services.AddSingleton<AnthropicModelCatalog>();
        services.AddSingleton<IModelCatalog>(sp => sp.GetRequiredService<AnthropicModelCatalog>());
        services.AddSingleton<AnthropicProvider>();
        services.AddSingleton<IChatProvider>(sp => sp.GetRequiredService<AnthropicProvider>());
        services.AddSingleton<IPassthroughProvider>(sp => sp.GetRequiredService<AnthropicProvider>());
        return services;
    }

    /// <summary>
    /// No overall timeout: answers stream for minutes; the pipeline's first-byte and idle timeouts bound the
    /// wait. Connections are recycled so a moved upstream address is picked up.
    /// </summary>
    private static HttpClient CreateStreamingHttpClient() => new(new SocketsHttpHandler
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(15),
        AutomaticDecompression = System.Net.DecompressionMethods.All,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };
}
