using Gapura.Conversations;
using Gapura.Providers.Anthropic;
using Gapura.Routing;
using Gapura.Simulators.Anthropic;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Gapura.Tests.Providers.Anthropic;

public class AnthropicModelCatalogTests
{
    private static AnthropicModelCatalog Catalog(IAnthropicModelSource source)
        => new(source, Options.Create(new AnthropicOptions { ApiKey = "k" }), NullLogger<AnthropicModelCatalog>.Instance);

    private sealed class FakeSource(IReadOnlyList<ModelInfo>? models = null, Exception? error = null) : IAnthropicModelSource
    {
        public int Calls;

        public Task<IReadOnlyList<ModelInfo>> FetchModelsAsync(CancellationToken ct)
        {
            Interlocked.Increment(ref Calls);
            return error is null ? Task.FromResult(models!) : Task.FromException<IReadOnlyList<ModelInfo>>(error);
        }
    }

    [Theory]
    [InlineData("claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929")]
    [InlineData("claude-sonnet-4-5", "claude-sonnet-4-5-20250929")]
    [InlineData("claude-sonnet-4.5", "claude-sonnet-4-5-20250929")]
    [InlineData("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5-20250929")]
    [InlineData("Claude-Haiku-4-5", "claude-haiku-4-5-20251001")]
    [InlineData("claude-opus-4-6[1m]", "claude-opus-4-6")]
    [InlineData("claude-3-7-sonnet-latest", "claude-3-7-sonnet-20250219")]
    [InlineData("anthropic/claude-opus-4-6", "claude-opus-4-6")]
    public async Task Client_names_resolve_to_exact_anthropic_ids(string client, string id)
    {
        var resolved = await Catalog(new FakeSource(AnthropicModelCatalog.BuiltIn)).ResolveAsync(client, CancellationToken.None);
        Assert.Equal(id, resolved.Model.Id);
        Assert.Equal(client, resolved.RequestedName);
        Assert.Equal("anthropic", resolved.Model.Provider);
    }

    [Fact]
    public async Task An_undated_alias_picks_the_newest_snapshot()
    {
        var source = new FakeSource([new("claude-sonnet-4-20250514", "S4", 200_000, 64_000, "anthropic"), new("claude-sonnet-4-20251231", "S4 new", 200_000, 64_000, "anthropic")]);
        Assert.Equal("claude-sonnet-4-20251231", (await Catalog(source).ResolveAsync("claude-sonnet-4", CancellationToken.None)).Model.Id);
    }

    [Theory]
    [InlineData("gpt-5")]
    [InlineData("kiro/claude-sonnet-4.5")]
    [InlineData("claude-sonnet-9")]
    public async Task Other_names_are_a_400_so_the_router_tries_other_catalogs(string name)
    {
        var error = await Assert.ThrowsAsync<GatewayException>(() => Catalog(new FakeSource(AnthropicModelCatalog.BuiltIn)).ResolveAsync(name, CancellationToken.None).AsTask());
        Assert.Equal(ErrorKind.InvalidRequest, error.Kind);
        Assert.Contains(name, error.Message);
    }

    [Fact]
    public async Task The_built_in_list_serves_when_the_api_cannot_be_asked()
    {
        var source = new FakeSource(error: new GatewayException(ErrorKind.UpstreamUnavailable, "down"));
        var catalog = Catalog(source);
        var models = await catalog.ListAsync(CancellationToken.None);
        Assert.Equal(AnthropicModelCatalog.BuiltIn, models);
        Assert.Equal(128_000, models.Single(m => m.Id == "claude-opus-4-6").MaxOutputTokens);
        // Failed loads are not retried on every request.
        await catalog.ListAsync(CancellationToken.None);
        Assert.Equal(1, source.Calls);
    }

    [Fact]
    public async Task Reads_every_page_of_v1_models_from_the_simulator_with_limits_from_the_built_in_table()
    {
        await using var sim = await AnthropicSimulator.StartAsync(new AnthropicSimulatorOptions { ModelsPageSize = 2 });
        var client = AnthropicTestKit.Client(AnthropicTestKit.Options(sim));
        var catalog = Catalog(client);
        var models = await catalog.ListAsync(CancellationToken.None);
        Assert.Equal(sim.Options.Models.Select(m => m.Id).Order(), models.Select(m => m.Id).Order());
        Assert.Equal("Claude Haiku 3.5", models.Single(m => m.Id == "claude-3-5-haiku-20241022").DisplayName);
        Assert.Equal(8_192, models.Single(m => m.Id == "claude-3-5-haiku-20241022").MaxOutputTokens);
        Assert.Equal(32_000, models.Single(m => m.Id == "claude-opus-4-1-20250805").MaxOutputTokens);
        var listCall = Assert.Single(sim.Requests, r => r.Path == "/v1/models");
        Assert.Equal(sim.ApiKey, listCall.Header("x-api-key"));
        Assert.Equal("2023-06-01", listCall.Header("anthropic-version"));
    }

    [Fact]
    public async Task Follows_has_more_and_last_id_across_pages()
    {
        await using var sim = await AnthropicSimulator.StartAsync();
        sim.Options.Models.AddRange(Enumerable.Range(0, 1500).Select(i => new AnthropicSimModel($"claude-test-{i:D4}", $"T{i}", new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(i))));
        var models = await AnthropicTestKit.Client(AnthropicTestKit.Options(sim)).FetchModelsAsync(CancellationToken.None);
        Assert.Equal(1506, models.Count);
        Assert.Equal(2, sim.Requests.Count(r => r.Path == "/v1/models"));
    }
}
