namespace Gapura.Routing;

/// <summary>
/// Providers earlier gateways offered and this one does not (Gemini, Qwen). Clients configured for them
/// get a 400 naming the provider rather than a puzzling "unknown model" — but only a name no configured
/// provider serves: Kiro offers <c>qwen3-coder-next</c>, so the catalog decides, not the prefix.
/// </summary>
internal static class RemovedProviders
{
    private sealed record Family(string Name, string[] NamePrefixes, string[] IdStems);

    private static readonly Family[] Families =
    [
        new("Gemini", ["gemini-", "gemini/"], ["gemini"]),
        new("Qwen", ["qwen-", "qwen3-", "qwq-", "qwen/"], ["qwen", "qwq"]),
    ];

    /// <summary>The removed provider a client model name points at, or null.</summary>
    public static string? Match(string modelName)
    {
        var name = modelName.Trim();
        foreach (var family in Families)
            if (family.NamePrefixes.Any(p => name.StartsWith(p, StringComparison.OrdinalIgnoreCase))) return family.Name;
        return null;
    }

    /// <summary>
    /// Whether a model a catalog resolved really is of that family — an upstream that serves such a model —
    /// rather than a configured fallback standing in for an unknown name.
    /// </summary>
    public static bool IsServedBy(string removedProvider, string resolvedModelId)
    {
        var family = Families.First(f => f.Name == removedProvider);
        var id = resolvedModelId.Trim();
        return family.IdStems.Any(s => id.StartsWith(s, StringComparison.OrdinalIgnoreCase));
    }

    public static Conversations.GatewayException Error(string modelName, string removedProvider) => Conversations.GatewayException.BadRequest(
        $"model: '{modelName}' names {removedProvider}, a provider this gateway no longer offers, and no configured provider serves that model. " +
        "Choose a model from GET /v1/models.");
}
