using Gapura.Conversations;
using Gapura.Providers.Accounts;
using Gapura.Routing;

namespace Gapura.Providers.OpenAi;

/// <summary>
/// The models one OpenAI-format account offers: a configured list, or the upstream's <c>/models</c> read
/// in the background and cached (stale-while-revalidate: no request waits on a refresh except the very first,
/// briefly), with a fallback list when the upstream cannot be asked. Names resolve exactly or with this
/// provider's prefix (<c>openai/gpt-5</c>, <c>ollama/llama3.2</c>); ids may themselves hold a slash
/// (vLLM's <c>meta-llama/Llama-3.1-8B-Instruct</c>), so the exact id is tried first.
/// </summary>
internal sealed class ChatCompletionsModelCatalog : IModelCatalog
{
    private readonly string _provider;
    private readonly RefreshingModelList _list;
    private readonly ProviderAccounts? _accounts;

    /// <param name="configured">A fixed list (from settings): never refreshed.</param>
    /// <param name="fetch">Reads the upstream's list; used when nothing is configured.</param>
    /// <param name="fallback">Served until (and whenever) the upstream's list cannot be read.</param>
    public ChatCompletionsModelCatalog(string provider, IReadOnlyList<ModelInfo>? configured,
        Func<CancellationToken, Task<IReadOnlyList<ModelInfo>>>? fetch, IReadOnlyList<ModelInfo> fallback,
        TimeSpan refreshEvery, ILogger log, TimeProvider? time = null, ProviderAccounts? accounts = null,
        Limits.ProbedLimits? limits = null)
    {
        _provider = provider;
        _accounts = accounts;
        _list = configured is { Count: > 0 }
            ? new RefreshingModelList(provider, configured, fetch: null, refreshEvery, log, time, limits)
            : new RefreshingModelList(provider, fallback, fetch, refreshEvery, log, time, limits);
    }

    /// <summary>Without any account (the gateway's or a user's) the provider offers nothing.</summary>
    private bool InUse => _accounts is null || _accounts.HasAnyAccount;

    public bool Serves(Identity.Caller? caller) => _accounts is null || _accounts.CanServe(caller);

    public async ValueTask<IReadOnlyList<ModelInfo>> ListAsync(CancellationToken ct) => InUse ? (await _list.CurrentAsync(ct)).Models : [];

    public async ValueTask<ResolvedModel> ResolveAsync(string clientModelName, CancellationToken ct)
    {
        var name = clientModelName.Trim();
        if (name.Length == 0) throw GatewayException.BadRequest("model: a model name is required.");
        if (!InUse) throw GatewayException.BadRequest($"model: '{clientModelName}' is not available: nobody has connected {AccountKinds.DisplayName(_provider)} to this gateway.");
        var snapshot = await _list.CurrentAsync(ct);
        if (snapshot.Find(name) is { } exact) return new ResolvedModel(clientModelName, exact);
        var prefix = _provider + "/";
        if (name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) && snapshot.Find(name[prefix.Length..]) is { } prefixed)
            return new ResolvedModel(clientModelName, prefixed);
        throw GatewayException.BadRequest(
            $"model: '{clientModelName}' is not available from {_provider}. Available models: {string.Join(", ", snapshot.Models.Select(m => m.Id))}.");
    }
}
