using Gapura.Conversations;
using Gapura.Identity;
using Gapura.Routing;
using Gapura.Storage;
using Gapura.Tests.Storage;

namespace Gapura.Tests.Routing;

/// <summary>
/// The router over hand-made catalogs and provider controls kept in the settings table, on both back ends:
/// disabled providers and models, removed-provider names, priority order.
/// </summary>
public abstract class RequestRouterTests : StoreTestBase
{
    private static readonly ModelInfo KiroSonnet = new("claude-sonnet-4.5", "Claude Sonnet 4.5", 200_000, 64_000, "kiro");
    private static readonly ModelInfo KiroQwen = new("qwen3-coder-next", "Qwen3 Coder Next", 256_000, 65_536, "kiro");
    private static readonly ModelInfo OtherSonnet = new("claude-sonnet-4.5", "Claude Sonnet 4.5", 200_000, 64_000, "anthropic");

    private async Task<(RequestRouter Router, RoutingState State)> RouterAsync(params IModelCatalog[] catalogs)
    {
        var state = new RoutingState(Store);
        await state.ReloadAllAsync(default);
        return (new RequestRouter(catalogs, state), state);
    }

    private static Caller CallerOf(User user) => new(user.Id, user.Email, user.Role, null);

    [Theory]
    [InlineData("gemini-2.5-pro", "Gemini")]
    [InlineData("gemini/gemini-2.0-flash", "Gemini")]
    [InlineData("qwen-max", "Qwen")]
    [InlineData("qwen3-235b-a22b", "Qwen")]
    [InlineData("QwQ-32B", "Qwen")]
    [InlineData("qwen/qwen-2.5-coder", "Qwen")]
    public async Task Names_of_removed_providers_are_a_400_naming_the_provider(string model, string provider)
    {
        var (router, _) = await RouterAsync(new Catalog([KiroSonnet, KiroQwen]));

        var error = await Assert.ThrowsAsync<GatewayException>(() => router.ResolveAsync(model, null, default).AsTask());

        Assert.Equal((ErrorKind.InvalidRequest, 400), (error.Kind, error.Status));
        Assert.Contains($"names {provider}, a provider this gateway no longer offers", error.Message);
        Assert.Contains(model, error.Message);
    }

    [Fact]
    public async Task A_removed_providers_prefix_is_served_when_a_catalog_really_offers_the_model_but_not_through_a_fallback()
    {
        var (router, _) = await RouterAsync(new Catalog([KiroSonnet, KiroQwen], fallback: KiroSonnet));

        Assert.Equal("qwen3-coder-next", (await router.ResolveAsync("qwen3-coder-next", null, default)).Model.Id);
        // The fallback would answer anything; a removed provider's name still gets the clear 400.
        var error = await Assert.ThrowsAsync<GatewayException>(() => router.ResolveAsync("gemini-2.5-pro", null, default).AsTask());
        Assert.Contains("Gemini", error.Message);
        Assert.Equal("claude-sonnet-4.5", (await router.ResolveAsync("some-other-name", null, default)).Model.Id);
    }

    [Fact]
    public async Task A_provider_prefix_picks_that_provider_and_candidates_are_ordered_by_the_callers_priority()
    {
        var (router, _) = await RouterAsync(new Catalog([KiroSonnet, KiroQwen]), new Catalog([OtherSonnet]));

        Assert.Equal("anthropic", (await router.ResolveAsync("anthropic/claude-sonnet-4.5", null, default)).Model.Provider);
        Assert.Equal("kiro", (await router.ResolveAsync("kiro/claude-sonnet-4.5", null, default)).Model.Provider);
        // Explicit: only that provider, even though another serves the id.
        Assert.Single(await router.ResolveCandidatesAsync("anthropic/claude-sonnet-4.5", null, default));
        // Unprefixed: every provider serving it is a candidate for fallback.
        Assert.Equal(2, (await router.ResolveCandidatesAsync("claude-sonnet-4.5", null, default)).Count);
        // A provider that does not serve the id behind its prefix is a 400, not someone else's model.
        await Assert.ThrowsAsync<GatewayException>(() => router.ResolveAsync("anthropic/qwen3-coder-next", null, default).AsTask());
        // A slash that is not a provider prefix stays part of the model name.
        var unknown = await Assert.ThrowsAsync<GatewayException>(() => router.ResolveAsync("meta-llama/llama-4", null, default).AsTask());
        Assert.Contains("meta-llama/llama-4", unknown.Message);
    }

    [Fact]
    public async Task Disabled_providers_and_models_are_a_403_and_leave_the_model_list()
    {
        var (router, state) = await RouterAsync(new Catalog([KiroSonnet, KiroQwen]));

        await RoutingSettings.SetModelEnabledAsync(Store.Settings, "qwen3-coder-next", false, default);
        await state.ReloadAllAsync(default);
        var model = await Assert.ThrowsAsync<GatewayException>(() => router.ResolveAsync("qwen3-coder-next", null, default).AsTask());
        Assert.Equal((ErrorKind.PermissionDenied, 403), (model.Kind, model.Status));
        Assert.Contains("model 'qwen3-coder-next' is disabled", model.Message);
        Assert.Equal(["claude-sonnet-4.5"], (await router.ListAsync(null, default)).Select(m => m.Id));

        await RoutingSettings.SetProviderEnabledAsync(Store.Settings, "Kiro", false, default);
        await state.ReloadAllAsync(default);
        var provider = await Assert.ThrowsAsync<GatewayException>(() => router.ResolveAsync("claude-sonnet-4.5", null, default).AsTask());
        Assert.Equal(ErrorKind.PermissionDenied, provider.Kind);
        Assert.Contains("provider 'kiro' is disabled", provider.Message);
        Assert.Empty(await router.ListAsync(null, default));

        await RoutingSettings.SetProviderEnabledAsync(Store.Settings, "kiro", true, default);
        await RoutingSettings.SetModelEnabledAsync(Store.Settings, "qwen3-coder-next", true, default);
        await state.ReloadAllAsync(default);
        Assert.Equal(2, (await router.ListAsync(null, default)).Count);
        Assert.Empty(await Store.Settings.ListAsync()); // enabling removes the flags
    }

    [Fact]
    public async Task The_callers_priority_picks_among_providers_serving_the_same_name_and_is_persisted()
    {
        var alice = await NewUserAsync();
        var bob = await NewUserAsync();
        var (router, state) = await RouterAsync(new Catalog([KiroSonnet]), new Catalog([OtherSonnet]));

        await RoutingSettings.SetPriorityAsync(Store.Settings, alice.Id, ["anthropic", "kiro"], default);
        await state.ReloadAllAsync(default);

        Assert.Equal("anthropic", (await router.ResolveAsync("claude-sonnet-4.5", CallerOf(alice), default)).Model.Provider);
        Assert.Equal("kiro", (await router.ResolveAsync("claude-sonnet-4.5", CallerOf(bob), default)).Model.Provider);
        Assert.Equal("anthropic,kiro", await Store.Settings.GetAsync(RoutingSettings.PriorityKey(alice.Id)));

        // A fresh state (a restart, another instance) reads the same list back.
        var reloaded = new RoutingState(Store);
        await reloaded.ReloadAllAsync(default);
        Assert.Equal(["anthropic", "kiro"], reloaded.PriorityOf(alice.Id));
        Assert.Empty(reloaded.PriorityOf(bob.Id));

        // The preferred provider disabled: the next one serves rather than a refusal.
        await RoutingSettings.SetProviderEnabledAsync(Store.Settings, "anthropic", false, default);
        await state.ReloadAllAsync(default);
        Assert.Equal("kiro", (await router.ResolveAsync("claude-sonnet-4.5", CallerOf(alice), default)).Model.Provider);
    }

    /// <summary>A catalog over a fixed list: exact ids, then an optional fallback, else the usual 400.</summary>
    private sealed class Catalog(IReadOnlyList<ModelInfo> models, ModelInfo? fallback = null) : IModelCatalog
    {
        public ValueTask<ResolvedModel> ResolveAsync(string clientModelName, CancellationToken ct)
        {
            var found = models.FirstOrDefault(m => string.Equals(m.Id, clientModelName, StringComparison.OrdinalIgnoreCase)) ?? fallback;
            return found is null
                ? throw GatewayException.BadRequest($"model: '{clientModelName}' is not available.")
                : ValueTask.FromResult(new ResolvedModel(clientModelName, found));
        }

        public ValueTask<IReadOnlyList<ModelInfo>> ListAsync(CancellationToken ct) => ValueTask.FromResult(models);
    }
}

public sealed class SqliteRequestRouterTests : RequestRouterTests
{
    private protected override IBackend CreateBackend() => new SqliteBackend();
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresRequestRouterTests(PostgresCluster cluster) : RequestRouterTests
{
    private protected override IBackend CreateBackend() => new PostgresBackend(cluster, GetType().Name);
}
