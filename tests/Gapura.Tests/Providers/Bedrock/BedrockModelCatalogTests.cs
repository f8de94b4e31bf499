using Gapura.Conversations;
using Gapura.Providers;
using Gapura.Providers.Accounts;
using Gapura.Providers.Bedrock;
using Gapura.Routing;
using Microsoft.Extensions.Options;

namespace Gapura.Tests.Providers.Bedrock;

public sealed class BedrockModelCatalogTests
{
    private static BedrockModelCatalog Catalog(Action<BedrockOptions>? configure = null)
    {
        var o = new BedrockOptions { Region = "us-east-1" };
        configure?.Invoke(o);
        return new BedrockModelCatalog(Options.Create(o));
    }

    private static async Task<ModelInfo> Resolve(BedrockModelCatalog catalog, string name) => (await catalog.ResolveAsync(name, default)).Model;

    [Theory]
    [InlineData("claude-sonnet-4-5")]
    [InlineData("claude-sonnet-4.5")]
    [InlineData("claude-sonnet-4-5-20250929")]
    [InlineData("anthropic.claude-sonnet-4-5-20250929-v1:0")]
    [InlineData("bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0")]
    [InlineData("bedrock/claude-sonnet-4-5")]
    public async Task Client_names_resolve_to_the_foundation_model(string name)
    {
        var model = await Resolve(Catalog(), name);
        Assert.Equal("anthropic.claude-sonnet-4-5-20250929-v1:0", model.Id);
        Assert.Equal("bedrock", model.Provider);
        Assert.Equal(64_000, model.MaxOutputTokens);
    }

    [Fact]
    public async Task Inference_profile_ids_are_accepted_as_given_with_the_base_models_limits()
    {
        var model = await Resolve(Catalog(), "us.anthropic.claude-opus-4-1-20250805-v1:0");
        Assert.Equal("us.anthropic.claude-opus-4-1-20250805-v1:0", model.Id);
        Assert.Equal(32_000, model.MaxOutputTokens);
        Assert.Equal("global.anthropic.claude-new-model-v9:0", (await Resolve(Catalog(), "bedrock/global.anthropic.claude-new-model-v9:0")).Id);
    }

    [Fact]
    public async Task Short_names_use_the_configured_inference_profile_prefix()
    {
        var model = await Resolve(Catalog(o => o.InferenceProfilePrefix = "eu"), "claude-haiku-4-5");
        Assert.Equal("eu.anthropic.claude-haiku-4-5-20251001-v1:0", model.Id);
    }

    [Fact]
    public async Task Configured_models_replace_the_built_in_list()
    {
        var catalog = Catalog(o => o.Models = ["us.anthropic.claude-sonnet-4-5-20250929-v1:0", "meta.llama3-70b-instruct-v1:0"]);
        var list = await catalog.ListAsync(default);
        Assert.Equal(["us.anthropic.claude-sonnet-4-5-20250929-v1:0", "meta.llama3-70b-instruct-v1:0"], list.Select(m => m.Id));
        Assert.Equal(64_000, list[0].MaxOutputTokens);
        Assert.Equal("us.anthropic.claude-sonnet-4-5-20250929-v1:0", (await Resolve(catalog, "claude-sonnet-4-5")).Id);
        var e = await Assert.ThrowsAsync<GatewayException>(async () => await catalog.ResolveAsync("claude-opus-4-1", default));
        Assert.Equal(400, e.Status);
        Assert.Contains("meta.llama3-70b-instruct-v1:0", e.Message);
    }

    [Fact]
    public async Task Unknown_names_are_a_400()
    {
        var e = await Assert.ThrowsAsync<GatewayException>(async () => await Catalog().ResolveAsync("gpt-5", default));
        Assert.Equal(ErrorKind.InvalidRequest, e.Kind);
    }

    [Fact]
    public async Task Without_any_account_nothing_is_offered_and_names_are_a_400_saying_why()
    {
        var unused = new BedrockModelCatalog(Options.Create(new BedrockOptions()), ProviderAccounts.ProcessOnly(BedrockProvider.ProviderName, null));
        Assert.Empty(await unused.ListAsync(default));
        Assert.False(unused.Serves(null));
        var e = await Assert.ThrowsAsync<GatewayException>(async () => await unused.ResolveAsync("claude-sonnet-4-5", default));
        Assert.Equal(400, e.Status);
        Assert.Contains("nobody has connected a Bedrock account", e.Message);

        var options = new BedrockOptions { Region = "us-east-1", AccessKeyId = "AKID", SecretAccessKey = "s" };
        var own = new BedrockModelCatalog(Options.Create(options), ProviderAccounts.ProcessOnly(BedrockProvider.ProviderName, BedrockProcessAccount.From(options)));
        Assert.NotEmpty(await own.ListAsync(default));
        Assert.True(own.Serves(null));
    }

    [Fact]
    public void Endpoints_are_per_region_unless_one_address_is_configured()
    {
        Assert.Equal("https://bedrock-runtime.eu-west-1.amazonaws.com", new BedrockOptions().EndpointFor("eu-west-1"));
        Assert.Equal("http://127.0.0.1:9000", new BedrockOptions { Endpoint = "http://127.0.0.1:9000/" }.EndpointFor("eu-west-1"));
    }
}
