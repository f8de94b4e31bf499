using Gapura.Conversations;
using Gapura.Identity;
using Gapura.Routing;
using Gapura.Storage;
using Gapura.Tests.Storage;

namespace Gapura.Tests.Routing;

/// <summary>
/// The router's rules that decide where each request goes — providers with no account for the caller, the
/// caller's priority, trimming, the first catalog's own error, the newest model of a family — pinned by
/// mutation testing (see DEVELOPERS.md, "Mutation testing"). Routing logic only, so SQLite alone: the settings
/// it reads are covered on both back ends by <see cref="RequestRouterTests"/>.
/// </summary>
public sealed class RequestRouterMutationTests : StoreTestBase
{
    private protected override IBackend CreateBackend() => new SqliteBackend();

    private static ModelInfo Model(string id, string provider) => new(id, id, 200_000, 64_000, provider);

    private static readonly Caller Ada = new(9_999, "ada@example.com", UserRole.User, null);

    private async Task<(RequestRouter Router, RoutingState State)> RouterAsync(params IModelCatalog[] catalogs)
    {
        var state = new RoutingState(Store);
        await state.ReloadAllAsync(default);
        return (new RequestRouter(catalogs, state), state);
    }

    [Fact]
    public async Task A_provider_with_no_account_for_the_caller_is_skipped_while_another_serves_the_name()
    {
        var noAccount = new Catalog([Model("claude-sonnet-4.5", "copilot")], serves: false);
        var withAccount = new Catalog([Model("claude-sonnet-4.5", "kiro")]);
        var (router, _) = await RouterAsync(noAccount, withAccount);

        var candidates = await router.ResolveCandidatesAsync("claude-sonnet-4.5", Ada, default);

        Assert.Equal(["kiro"], candidates.Select(c => c.Model.Provider));
        Assert.Equal(["kiro"], (await router.ListAsync(Ada, default)).Select(m => m.Provider));
        Assert.Equal("kiro", (await router.NewestOfFamilyAsync(ModelFamilies.Sonnet, null, Ada, default))!.Provider);
        // The admin list still shows every model.
        Assert.Equal(2, (await router.ListAllAsync(default)).Count);
    }

    [Fact]
    public async Task A_provider_with_no_account_is_still_tried_when_nothing_else_serves_the_name_so_its_error_explains()
    {
        var (router, _) = await RouterAsync(new Catalog([Model("gpt-5", "openai")], serves: false), new Catalog([Model("claude-sonnet-4.5", "kiro")]));

        var only = Assert.Single(await router.ResolveCandidatesAsync("gpt-5", Ada, default));

        Assert.Equal("openai", only.Model.Provider);
        Assert.DoesNotContain(await router.ListAsync(Ada, default), m => m.Provider == "openai");
    }

    [Fact]
    public async Task Every_provider_without_an_account_stays_a_candidate_when_none_with_one_serves_the_name()
    {
        var (router, _) = await RouterAsync(new Catalog([Model("gpt-5", "openai")], serves: false), new Catalog([Model("gpt-5", "copilot")], serves: false));

        Assert.Equal(["openai", "copilot"], (await router.ResolveCandidatesAsync("gpt-5", Ada, default)).Select(c => c.Model.Provider));
    }

    [Fact]
    public async Task A_provider_prefix_picks_a_catalog_that_lists_that_provider_among_others()
    {
        var (router, _) = await RouterAsync(new Catalog([Model("a", "kiro"), Model("b", "openai")]));

        Assert.Equal(("a", "kiro"), Of((await router.ResolveAsync("kiro/a", null, default)).Model));
    }

    [Fact]
    public async Task Priority_orders_listed_providers_first_case_insensitively_and_keeps_catalog_order_for_the_rest()
    {
        var (router, state) = await RouterAsync(
            new Catalog([Model("m", "alpha")]), new Catalog([Model("m", "beta")]), new Catalog([Model("m", "gamma")]), new Catalog([Model("m", "delta")]));
        var user = await NewUserAsync();
        var caller = new Caller(user.Id, user.Email, user.Role, null);
        await RoutingSettings.SetPriorityAsync(Store.Settings, user.Id, ["GAMMA", "beta"], default);
        await state.ReloadAllAsync(default);

        Assert.Equal(["gamma", "beta", "alpha", "delta"], (await router.ResolveCandidatesAsync("m", caller, default)).Select(c => c.Model.Provider));
        // Without a caller (or without a list) the catalogs' own order stands.
        Assert.Equal(["alpha", "beta", "gamma", "delta"], (await router.ResolveCandidatesAsync("m", null, default)).Select(c => c.Model.Provider));
        Assert.Equal(["alpha", "beta", "gamma", "delta"], (await router.ResolveCandidatesAsync("m", Ada, default)).Select(c => c.Model.Provider));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public async Task A_missing_model_name_is_a_400_saying_it_is_required(string name)
    {
        var (router, _) = await RouterAsync(new Catalog([Model("m", "kiro")]));

        var error = await Assert.ThrowsAsync<GatewayException>(() => router.ResolveAsync(name, null, default).AsTask());

        Assert.Equal((ErrorKind.InvalidRequest, 400), (error.Kind, error.Status));
        Assert.Equal("model: a model name is required.", error.Message);
    }

    [Fact]
    public async Task The_name_is_trimmed_for_lookup_but_echoed_as_the_client_sent_it()
    {
        var (router, _) = await RouterAsync(new Catalog([Model("claude-sonnet-4.5", "kiro")]));

        var resolved = await router.ResolveAsync("  kiro/claude-sonnet-4.5 ", null, default);

        Assert.Equal(("claude-sonnet-4.5", "  kiro/claude-sonnet-4.5 "), (resolved.Model.Id, resolved.RequestedName));
        Assert.Equal("kiro", (await router.ResolveAsync("KIRO/claude-sonnet-4.5", null, default)).Model.Provider);
    }

    [Fact]
    public async Task A_leading_slash_is_part_of_the_name_not_an_empty_provider()
    {
        var (router, _) = await RouterAsync(new Catalog([Model("claude-sonnet-4.5", "kiro"), Model("/odd", "kiro")]));

        Assert.Equal("/odd", (await router.ResolveAsync("/odd", null, default)).Model.Id);
    }

    [Fact]
    public async Task A_model_id_with_a_slash_that_names_no_provider_is_looked_up_whole()
    {
        var (router, _) = await RouterAsync(new Catalog([Model("meta-llama/llama-4", "compatible")]));

        var resolved = await router.ResolveAsync("meta-llama/llama-4", null, default);

        Assert.Equal(("meta-llama/llama-4", "compatible"), (resolved.Model.Id, resolved.Model.Provider));
    }

    [Fact]
    public async Task A_provider_prefix_never_yields_another_providers_model_even_through_a_fallback()
    {
        // The kiro catalog answers unknown names with a fallback of another provider; "kiro/…" must not take it.
        var (router, _) = await RouterAsync(new Catalog([Model("claude-sonnet-4.5", "kiro")], fallback: Model("gpt-5", "openai")));

        var error = await Assert.ThrowsAsync<GatewayException>(() => router.ResolveAsync("kiro/unknown-model", null, default).AsTask());

        Assert.Equal("model: 'kiro/unknown-model' is not available.", error.Message);
        Assert.Equal("gpt-5", (await router.ResolveAsync("unknown-model", null, default)).Model.Id);
    }

    [Fact]
    public async Task An_unknown_model_carries_the_first_catalogs_own_message_and_is_marked_unknown()
    {
        var (router, _) = await RouterAsync(
            new Catalog([Model("a", "kiro")], error: "model: 'zzz' is not available. Kiro offers: a."),
            new Catalog([Model("b", "anthropic")], error: "model: 'zzz' is not available. Anthropic offers: b."));

        var error = await Assert.ThrowsAsync<GatewayException>(() => router.ResolveAsync("zzz", null, default).AsTask());

        Assert.Equal("model: 'zzz' is not available. Kiro offers: a.", error.Message);
        Assert.Equal(400, error.Status);
        Assert.True(error.IsUnknownModel);
    }

    [Fact]
    public async Task With_no_catalog_at_all_an_unknown_model_is_a_plain_400()
    {
        var (router, _) = await RouterAsync();

        var error = await Assert.ThrowsAsync<GatewayException>(() => router.ResolveAsync("zzz", null, default).AsTask());

        Assert.Equal("model: 'zzz' is not available.", error.Message);
        Assert.Equal((ErrorKind.InvalidRequest, 400), (error.Kind, error.Status));
        Assert.True(error.IsUnknownModel);
    }

    [Fact]
    public async Task A_model_disabled_under_the_name_the_client_used_is_refused_even_when_it_resolves_to_another_id()
    {
        // "sonnet" is an alias the catalog resolves to claude-sonnet-4.5; the admin disabled the alias itself.
        var (router, state) = await RouterAsync(new Catalog([Model("claude-sonnet-4.5", "kiro")], fallback: Model("claude-sonnet-4.5", "kiro")));
        await RoutingSettings.SetModelEnabledAsync(Store.Settings, "sonnet", false, default);
        await state.ReloadAllAsync(default);

        var error = await Assert.ThrowsAsync<GatewayException>(() => router.ResolveAsync("sonnet", null, default).AsTask());

        Assert.Equal((ErrorKind.PermissionDenied, 403), (error.Kind, error.Status));
        Assert.Equal("The model 'claude-sonnet-4.5' is disabled on this gateway by an administrator.", error.Message);
        Assert.Equal("claude-sonnet-4.5", (await router.ResolveAsync("claude-sonnet-4.5", null, default)).Model.Id);
    }

    [Fact]
    public async Task When_every_candidate_is_refused_the_first_refusal_is_the_answer()
    {
        var (router, state) = await RouterAsync(new Catalog([Model("m", "alpha")]), new Catalog([Model("m", "beta")]));
        await RoutingSettings.SetProviderEnabledAsync(Store.Settings, "alpha", false, default);
        await RoutingSettings.SetProviderEnabledAsync(Store.Settings, "beta", false, default);
        await state.ReloadAllAsync(default);

        var error = await Assert.ThrowsAsync<GatewayException>(() => router.ResolveAsync("m", null, default).AsTask());

        Assert.Equal("The provider 'alpha' is disabled on this gateway by an administrator; model 'm' cannot be used.", error.Message);
    }

    [Fact]
    public async Task Newest_of_a_family_picks_the_highest_version_of_that_family_the_caller_may_use()
    {
        var (router, state) = await RouterAsync(
            new Catalog([Model("claude-sonnet-4.5", "kiro"), Model("claude-opus-4.6", "kiro"), Model("claude-sonnet-4", "kiro")]),
            new Catalog([Model("claude-sonnet-4-5-20250929", "anthropic"), Model("claude-sonnet-3-7", "anthropic"), Model("gpt-5", "anthropic")]),
            new Catalog([Model("claude-sonnet-5", "copilot")], serves: false));

        // Equal versions: the first catalog's stays.
        Assert.Equal(("claude-sonnet-4.5", "kiro"), Of(await router.NewestOfFamilyAsync(ModelFamilies.Sonnet, null, Ada, default)));
        Assert.Equal(("claude-sonnet-4-5-20250929", "anthropic"), Of(await router.NewestOfFamilyAsync(ModelFamilies.Sonnet, "ANTHROPIC", Ada, default)));
        Assert.Equal(("claude-opus-4.6", "kiro"), Of(await router.NewestOfFamilyAsync(ModelFamilies.Opus, null, Ada, default)));
        Assert.Null(await router.NewestOfFamilyAsync(ModelFamilies.Haiku, null, Ada, default));
        Assert.Null(await router.NewestOfFamilyAsync(ModelFamilies.Opus, "anthropic", Ada, default));

        await RoutingSettings.SetModelEnabledAsync(Store.Settings, "claude-sonnet-4.5", false, default);
        await state.ReloadAllAsync(default);
        Assert.Equal(("claude-sonnet-4-5-20250929", "anthropic"), Of(await router.NewestOfFamilyAsync(ModelFamilies.Sonnet, null, Ada, default)));

        await RoutingSettings.SetProviderEnabledAsync(Store.Settings, "anthropic", false, default);
        await state.ReloadAllAsync(default);
        Assert.Equal(("claude-sonnet-4", "kiro"), Of(await router.NewestOfFamilyAsync(ModelFamilies.Sonnet, null, Ada, default)));
    }

    [Fact]
    public async Task The_model_list_leaves_out_disabled_models_and_providers_but_the_admin_list_keeps_them()
    {
        var (router, state) = await RouterAsync(new Catalog([Model("a", "kiro"), Model("b", "kiro")]), new Catalog([Model("c", "anthropic")]));
        await RoutingSettings.SetModelEnabledAsync(Store.Settings, "a", false, default);
        await RoutingSettings.SetProviderEnabledAsync(Store.Settings, "anthropic", false, default);
        await state.ReloadAllAsync(default);

        Assert.Equal(["b"], (await router.ListAsync(null, default)).Select(m => m.Id));
        Assert.Equal(["a", "b", "c"], (await router.ListAllAsync(default)).Select(m => m.Id));
    }

    private static (string, string)? Of(ModelInfo? m) => m is null ? null : (m.Id, m.Provider);

    /// <summary>A catalog over a fixed list: exact ids, then an optional fallback, else a 400 with its own message.</summary>
    private sealed class Catalog(IReadOnlyList<ModelInfo> models, ModelInfo? fallback = null, bool serves = true, string? error = null) : IModelCatalog
    {
        public ValueTask<ResolvedModel> ResolveAsync(string clientModelName, CancellationToken ct)
        {
            var found = models.FirstOrDefault(m => string.Equals(m.Id, clientModelName, StringComparison.OrdinalIgnoreCase)) ?? fallback;
            return found is null
                ? throw GatewayException.BadRequest(error ?? $"model: '{clientModelName}' is not available.")
                : ValueTask.FromResult(new ResolvedModel(clientModelName, found));
        }

        public ValueTask<IReadOnlyList<ModelInfo>> ListAsync(CancellationToken ct) => ValueTask.FromResult(models);

        public bool Serves(Caller? caller) => serves;
    }
}
