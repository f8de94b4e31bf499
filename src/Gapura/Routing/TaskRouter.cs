using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using Gapura.Conversations;
using Gapura.Identity;
using Gapura.Ledger;
using Gapura.Routing.Profiles;
using Gapura.Routing.Tasks;

namespace Gapura.Routing;

/// <summary>
/// Where a request goes and why: the routing mode for the caller, the task the request is classified as, the
/// profile that task (or the model name) selects, the canary split, and the candidate upstream models in order.
/// </summary>
internal sealed record RouteDecision(
    string Mode, TaskClassification? Classification, RoutingProfile? Profile, CanaryDefinition? Canary, string? Variant,
    IReadOnlyList<ResolvedModel> Candidates, ChatRequest Request, string? Reason)
{
    /// <summary>Whether a profile chose the model (otherwise the request was served as named).</summary>
    public bool Routed => Profile is not null;

    public string Task => Classification?.Task ?? "unknown";

    /// <summary>
    /// <c>x-gapura-route</c>: <c>task=background; rule=claude-code-title; profile=fast; model=claude-haiku-4.5; provider=kiro</c>,
    /// plus <c>canary=candidate</c> under a canary. The model and provider are those that served.
    /// </summary>
    public string Header(string? provider, string? model)
    {
        var b = new StringBuilder(128);
        b.Append("task=").Append(Task).Append("; rule=").Append(Classification?.Rule ?? "none");
        b.Append("; profile=").Append(Profile?.Name ?? "none");
        if (Reason is not null) b.Append("; via=").Append(Reason);
        b.Append("; model=").Append(model ?? Candidates[0].Model.Id).Append("; provider=").Append(provider ?? Candidates[0].Model.Provider);
        if (Variant is not null) b.Append("; canary=").Append(Variant);
        return b.ToString();
    }
}

/// <summary>A decision with its reasons, or the error the request would get.</summary>
internal sealed record RouteExplanation(string Mode, RouteDecision? Decision, IReadOnlyList<RuleEvaluation> Rules, GatewayException? Error);

/// <summary>
/// Routing by task: reads the caller's mode from the current <see cref="RoutingConfig"/>, classifies the request
/// (<see cref="TaskRules"/>), and, when the request is to be routed, resolves the chosen profile's models — the
/// canary's or the profile's own, then its fallbacks — through <see cref="RequestRouter"/>. Memory only: no database.
/// </summary>
internal sealed class TaskRouter(RequestRouter router, RoutingConfigSource source, ILogger<TaskRouter> log)
{
    // Names already reported as substituted: each is logged once, not on every request of a client that keeps sending it.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _substitutionsLogged = new(StringComparer.Ordinal);

    public const string RouteHeader = "x-gapura-route";

    /// <summary>Why a profile was used: the client named it, asked for <c>auto</c>, or the mode overrides its model.</summary>
    public const string ViaModel = "model";
    public const string ViaAuto = "auto";
    public const string ViaOverride = "override";

    /// <summary>A <c>restrict</c> budget past its threshold sent the request to the <c>fast</c> profile.</summary>
    public const string ViaBudget = "budget";

    public RoutingConfig Config => source.Current;

    /// <summary>Decides for one request.</summary>
    /// <exception cref="GatewayException">400 for an unknown model or task header; 503 naming the profile when none of its models is available.</exception>
    public async ValueTask<RouteDecision> DecideAsync(ChatRequest request, IHeaderDictionary headers, ClientApp client, Caller? caller,
        string? sessionId, int estimatedInputTokens, CancellationToken ct)
    {
        var config = source.Current;
        var mode = config.ModeFor(caller);
        if (mode == RoutingModes.Off)
            return new RouteDecision(mode, null, null, null, null, await ResolveNamedAsync(request.Model, caller, ct), request, null);

        var classification = config.Rules.Classify(RequestFacts.From(request, headers, client, estimatedInputTokens));
        var (profile, via) = ChooseProfile(config, mode, request.Model, classification.Task);
        if (profile is null)
            return new RouteDecision(mode, classification, null, null, null, await ResolveNamedAsync(request.Model, caller, ct), request, null);

        var canary = config.CanaryOf(profile.Name);
        var variant = canary is null ? null : InCandidateCohort(canary, caller, sessionId) ? CanaryDefinition.Candidate : CanaryDefinition.Baseline;
        var first = variant == CanaryDefinition.Candidate ? canary!.Choice : profile.FirstChoice;
        var candidates = await ResolveProfileAsync(profile, first, request.Model, caller, ct);
        return new RouteDecision(mode, classification, profile, canary, variant, candidates, Apply(profile, request), via);
    }

    /// <summary>
    /// A <c>restrict</c> budget is past its threshold: the request goes to the <c>fast</c> profile whatever it asked for,
    /// whatever the routing mode (<c>via=budget</c> in <c>x-gapura-route</c>), with the task it was classified as. No canary:
    /// a restricted request is not a fair sample of either side. Unchanged when there is no <c>fast</c> profile.
    /// </summary>
    public async ValueTask<RouteDecision> RestrictAsync(RouteDecision decided, ChatRequest asked, IHeaderDictionary headers, ClientApp client, Caller? caller,
        int estimatedInputTokens, CancellationToken ct)
    {
        var config = source.Current;
        if (config.FindProfile(RoutingProfile.Fast) is not { } fast) return decided;
        var classification = decided.Classification ?? config.Rules.Classify(RequestFacts.From(asked, headers, client, estimatedInputTokens));
        var candidates = await ResolveProfileAsync(fast, fast.FirstChoice, asked.Model, caller, ct);
        return new RouteDecision(decided.Mode, classification, fast, null, null, candidates, Apply(fast, asked), ViaBudget);
    }

    /// <summary>
    /// The same decision as <see cref="DecideAsync"/>, for <c>POST /v1/route</c>: every rule evaluated with why it matched
    /// or not, and a failure to resolve reported rather than thrown. Calls no upstream.
    /// </summary>
    public async ValueTask<RouteExplanation> ExplainAsync(ChatRequest request, IHeaderDictionary headers, ClientApp client, Caller? caller,
        string? sessionId, int estimatedInputTokens, CancellationToken ct)
    {
        var config = source.Current;
        var mode = config.ModeFor(caller);
        IReadOnlyList<RuleEvaluation> rules = mode == RoutingModes.Off ? [] : config.Rules.Explain(RequestFacts.From(request, headers, client, estimatedInputTokens));
        try
        {
            return new RouteExplanation(mode, await DecideAsync(request, headers, client, caller, sessionId, estimatedInputTokens, ct), rules, null);
        }
        catch (GatewayException e)
        {
            return new RouteExplanation(mode, null, rules, e);
        }
    }

    /// <summary>
    /// Whether a model name would be served for this caller, as a chat request naming it would be (for endpoints that
    /// take a model but call no upstream, such as count_tokens): <c>auto</c> and profile names while routing is on, any
    /// name the catalogs resolve (family substitution included).
    /// </summary>
    /// <exception cref="GatewayException">400 for a name no upstream serves, 403 for a disabled one: what the chat request would get.</exception>
    public async ValueTask EnsureServableAsync(string model, Caller? caller, CancellationToken ct)
    {
        var config = source.Current;
        if (config.ModeFor(caller) != RoutingModes.Off
            && (model.Trim().Equals(RoutingModes.AutoModel, StringComparison.OrdinalIgnoreCase) || config.FindProfile(model.Trim()) is not null)) return;
        await ResolveNamedAsync(model, caller, ct);
    }

    /// <summary>
    /// A model the client named, served as named — and when no upstream offers that exact model but the name is of a
    /// known Claude family (<c>claude-opus-4-8</c>, <c>claude-sonnet-5-0-20270101</c>: clients move to new names faster
    /// than any table), the newest model of that family the caller's upstreams offer, else the nearest tier's profile
    /// (<c>primary</c> for Opus and Sonnet, <c>fast</c> for Haiku). The answer's <c>x-gapura-model</c> names the model that
    /// served; each substituted name is logged once.
    /// </summary>
    internal async ValueTask<IReadOnlyList<ResolvedModel>> ResolveNamedAsync(string model, Caller? caller, CancellationToken ct)
    {
        try
        {
            return await router.ResolveCandidatesAsync(model, caller, ct);
        }
        catch (GatewayException e) when (e.IsUnknownModel && ModelFamilies.Parse(model) is null)
        {
            throw await NotAvailableAsync(model, caller, e, ct);
        }
        catch (GatewayException e) when (e.Kind == ErrorKind.InvalidRequest && ModelFamilies.Parse(model) is { } version)
        {
            var slash = model.IndexOf('/');
            var provider = slash > 0 ? model[..slash] : null;
            IReadOnlyList<ResolvedModel> substitute;
            // A name that picks a provider ("bedrock/claude-sonnet-9") stays with that provider: never served elsewhere unasked.
            // The same version under another spelling (Bedrock's "anthropic.claude-sonnet-4-5-…-v1:0" for "claude-sonnet-4-5")
            // is that model, not a substitute; otherwise the newest of the family.
            var newest = ModelFamilies.SameVersion(model, (await router.ListAsync(caller, ct)).Where(m => provider is null || m.Provider.Equals(provider, StringComparison.OrdinalIgnoreCase)))
                         ?? await router.NewestOfFamilyAsync(version.Family, provider, caller, ct);
            if (newest is not null)
                substitute = await router.ResolveCandidatesAsync(provider is null ? newest.Id : $"{newest.Provider}/{newest.Id}", caller, ct);
            else if (provider is not null) throw;
            else
            {
                var tier = source.Current.FindProfile(version.Family == ModelFamilies.Haiku ? RoutingProfile.Fast : RoutingProfile.Primary);
                if (tier is null) throw await NotAvailableAsync(model, caller, e, ct);
                try { substitute = await ResolveProfileAsync(tier, tier.FirstChoice, model, caller, ct); }
                catch (GatewayException) { throw await NotAvailableAsync(model, caller, e, ct); }
            }
            if (_substitutionsLogged.Count < 1024 && _substitutionsLogged.TryAdd(model, 0))
                log.LogWarning("Model {Requested} is not offered; serving it with {Substitute} ({Provider}): the same version under another name, else the newest of its family the upstreams offer, else its tier's profile",
                    model, substitute[0].Model.Id, substitute[0].Model.Provider);
            return [.. substitute.Select(r => r with { RequestedName = model })];
        }
    }

    /// <summary>
    /// The 400 for a name nothing serves, listing the names this caller could type instead: each usable model as a client
    /// spells it (Kiro's and Bedrock's dotted Claude ids in Anthropic's dashed form, which resolves to them), then
    /// <c>auto</c> and the profile names while routing is on. A name that picks a provider keeps that provider's own
    /// error, as does a caller with no usable model at all (the catalog's error says how to connect one).
    /// </summary>
    private async ValueTask<GatewayException> NotAvailableAsync(string model, Caller? caller, GatewayException original, CancellationToken ct)
    {
        if (!original.IsUnknownModel || model.Contains('/')) return original;
        var names = new List<string>();
        var claude = false;
        foreach (var m in await router.ListAsync(caller, ct))
        {
            var name = ClientSpelling(m.Id);
            claude |= name.StartsWith("claude-", StringComparison.Ordinal);
            if (!names.Contains(name, StringComparer.OrdinalIgnoreCase)) names.Add(name);
        }
        if (names.Count == 0) return original;
        var config = source.Current;
        if (config.ModeFor(caller) != RoutingModes.Off)
            foreach (var name in (IEnumerable<string>)[RoutingModes.AutoModel, .. config.Profiles.Keys.Order(StringComparer.Ordinal)])
                if (!names.Contains(name, StringComparer.OrdinalIgnoreCase)) names.Add(name);
        const int Shown = 40;
        var list = string.Join(", ", names.Take(Shown)) + (names.Count > Shown ? $" and {names.Count - Shown} more" : "");
        var families = claude ? " Any claude-opus-*, claude-sonnet-* or claude-haiku-* name is served by the newest model of its family." : "";
        return GatewayException.BadRequest($"model: '{model}' is not available. Models you can use: {list}.{families} GET /v1/models lists them.");
    }

    /// <summary>A model id as a client would type it: <c>claude-sonnet-4.5</c> (Kiro) and <c>anthropic.claude-sonnet-4-5-…-v1:0</c> (Bedrock) become <c>claude-sonnet-4-5</c>.</summary>
    internal static string ClientSpelling(string id)
    {
        if (!id.Contains('.') || ModelFamilies.Parse(id) is not { } v) return id;
        return v.Minor == 0 ? $"claude-{v.Family}-{v.Major}" : $"claude-{v.Family}-{v.Major}-{v.Minor}";
    }

    /// <summary>The profile a request goes to, or null when it is served as named.</summary>
    internal static (RoutingProfile? Profile, string? Via) ChooseProfile(RoutingConfig config, string mode, string model, string task)
    {
        var name = model.Trim();
        if (name.Equals(RoutingModes.AutoModel, StringComparison.OrdinalIgnoreCase)) return (config.Profiles[config.Tasks[task]], ViaAuto);
        if (config.FindProfile(name) is { } named) return (named, ViaModel);
        if (mode == RoutingModes.Override) return (config.Profiles[config.Tasks[task]], ViaOverride);
        return (null, null);
    }

    /// <summary>
    /// The profile's models in order — <paramref name="first"/> (the profile's own model, or the canary's), then each
    /// fallback — every one resolved as a client's model name would be, duplicates dropped. A bare family name
    /// (<c>claude-sonnet</c>) is the newest model of that family the caller can reach; a name no catalog knows is matched
    /// by family and version (the seed's <c>claude-sonnet-4-0</c> is Kiro's <c>claude-sonnet-4</c>). A pinned provider
    /// is preferred: when it does not serve the model (or is not configured here), any upstream that does serves it.
    /// </summary>
    /// <exception cref="GatewayException">503 naming the profile when none of its models is available to the caller.</exception>
    internal async ValueTask<IReadOnlyList<ResolvedModel>> ResolveProfileAsync(RoutingProfile profile, string first, string requestedName, Caller? caller, CancellationToken ct)
    {
        var result = new List<ResolvedModel>(4);
        List<string>? missing = null;
        foreach (var choice in profile.Fallbacks.Count == 0 ? [first] : (IEnumerable<string>)[first, .. profile.Fallbacks])
        {
            try
            {
                foreach (var r in await ResolveChoiceAsync(choice, caller, ct))
                    if (!result.Exists(x => x.Model.Id == r.Model.Id && x.Model.Provider == r.Model.Provider))
                        result.Add(r with { RequestedName = requestedName });
            }
            catch (GatewayException e) when (e.Kind is ErrorKind.InvalidRequest or ErrorKind.PermissionDenied)
            {
                (missing ??= []).Add($"{choice}: {e.Message}");
            }
        }
        return result.Count > 0 ? result : throw new GatewayException(ErrorKind.UpstreamUnavailable,
            $"Routing profile '{profile.Name}': none of its models is available ({string.Join("; ", missing ?? [])}).", 503);
    }

    /// <summary>One model name of a profile → the catalogs' candidates for it (see <see cref="ResolveProfileAsync"/>).</summary>
    internal async ValueTask<IReadOnlyList<ResolvedModel>> ResolveChoiceAsync(string choice, Caller? caller, CancellationToken ct)
    {
        var (provider, model) = SplitProvider(choice);
        if (ModelFamilies.BareFamily(model) is { } family)
        {
            var newest = (provider is null ? null : await router.NewestOfFamilyAsync(family, provider, caller, ct))
                         ?? await router.NewestOfFamilyAsync(family, null, caller, ct)
                         ?? throw GatewayException.BadRequest($"no Claude {family} model is offered by the upstreams this caller can use.");
            // By id alone, so every upstream serving that id is a candidate, in the caller's provider order; pinned, that provider's first.
            var all = await router.ResolveCandidatesAsync(newest.Id, caller, ct);
            return provider is null || all.Count < 2 ? all : [.. all.OrderBy(r => r.Model.Provider.Equals(provider, StringComparison.OrdinalIgnoreCase) ? 0 : 1)];
        }
        if (provider is not null)
        {
            try { return await router.ResolveCandidatesAsync(choice, caller, ct); }
            catch (GatewayException e) when (e.Kind == ErrorKind.InvalidRequest) { /* the provider does not serve it here: any upstream may */ }
        }
        try
        {
            return await router.ResolveCandidatesAsync(model, caller, ct);
        }
        catch (GatewayException e) when (e.Kind == ErrorKind.InvalidRequest)
        {
            if (ModelFamilies.SameVersion(model, await router.ListAsync(caller, ct)) is { } same)
                return await router.ResolveCandidatesAsync(same.Id, caller, ct);
            throw;
        }
    }

    /// <summary>
    /// Refuses a model name no upstream offers (checked when a profile, fallback or canary is saved), naming the field.
    /// Resolved as a request would be, for no particular caller: every configured upstream counts.
    /// </summary>
    public async Task EnsureOfferedAsync(string choice, string field, CancellationToken ct)
    {
        try
        {
            await ResolveChoiceAsync(choice, null, ct);
        }
        catch (GatewayException e) when (e.Kind is ErrorKind.InvalidRequest)
        {
            throw new RoutingConfigException(field, $"{field}: no upstream of this gateway offers '{choice}' ({e.Message})");
        }
    }

    /// <summary>"anthropic/claude-sonnet-4-0" → (anthropic, claude-sonnet-4-0); a name without a slash has no provider.</summary>
    private static (string? Provider, string Model) SplitProvider(string choice)
    {
        var slash = choice.IndexOf('/');
        return slash > 0 ? (choice[..slash], choice[(slash + 1)..]) : (null, choice);
    }

    /// <summary>
    /// The profile's parameters: <c>maxTokens</c> fills in a missing max_tokens and caps a larger one (never below a
    /// thinking budget, which upstreams require to be under max_tokens); <c>temperature</c> applies when the client set
    /// none and is not asking for thinking (Anthropic allows only 1 with thinking).
    /// </summary>
    internal static ChatRequest Apply(RoutingProfile profile, ChatRequest request)
    {
        var max = request.MaxTokens;
        if (profile.MaxTokens is { } cap)
        {
            max = max is { } asked ? Math.Min(asked, cap) : cap;
            if (request.Thinking?.BudgetTokens is { } budget && max <= budget) max = request.MaxTokens ?? budget + 1;
        }
        var temperature = request.Temperature;
        if (temperature is null && profile.Temperature is { } t && request.Thinking is not { Mode: not ThinkingMode.Disabled }) temperature = t;
        return max == request.MaxTokens && temperature == request.Temperature ? request : request with { MaxTokens = max, Temperature = temperature };
    }

    /// <summary>
    /// Whether this caller's conversation is in the canary's share. Sticky: the same user and session (or key, when the
    /// client sends no session) always land on the same side, so a conversation never switches model; the profile and
    /// start time are mixed in so each canary draws its own cohort.
    /// </summary>
    internal static bool InCandidateCohort(CanaryDefinition canary, Caller? caller, string? sessionId)
    {
        if (canary.Percent <= 0) return false;
        if (canary.Percent >= 100) return true;
        var key = $"{canary.Profile}|{canary.StartedAt.ToUnixTimeSeconds()}|{caller?.UserId}|{sessionId ?? caller?.KeyId?.ToString() ?? ""}";
        var hash = XxHash3.HashToUInt64(MemoryMarshal.AsBytes(key.AsSpan()));
        return (int)(hash % 100) < canary.Percent;
    }

    /// <summary>Tool results in the latest user turn that report a failed call: the canary's tool-call failure signal.</summary>
    internal static int ToolErrors(ChatRequest request)
    {
        if (request.Messages.Count == 0 || request.Messages[^1] is not { Role: Role.User } last) return 0;
        var errors = 0;
        foreach (var block in last.Content) if (block is ToolResultBlock { IsError: true }) errors++;
        return errors;
    }
}
