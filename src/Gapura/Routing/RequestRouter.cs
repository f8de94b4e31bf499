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

    /// <exception cref="GatewayException">400 for an unknown or removed model, 403 for a disabled provider or model.</exception>
    public async ValueTask<ResolvedModel> ResolveAsync(string clientModelName, Caller? caller, CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(clientModelName)) throw GatewayException.BadRequest("model: a model name is required.");
        var removed = RemovedProviders.Match(clientModelName);

        var found = new List<ResolvedModel>(_catalogs.Length);
        GatewayException? firstError = null;
        foreach (var catalog in _catalogs)
        {
            try
            {
                var resolved = await catalog.ResolveAsync(clientModelName, ct);
                // A configured fallback standing in for a removed provider's model would hide that it is gone.
                if (removed is null || RemovedProviders.IsServedBy(removed, resolved.Model.Id)) found.Add(resolved);
            }
            catch (GatewayException e) when (e.Kind == ErrorKind.InvalidRequest)
            {
                firstError ??= e;
            }
        }
        if (found.Count == 0)
        {
            if (removed is not null) throw RemovedProviders.Error(clientModelName, removed);
            throw firstError ?? GatewayException.BadRequest($"model: '{clientModelName}' is not available.");
        }

        if (found.Count > 1)
        {
            // Several providers serve the name: the caller's priority decides, unlisted ones after the listed in catalog order.
            IReadOnlyList<string> priority = caller is null ? [] : state.PriorityOf(caller.UserId);
            found = [.. found.OrderBy(r => Rank(priority, r.Model.Provider))];
        }

        GatewayException? refusal = null;
        foreach (var resolved in found)
        {
            if (state.IsProviderDisabled(resolved.Model.Provider))
                refusal ??= new GatewayException(ErrorKind.PermissionDenied,
                    $"The provider '{resolved.Model.Provider}' is disabled on this gateway by an administrator; model '{clientModelName}' cannot be used.");
            else if (state.IsModelDisabled(resolved.Model.Id) || state.IsModelDisabled(clientModelName.Trim()))
                refusal ??= new GatewayException(ErrorKind.PermissionDenied,
                    $"The model '{resolved.Model.Id}' is disabled on this gateway by an administrator.");
            else return resolved;
        }
        throw refusal!;
    }

    /// <summary>Every model the caller may use: disabled providers and models left out.</summary>
    public async ValueTask<IReadOnlyList<ModelInfo>> ListAsync(CancellationToken ct)
    {
        var models = new List<ModelInfo>();
        foreach (var catalog in _catalogs)
            foreach (var m in await catalog.ListAsync(ct))
                if (!state.IsProviderDisabled(m.Provider) && !state.IsModelDisabled(m.Id)) models.Add(m);
        return models;
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
