using Gapura.Providers;
using Gapura.Providers.Anthropic;
using Gapura.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Providers.Anthropic;

public class AnthropicRegistrationTests
{
    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddLogging();
        services.AddSingleton(TimeProvider.System);
        services.AddAnthropicProvider(configuration);
        return services.BuildServiceProvider();
    }

    [Fact]
    public void Without_a_key_nothing_is_registered()
    {
        using var sp = Build(new() { ["Providers:Anthropic:BaseUrl"] = "http://127.0.0.1:1" });
        Assert.Empty(sp.GetServices<IChatProvider>());
        Assert.Empty(sp.GetServices<IModelCatalog>());
        Assert.Empty(sp.GetServices<IPassthroughProvider>());
    }

    [Fact]
    public void With_a_key_one_provider_serves_both_contracts_and_the_catalog_is_registered()
    {
        using var sp = Build(new() { ["Providers:Anthropic:ApiKey"] = "sk-ant-test", ["Providers:Anthropic:BaseUrl"] = "http://127.0.0.1:1/" });
        var chat = Assert.Single(sp.GetServices<IChatProvider>());
        Assert.Equal("anthropic", chat.Name);
        Assert.Same(chat, Assert.Single(sp.GetServices<IPassthroughProvider>()));
        Assert.IsType<AnthropicModelCatalog>(Assert.Single(sp.GetServices<IModelCatalog>()));
        var options = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<AnthropicOptions>>().Value;
        Assert.Equal("http://127.0.0.1:1", options.ResolvedBaseUrl);
        Assert.Equal("2023-06-01", options.Version);
    }
}
