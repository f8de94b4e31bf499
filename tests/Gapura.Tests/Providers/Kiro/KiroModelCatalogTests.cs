using Gapura.Conversations;
using Gapura.Providers.Kiro;
using Gapura.Routing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Gapura.Tests.Providers.Kiro;

public class KiroModelCatalogTests
{
    [Theory]
    [InlineData("claude-sonnet-4-5", "claude-sonnet-4.5")]
    [InlineData("claude-sonnet-4-5-20250929", "claude-sonnet-4.5")]
    [InlineData("claude-haiku-4-5-20251001", "claude-haiku-4.5")]
    [InlineData("claude-opus-4-6[1m]", "claude-opus-4.6")]
    [InlineData("claude-3-7-sonnet-20250219", "claude-3.7-sonnet")]
    [InlineData("claude-3-7-sonnet-latest", "claude-3.7-sonnet")]
    [InlineData("claude-sonnet-4-20250514", "claude-sonnet-4")]
    [InlineData("Claude-Opus-4-8", "claude-opus-4.8")]
    [InlineData("deepseek-3-2", "deepseek-3.2")]
    [InlineData("qwen3-coder-next", "qwen3-coder-next")]
    [InlineData("auto", "auto")]
    public void Normalises_anthropic_style_names_to_kiro_ids(string client, string kiro)
        => Assert.Equal(kiro, KiroModelNames.Normalize(client));

    [Theory]
    [InlineData("claude-sonnet-4-5", "claude-sonnet-4.5")]
    [InlineData("claude-sonnet-4-5-20250929", "claude-sonnet-4.5")]
    [InlineData("claude-haiku-4-5-20251001", "claude-haiku-4.5")]
    [InlineData("claude-opus-4-6[1m]", "claude-opus-4.6")]
    [InlineData("claude-3-7-sonnet-20250219", "claude-3.7-sonnet")]
    [InlineData("auto", "auto")]
    [InlineData("CLAUDE-SONNET-4.5", "claude-sonnet-4.5")]
    public async Task Resolves_client_names_against_the_service_list(string client, string kiro)
    {
        var catalog = Catalog(new FakeSource(KiroModelCatalog.BuiltIn));
        var resolved = await catalog.ResolveAsync(client, CancellationToken.None);
        Assert.Equal(kiro, resolved.Model.Id);
        Assert.Equal(client, resolved.RequestedName);
    }

    [Fact]
    public async Task Unknown_model_is_a_400_naming_the_available_ones()
    {
        var catalog = Catalog(new FakeSource([Model("claude-sonnet-4.5"), Model("qwen3-coder-next")]));
        var error = await Assert.ThrowsAsync<GatewayException>(() => catalog.ResolveAsync("claude-opus-9", CancellationToken.None).AsTask());
        Assert.Equal(400, error.Status);
        Assert.Contains("claude-opus-9", error.Message);
        Assert.Contains("claude-sonnet-4.5, qwen3-coder-next", error.Message);
    }

    [Fact]
    public async Task A_name_the_service_does_not_offer_is_not_silently_mapped_to_auto()
    {
        var catalog = Catalog(new FakeSource([Model("auto"), Model("claude-sonnet-4.5")]));
        await Assert.ThrowsAsync<GatewayException>(() => catalog.ResolveAsync("claude-opus-4-6", CancellationToken.None).AsTask());
    }

    [Fact]
    public async Task Aliases_and_fallback_come_from_settings()
    {
        var options = new KiroOptions { FallbackModel = "claude-sonnet-4.5" };
        options.ModelAliases["gpt-4o"] = "claude-opus-4.6";
        var catalog = Catalog(new FakeSource(KiroModelCatalog.BuiltIn), options);
        Assert.Equal("claude-opus-4.6", (await catalog.ResolveAsync("gpt-4o", CancellationToken.None)).Model.Id);
        Assert.Equal("claude-sonnet-4.5", (await catalog.ResolveAsync("something-else", CancellationToken.None)).Model.Id);
    }

    [Fact]
    public async Task Limits_come_from_the_service_and_the_list_is_cached()
    {
        var source = new FakeSource([new ModelInfo("claude-sonnet-4.5", "Sonnet", 1_000_000, 32_000, "kiro")]);
        var catalog = Catalog(source);
        var model = (await catalog.ResolveAsync("claude-sonnet-4-5", CancellationToken.None)).Model;
        Assert.Equal(1_000_000, model.ContextWindow);
        Assert.Equal(32_000, model.MaxOutputTokens);
        await catalog.ListAsync(CancellationToken.None);
        await catalog.ResolveAsync("claude-sonnet-4-5", CancellationToken.None);
        Assert.Equal(1, source.Calls);
    }

    [Fact]
    public async Task When_the_service_cannot_be_asked_the_built_in_list_serves()
    {
        var catalog = Catalog(new FakeSource(null));
        var models = await catalog.ListAsync(CancellationToken.None);
        Assert.Contains(models, m => m.Id == "claude-sonnet-4.5");
        Assert.Equal("claude-haiku-4.5", (await catalog.ResolveAsync("claude-haiku-4-5-20251001", CancellationToken.None)).Model.Id);
    }

    [Fact]
    public void Parses_list_available_models()
    {
        using var doc = System.Text.Json.JsonDocument.Parse("""
            {"models":[{"modelId":"claude-sonnet-4.5","modelName":"Claude Sonnet 4.5","tokenLimits":{"maxInputTokens":200000,"maxOutputTokens":64000}},
                       {"modelId":"glm-5","modelName":"GLM 5"},{"modelName":"no id"}],"defaultModel":{"modelId":"auto"}}
            """);
        var models = KiroClient.ParseModels(doc.RootElement).ToList();
        Assert.Equal(["claude-sonnet-4.5", "glm-5"], models.Select(m => m.Id));
        Assert.Equal(64_000, models[0].MaxOutputTokens);
        Assert.True(models[1].ContextWindow > 0);
    }

    private static ModelInfo Model(string id) => new(id, id, 200_000, 64_000, "kiro");

    private static KiroModelCatalog Catalog(IKiroModelSource source, KiroOptions? options = null)
        => new(source, Options.Create(options ?? new KiroOptions()), NullLogger<KiroModelCatalog>.Instance);

    private sealed class FakeSource(IReadOnlyList<ModelInfo>? models) : IKiroModelSource
    {
        public int Calls;

        public Task<IReadOnlyList<ModelInfo>> FetchModelsAsync(CancellationToken ct)
        {
            Interlocked.Increment(ref Calls);
            return models is null
                ? Task.FromException<IReadOnlyList<ModelInfo>>(new HttpRequestException("unreachable"))
                : Task.FromResult(models);
        }
    }
}
