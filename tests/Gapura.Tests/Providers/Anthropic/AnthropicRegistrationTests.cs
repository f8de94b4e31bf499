using Gapura.Providers;
using Gapura.Providers.Accounts;
using Gapura.Providers.Anthropic;
using Gapura.Storage;
using Gapura.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Gapura.Tests.Providers.Anthropic;

public class AnthropicRegistrationTests
{
    private static ServiceProvider Build(Dictionary<string, string?> settings)
    {
        settings["Storage:Path"] = Path.Combine(Directory.CreateTempSubdirectory("gapura-reg-").FullName, "gapura.db");
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection().AddLogging();
        services.AddSingleton(TimeProvider.System);
        services.AddGapuraStorage(configuration);
        services.AddGapuraRouting(configuration);
        services.AddUpstreamAccounts();
        services.AddAnthropicProvider(configuration);
        return services.BuildServiceProvider();
    }

    [Fact]
    public async Task Without_a_key_the_provider_waits_for_users_accounts_and_offers_no_models()
    {
        await using var sp = Build(new() { ["Providers:Anthropic:BaseUrl"] = "http://127.0.0.1:1" });
        Assert.Equal("anthropic", Assert.Single(sp.GetServices<IChatProvider>()).Name);
        var catalog = Assert.Single(sp.GetServices<IModelCatalog>());
        Assert.Empty(await catalog.ListAsync(default));
        var error = await Assert.ThrowsAsync<Gapura.Conversations.GatewayException>(() => catalog.ResolveAsync("claude-sonnet-4-5", default).AsTask());
        Assert.Contains("nobody has connected an Anthropic account", error.Message);
    }

    [Fact]
    public async Task With_a_key_one_provider_serves_both_contracts_and_the_catalog_is_registered()
    {
        await using var sp = Build(new() { ["Providers:Anthropic:ApiKey"] = "sk-ant-test", ["Providers:Anthropic:BaseUrl"] = "http://127.0.0.1:1/" });
        var chat = Assert.Single(sp.GetServices<IChatProvider>());
        Assert.Equal("anthropic", chat.Name);
        Assert.Same(chat, Assert.Single(sp.GetServices<IPassthroughProvider>()));
        Assert.IsType<AnthropicModelCatalog>(Assert.Single(sp.GetServices<IModelCatalog>()));
        var options = sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<AnthropicOptions>>().Value;
        Assert.Equal("http://127.0.0.1:1", options.ResolvedBaseUrl);
        Assert.Equal("2023-06-01", options.Version);
    }
}
