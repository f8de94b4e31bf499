using Gapura.Conversations;
using Gapura.Identity;

namespace Gapura.Routing;

/// <summary>
/// Decides where a request goes — the one routing call of the request path, made by the chat pipeline:
/// resolve the client's model name in the catalogs, prefer the caller's provider priority, and refuse
/// what an admin disabled (403) or what names a removed provider (400). Works from memory only
/// (<see cref="RoutingState"/> and the catalogs' cached lists): no database read per request.
/// </summary>
internal sealed class RequestRouter(IEnumerable<IModelCatalog> catalogs, RoutingState state)
{
    private readonly IModelCatalog[] _catalogs = [.. catalogs];

    /// <summary>The best place for the request: the first of <see cref="ResolveCandidatesAsync"/>.</summary>
    /// <exception cref="GatewayException">400 for an unknown or removed model, 403 for a disabled provider or model.</exception>
    public async ValueTask<ResolvedModel> ResolveAsync(string clientModelName, Caller? caller, CancellationToken ct)
        => (await ResolveCandidatesAsync(clientModelName, caller, ct))[0];

    /// <summary>
    /// Every provider that may serve the name, best first: <c>provider/model</c> names one provider explicitly;
    /// an unprefixed name goes to every catalog that serves it, ordered by the caller's provider priority.
    /// Disabled providers and models are left out; the chat pipeline falls back along this list.
    /// </summary>
    /// <exception cref="GatewayException">400 for an unknown or removed model, 403 when every match is disabled.</exception>
    public async ValueTask<IReadOnlyList<ResolvedModel>> ResolveCandidatesAsync(string clientModelName, Caller? caller, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(clientModelName)) throw GatewayException.BadRequest("model: a model name is required.");
        var name = clientModelName.Trim();
        var catalogs = _catalogs;
        var lookup = name;
        string? explicitProvider = null;
        // "kiro/claude-sonnet-4.5" picks a provider; a slash in a model's own id ("meta-llama/…") is left alone.
        var slash = name.IndexOf('/');
        // Stryker disable once Equality : at 0 the prefix is "", which names no provider, so no catalog is picked either way
        if (slash > 0 && await CatalogsServingProviderAsync(name[..slash], ct) is { Length: > 0 } serving)
        {
            catalogs = serving;
            explicitProvider = name[..slash];
            lookup = name[(slash + 1)..];
        }
        var removed = RemovedProviders.Match(name);

        var found = new List<ResolvedModel>(catalogs.Length);
        List<ResolvedModel>? unreachable = null;
        GatewayException? firstError = null;
        foreach (var catalog in catalogs)
        {
            try
            {
                var resolved = await catalog.ResolveAsync(lookup, ct);
                resolved = resolved with { RequestedName = clientModelName };
                if (explicitProvider is not null && !string.Equals(resolved.Model.Provider, explicitProvider, StringComparison.OrdinalIgnoreCase)) continue;
                // A configured fallback standing in for a removed provider's model would hide that it is gone.
                if (removed is not null && !RemovedProviders.IsServedBy(removed, resolved.Model.Id)) continue;
                // A provider with no account for this caller is tried only when nothing else serves the name:
                // then its own error says how to connect one.
                if (catalog.Serves(caller)) found.Add(resolved);
                else (unreachable ??= []).Add(resolved);
            }
            catch (GatewayException e) when (e.Kind == ErrorKind.InvalidRequest)
            {
                firstError ??= e;
            }
        }
        if (found.Count == 0 && unreachable is not null) found = unreachable;
        if (found.Count == 0)
        {
            if (removed is not null) throw RemovedProviders.Error(clientModelName, removed);
            throw new GatewayException(ErrorKind.InvalidRequest, firstError?.Message ?? $"model: '{clientModelName}' is not available.", firstError?.Status) { IsUnknownModel = true };
        }

        // Stryker disable once Equality : ordering a single candidate changes nothing; the test only skips the sort
        if (found.Count > 1)
        {
            // Several providers serve the name: the caller's priority decides, unlisted ones after the listed in catalog order.
            IReadOnlyList<string> priority = caller is null ? [] : state.PriorityOf(caller.UserId);
            found = [.. found.OrderBy(r => Rank(priority, r.Model.Provider))];
        }

        GatewayException? refusal = null;
        var allowed = new List<ResolvedModel>(found.Count);
        foreach (var resolved in found)
        {
            if (state.IsProviderDisabled(resolved.Model.Provider))
                refusal ??= new GatewayException(ErrorKind.PermissionDenied,
                    $"The provider '{resolved.Model.Provider}' is disabled on this gateway by an administrator; model '{clientModelName}' cannot be used.");
            else if (state.IsModelDisabled(resolved.Model.Id) || state.IsModelDisabled(lookup))
                refusal ??= new GatewayException(ErrorKind.PermissionDenied,
                    $"The model '{resolved.Model.Id}' is disabled on this gateway by an administrator.");
            else allowed.Add(resolved);
        }
        return allowed.Count > 0 ? allowed : throw refusal!;
    }

    /// <summary>The catalogs with models of the named provider (their lists are cached in memory).</summary>
    private async ValueTask<IModelCatalog[]> CatalogsServingProviderAsync(string provider, CancellationToken ct)
    {
        var serving = new List<IModelCatalog>();
        foreach (var catalog in _catalogs)
            if ((await catalog.ListAsync(ct)).Any(m => string.Equals(m.Provider, provider, StringComparison.OrdinalIgnoreCase)))
                serving.Add(catalog);
        return [.. serving];
    }

    /// <summary>Every model the caller may use: disabled providers and models, and providers with no account for the caller, left out.</summary>
    public async ValueTask<IReadOnlyList<ModelInfo>> ListAsync(Caller? caller, CancellationToken ct)
    {
        var models = new List<ModelInfo>();
        foreach (var catalog in _catalogs)
        {
            if (!catalog.Serves(caller)) continue;
            foreach (var m in await catalog.ListAsync(ct))
                if (!state.IsProviderDisabled(m.Provider) && !state.IsModelDisabled(m.Id)) models.Add(m);
        }
        return models;
    }

    /// <summary>
    /// The newest Claude model of <paramref name="family"/> the caller may use (of <paramref name="provider"/> when given),
    /// as <see cref="ListAsync"/> would list it; null when there is none. Walks the cached lists without copying them:
    /// routing asks this for every request sent to a default profile.
    /// </summary>
    public async ValueTask<ModelInfo?> NewestOfFamilyAsync(string family, string? provider, Caller? caller, CancellationToken ct)
    {
        ModelInfo? best = null;
        ModelVersion bestVersion = default;
        foreach (var catalog in _catalogs)
        {
            if (!catalog.Serves(caller)) continue;
            foreach (var m in await catalog.ListAsync(ct))
            {
                if (provider is not null && !m.Provider.Equals(provider, StringComparison.OrdinalIgnoreCase)) continue;
                if (ModelFamilies.Parse(m.Id) is not { } v || v.Family != family || (best is not null && v.CompareTo(bestVersion) <= 0)) continue;
                if (state.IsProviderDisabled(m.Provider) || state.IsModelDisabled(m.Id)) continue;
                best = m;
                bestVersion = v;
            }
        }
        return best;
    }

    /// <summary>Every model of every catalog, disabled ones included (for the admin API).</summary>
    public async ValueTask<IReadOnlyList<ModelInfo>> ListAllAsync(CancellationToken ct)
    {
        var models = new List<ModelInfo>();
        foreach (var catalog in _catalogs) models.AddRange(await catalog.ListAsync(ct));
        return models;
    }

    private static int Rank(IReadOnlyList<string> priority, string provider)
    {
        for (var i = 0; i < priority.Count; i++)
            if (string.Equals(priority[i], provider, StringComparison.OrdinalIgnoreCase)) return i;
        return int.MaxValue;
    }
}
